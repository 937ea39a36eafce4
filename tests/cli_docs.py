"""docs/cli.md, made from every command's --help, and docs/training.md's table of settings,
made from TrainConfig's fields: `python tests/cli_docs.py` writes both, and
tests/test_docs.py fails when the files and the code disagree (as sqlite-utils does with
cog), so the reference never goes stale."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDTH = 100  # columns the help is wrapped at: the same on every machine
CPUS = 4  # limits that scale with the machine's CPUs (--threads, --workers) shown for this many

HEAD = """# Command reference

Every command's `--help`, as `sincos` prints it. The limits of `--threads` and `--workers`
follow the machine's CPUs: they are shown here for 4. This page is generated: run
`python tests/cli_docs.py` after changing a command (`tests/test_docs.py` fails until then).
"""


# Each command's narrative page: where its options are explained, not only listed.
PAGES = {"train": ("Training", "training.md"), "sweep": ("Studies", "sweeps.md"),
         "animate": ("Replay and use a model", "animate-predict.md"),
         "predict": ("Replay and use a model", "animate-predict.md"),
         "compare": ("Compare runs and keep the store", "compare-store.md"),
         "report": ("Sharing results", "report.md"),
         "show": ("Compare runs and keep the store", "compare-store.md"),
         "rm": ("Compare runs and keep the store", "compare-store.md"),
         "tag": ("Compare runs and keep the store", "compare-store.md"),
         "note": ("Compare runs and keep the store", "compare-store.md"),
         "baselines": ("Yardsticks", "baselines.md")}


def commands() -> list[str]:
    """The app's commands, in the order `sincos --help` lists them."""
    import typer

    from sincos_cli.cli import app

    group = typer.main.get_command(app)
    return list(group.list_commands(None))


def help_text(args: list[str]) -> str:
    from typer.testing import CliRunner

    from sincos_cli.cli import app

    res = CliRunner().invoke(app, [*args, "--help"], prog_name="sincos", terminal_width=WIDTH,
                             env={"COLUMNS": str(WIDTH), "NO_COLOR": "1"})
    if res.exit_code != 0:
        raise RuntimeError(f"sincos {' '.join(args)} --help failed: {res.output}")
    return "\n".join(line.rstrip() for line in res.output.strip().splitlines())


def render() -> str:
    parts = [HEAD, "## sincos", "", "```text", help_text([]), "```", ""]
    for name in commands():
        if name not in PAGES:
            raise RuntimeError(f"sincos {name} has no narrative page: add it to PAGES")
        title, page = PAGES[name]
        parts += [f"## sincos {name}", "", f"The manual: [{title}]({page}).", "", "```text",
                  help_text([name]), "```", ""]
    return "\n".join(parts)


def marks(name: str, source: str) -> tuple[str, str]:
    """The comments around a block of a page that is made from the code."""
    return (f"<!-- {name}: made from {source} by `python tests/cli_docs.py`; do not edit -->",
            f"<!-- {name}: end -->")


def settings_table() -> str:
    """Every setting of train and sweep: its flag, default, bound and help (TrainConfig)."""
    from sincos_cli.config import CHOICES, TrainConfig

    rows = ["| flag | default | takes | meaning |", "| --- | --- | --- | --- |"]
    for f in TrainConfig.options():
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        takes = ("\\|".join(CHOICES[f.name]) if f.name in CHOICES else
                 {"positive": "> 0", "nonneg": "≥ 0"}.get(f.metadata["bound"], "")
                 + (" (whole)" if TrainConfig.kind(f.name) == "int" else ""))
        default = str(f.default).lower() if isinstance(f.default, bool) else f"{f.default:g}" \
            if isinstance(f.default, float) else str(f.default)
        rows.append(f"| `{flag}` | {default} | {takes.strip()} | {f.metadata['help']} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    """Text in a Markdown table's cell: its pipes escaped."""
    return text.replace("|", "\\|")


def run_files_table() -> str:
    """A run folder's files and what each holds (store.runs.RUN_FILES), then the keys of
    its JSON files (their Document types)."""
    from sincos_cli.store.meta import Meta
    from sincos_cli.store.run_doc import RunDoc
    from sincos_cli.store.runs import RUN_FILES
    from sincos_cli.store.summary_doc import Summary

    rows = ["| file | what it holds |", "| --- | --- |"]
    rows += [f"| `{f.name}` | {_cell(f.what)} |" for f in RUN_FILES]
    return "\n".join(rows) + "\n\n" + keys_table(RunDoc, Summary, Meta)


def _type(t) -> str:
    return str(t).replace("|", "or").replace("Member", "member")


def keys_table(*classes) -> str:
    """A file's keys (and its nested entries'), with their types and meaning, from the
    fields of its Document types (store/document.py)."""
    out = []
    for cls in classes:
        out += [f"| {cls.SHOWN} | type | meaning |", "| --- | --- | --- |"]
        for f in cls.keys():
            when = " (written only when set)" if f.metadata["when_set"] else ""
            out.append(f"| `{f.name}` | {_type(f.type)} | {_cell(f.metadata['doc'])}{when} |")
        out.append("")
    out.append("Keys a newer sincos wrote that this one does not know are kept as they are "
               "when it rewrites the file.")
    return "\n".join(out)


def sweep_keys_table() -> str:
    """sweep.json's keys and a member entry's (SweepDoc, Member)."""
    from sincos_cli.store.sweep_doc import Member, SweepDoc

    return keys_table(SweepDoc, Member)


BLOCKS = {  # page: (block name, what it is made from, the function that makes it)
    "training.md": ("settings", "TrainConfig", settings_table),
    "run-folder.md": ("files", "store.runs.RUN_FILES and the file types", run_files_table),
    "sweeps.md": ("sweep.json", "store.sweep_doc.SweepDoc", sweep_keys_table),
}


def page(name: str, text: str) -> str:
    """A docs page with its made block made afresh."""
    block, source, make = BLOCKS[name]
    start, end = marks(block, source)
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{make()}\n{end}{tail}"


if __name__ == "__main__":
    # Before sincos is imported: its option limits read the CPU count once, at import.
    import os

    os.cpu_count = lambda: CPUS
    if sys.argv[1:] == ["--print"]:  # what the file should hold (tests/test_docs.py)
        sys.stdout.write(render())
    elif sys.argv[1:2] == ["--print-page"]:
        sys.stdout.write(page(sys.argv[2], (DOCS / sys.argv[2]).read_text()))
    else:
        (DOCS / "cli.md").write_text(render())
        for name in BLOCKS:
            (DOCS / name).write_text(page(name, (DOCS / name).read_text()))
        print(DOCS / "cli.md", *BLOCKS, file=sys.stderr)

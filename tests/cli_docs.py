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
         "note": ("Compare runs and keep the store", "compare-store.md")}


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


START, END = ("<!-- settings: made from TrainConfig by `python tests/cli_docs.py`; do not "
              "edit -->"), "<!-- settings: end -->"


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


def training_page(text: str) -> str:
    """docs/training.md with its settings block made afresh."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{settings_table()}\n{END}{tail}"


if __name__ == "__main__":
    # Before sincos is imported: its option limits read the CPU count once, at import.
    import os

    os.cpu_count = lambda: CPUS
    training = DOCS / "training.md"
    if sys.argv[1:] == ["--print"]:  # what the file should hold (tests/test_docs.py)
        sys.stdout.write(render())
    elif sys.argv[1:] == ["--print-training"]:
        sys.stdout.write(training_page(training.read_text()))
    else:
        (DOCS / "cli.md").write_text(render())
        training.write_text(training_page(training.read_text()))
        print(DOCS / "cli.md", training, file=sys.stderr)

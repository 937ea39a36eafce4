"""docs/cli.md, made from every command's --help: `python tests/cli_docs.py` writes it, and
tests/test_docs.py fails when the file and the commands disagree (as sqlite-utils does with
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


if __name__ == "__main__":
    # Before sincos is imported: its option limits read the CPU count once, at import.
    import os

    os.cpu_count = lambda: CPUS
    if sys.argv[1:] == ["--print"]:  # what the file should hold (tests/test_docs.py)
        sys.stdout.write(render())
    else:
        (DOCS / "cli.md").write_text(render())
        print(DOCS / "cli.md", file=sys.stderr)

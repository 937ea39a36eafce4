"""The manual as a site: docs/cli.md is what the commands' --help says today, and
`mkdocs build --strict` passes (no broken link, no page left out of the nav)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_reference_is_what_help_says():
    fresh = subprocess.run([sys.executable, str(ROOT / "tests" / "cli_docs.py"), "--print"],
                           capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert (ROOT / "docs" / "cli.md").read_text() == fresh, \
        "docs/cli.md is stale: run `python tests/cli_docs.py`"


def test_the_settings_table_is_what_trainconfig_says():
    """#35: a setting's default, bound and help are told once, in TrainConfig; train's and
    sweep's options and docs/training.md's table are made from it."""
    _made_block_is_fresh("training.md")
    from sincos_cli.commands.common import SETTINGS
    from sincos_cli.config import TrainConfig

    options = TrainConfig.options()
    assert list(SETTINGS) == [f.name for f in options]
    for f in options:
        default = SETTINGS[f.name][1]
        assert getattr(default, "value", default) == f.default, f.name


def _made_block_is_fresh(name: str) -> None:
    fresh = subprocess.run([sys.executable, str(ROOT / "tests" / "cli_docs.py"),
                            "--print-page", name], capture_output=True, text=True, check=True,
                           cwd=ROOT).stdout
    assert (ROOT / "docs" / name).read_text() == fresh, \
        f"docs/{name} is stale: run `python tests/cli_docs.py`"


@pytest.mark.parametrize("name", ["run-folder.md", "sweeps.md"])
def test_the_folder_reference_is_what_the_types_say(name):
    """#35: the run folder's file list (store.runs.RUN_FILES) and sweep.json's keys
    (SweepDoc, Member) are made from the code and checked here."""
    _made_block_is_fresh(name)


def test_every_command_links_its_narrative_page():
    sys.path.insert(0, str(ROOT / "tests"))
    from cli_docs import PAGES, commands

    assert set(commands()) == set(PAGES)
    for _, page in PAGES.values():
        assert (ROOT / "docs" / page).is_file(), page


def test_the_site_builds_strict(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    out = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    pages = {p.parent.name for p in tmp_path.glob("*/index.html")}
    assert {"training", "sweeps", "cli", "findings", "performance"} <= pages
    assert "Successive halving" in (tmp_path / "sweeps" / "index.html").read_text()

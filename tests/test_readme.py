"""The README's quick start and .ci/run must say the same two commands."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(("python3 -m venv", ".venv/bin/"))]


def test_ci_runs_the_readme_commands():
    readme = _commands((ROOT / "README.md").read_text())
    ci = _commands((ROOT / ".ci" / "run").read_text())
    assert len(readme) == 2 and readme == ci
    assert "sincos train --steps 501" in readme[0] and "pytest" in readme[1]


def test_ruff_is_clean():
    """Lint, including TID253: no module-level torch/numpy/matplotlib outside heavy modules."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    out = subprocess.run([ruff, "check", "--output-format", "concise", str(ROOT)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout

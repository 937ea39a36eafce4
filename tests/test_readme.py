"""The README and the manual: .ci/run says the quick start's two commands, and every example
in the README and docs/ works in order."""

from pathlib import Path

import pytest

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


# -- the README's examples, followed in order ---------------------------------------------------

SKIP = {"--cluster": "needs a Dask cluster (tests/test_sweep_dask.py starts one)",
        "--live": "needs a display or a terminal (tests/test_live.py)",
        "completion": "changes the shell's files",
        "python3 -m venv": "the install itself: .ci/run runs it"}


def readme_examples(text: str) -> list[str]:
    """Every shell command in the README's code blocks, in order, continuations joined."""
    out, lines, fenced, block = [], text.splitlines(), None, []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            if fenced == "python":  # run as a script, where it stands
                out.append("python - <<'PY'\n" + "\n".join(block) + "\nPY")
            fenced = None if fenced is not None else ln[3:].strip()
            block = []
            i += 1
            continue
        if fenced == "python":
            block.append(ln)
            i += 1
            continue
        code = (fenced == "sh" and ln) or (fenced is None and ln.startswith("    ") and ln[4:])
        if code:
            while code.endswith("\\") and i + 1 < len(lines):
                i += 1
                code = code[:-1] + " " + lines[i].strip()
            if code.startswith(("sincos ", "RUN=", "SW=", "for ", "python -c", "python3 ")):
                out.append(code)
        i += 1
    return out


def shorter(cmd: str) -> str:
    """The same command with few steps and seeds, so the whole README runs in a minute."""
    import re

    cmd = re.sub(r"--steps \d+", "--steps 12", cmd)
    cmd = re.sub(r"--warmup-steps \d+", "--warmup-steps 2", cmd)  # a rung after warm-up
    cmd = re.sub(r"--holdout-seeds (\d+)-\d+", r"--holdout-seeds \1-\1", cmd)
    # at most the range's first 3 seeds (a range still: `--seeds 501` would be a count)
    cmd = re.sub(r"--seeds (\d+)-(\d+)",
                 lambda m: f"--seeds {m[1]}-{min(int(m[2]), int(m[1]) + 2)}", cmd)
    cmd = re.sub(r"(sincos (?:train|sweep))(?![^|;]*--(?:steps|resume))", r"\1 --steps 12", cmd)
    if "--until-decided" in cmd:  # rounds of 1, 2, 4 and 8 seeds, not up to 200
        cmd = re.sub(r" --max-seeds \d+", "", cmd).replace("--until-decided",
                                                           "--until-decided --max-seeds 8")
    return cmd.replace("pip install -e '.[dev]' && ", "")


def manual() -> list[Path]:
    """The README, then the docs pages in the site's order (mkdocs.yml's nav)."""
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [ROOT / "README.md", *(ROOT / "docs" / next(iter(e.values())) for e in nav)]


def test_the_manual_lists_every_page_in_the_readme_and_the_site():
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {p.name for p in manual()[1:]} == pages
    readme = (ROOT / "README.md").read_text()
    assert all(f"docs/{p}" in readme for p in pages - {"index.md"})
    assert len(readme.splitlines()) <= 150


@pytest.mark.slow
def test_the_readme_examples_work_in_order(tmp_path):
    """A newcomer's path: every example, the README's then the manual's pages in the site's
    order, in a fresh folder."""
    import os
    import shutil
    import subprocess
    import sys

    if not shutil.which("jq"):
        import pytest

        pytest.skip("jq is not installed (.ci/run installs it)")
    text = "\n".join(p.read_text() for p in manual())
    cmds = [c for c in readme_examples(text) if not any(k in c for k in SKIP)]
    assert len(cmds) > 50
    script = ["set -o pipefail", "cd " + str(tmp_path)]
    for n, c in enumerate(cmds):
        script += [shorter(c), f"echo \"@@ {n} $?\" >&2"]
    env = {k: v for k, v in os.environ.items() if k != "SINCOS_RUNS_DIR"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    out = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True,
                         env=env, timeout=600)
    codes = {}
    for ln in out.stderr.splitlines():
        if ln.startswith("@@ "):
            n, rc = map(int, ln[3:].split())
            codes[n] = rc
    assert len(codes) == len(cmds), out.stderr[-2000:]
    failed = [(cmds[n], rc) for n, rc in codes.items() if rc != 0]
    assert not failed, (failed, out.stderr[-3000:])

"""Folders from someone else are data, never commands (CONVENTIONS.md, "Folders from someone
else"): rm removes only what it selected, inside its runs dir and never through a symlink;
the terminal and the HTML report show a folder's text and never act on it; tags survive
concurrent writers; resume never writes through a symlink; an id a sweep names stays its.
Every test goes through the real CLI."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import in_process, read, sincos, small

SMALL20 = small(20, hidden=6)
# what a hostile folder says: terminal escapes (title, clear screen, bell, C1, a bidi
# override), markup and script
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\r\b\x9b31m\u202eevil"
MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
PAYLOAD = ESCAPES + MARKUP


@pytest.fixture(scope="module")
def store_once(tmp_path_factory):
    """A sweep (run-01, run-02) and a run of its own (run-03)."""
    root = tmp_path_factory.mktemp("hostile") / "runs"
    for args in (("sweep", *SMALL20, "--seeds", "1-2", "-q"), ("train", *SMALL20, "-q")):
        out = sincos(*args, "--runs-dir", root)
        assert out.returncode == 0, out.stderr
    return root


@pytest.fixture
def store(store_once, runs_dir):
    shutil.copytree(store_once, runs_dir)
    return runs_dir


def listing(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def write(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


def raw_free(text: str) -> None:
    """Nothing that a terminal acts on: no ESC, BEL, CR, BS, C1 or bidi override."""
    for c in "\x1b\x07\r\b\x9b\u202e":
        assert c not in text, (c, text[:200])


# -- rm -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_rm_by_path_never_removes_a_symlinks_target_or_outside_the_runs_dir(store, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(store / "run-03", outside / "run-03")
    (store / "link").symlink_to(outside / "run-03")
    for args in (["--dry-run"], ["--yes"]):
        out = in_process("rm", f"{store}/link", *args)
        assert out.returncode == 2 and "is a symlink" in out.stderr, out.stderr
        assert "run-03" not in out.stdout
        out = in_process("rm", str(outside / "run-03"), *args)
        assert out.returncode == 2 and "not in the runs dir" in out.stderr, out.stderr
    assert (outside / "run-03" / "run.json").is_file() and (store / "link").is_symlink()
    # a path inside the runs dir is fine
    out = in_process("rm", f"{store}/run-03/", "--yes")
    assert out.returncode == 0, out.stderr
    assert "run-03" not in listing(store) and (outside / "run-03").is_dir()


def test_a_symlinked_sweep_is_refused_and_the_runs_beside_it_stay(store, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(store, other)
    (store / "sweep-02").symlink_to(other / "sweep-01")
    before = listing(store)
    out = in_process("rm", "sweep-02", "--yes")
    assert out.returncode == 2 and "sweep-02 is a symlink" in out.stderr, out.stderr
    assert listing(store) == before and listing(other) == before[:-1]


def test_a_run_a_sweep_names_but_that_is_not_its_member_is_kept(store):
    doc = read(store / "sweep-01" / "sweep.json")
    doc["members"].append({**doc["members"][0], "run": "run-03"})
    write(store / "sweep-01" / "sweep.json", doc)
    out = in_process("rm", "sweep-01", "--dry-run")
    assert out.stdout.split() == ["run-01", "run-02", "sweep-01"]
    assert "kept run-03: its run.json names no sweep, not sweep-01" in out.stderr
    out = in_process("rm", "sweep-01", "--yes")
    assert out.returncode == 0, out.stderr
    assert listing(store) == ["run-03"]


def test_a_member_that_is_a_plain_file_is_named_and_kept(store):
    shutil.rmtree(store / "run-02")
    (store / "run-02").write_text("not a run")
    out = in_process("rm", "sweep-01", "--yes")
    assert out.returncode == 0, out.stderr
    assert "kept run-02: not a run folder" in out.stderr
    assert "removed 1 run and 1 sweep" in out.stderr
    assert listing(store) == ["run-02", "run-03"]  # no .rm-* left behind


def test_resume_and_report_name_a_member_that_is_a_plain_file(store, tmp_path):
    shutil.rmtree(store / "run-02")
    (store / "run-02").write_text("not a run")
    out = sincos("sweep", "--resume", "sweep-01", "-q")
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "run-02: it is a file, not a run folder" in out.stderr
    page = tmp_path / "sweep.html"
    out = sincos("report", "sweep-01", "--animation", "none", "--out", page, timeout=180)
    assert out.returncode == 0, out.stderr
    html = page.read_text()
    assert 'id="groups-table"' in html and "cannot be shown" not in html


def test_rm_checks_the_lock_at_the_rename_not_only_when_it_plans(store):
    """On a terminal rm asks; a resume that starts while the question is on screen holds the
    run's lock, and the `y` that follows removes nothing under it."""
    import fcntl

    master, slave = pty.openpty()
    p = subprocess.Popen([shutil.which("sincos", path=os.path.dirname(sys.executable)),
                          "rm", "run-03"], stdin=slave, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    os.close(slave)
    try:
        deadline = time.monotonic() + 60
        while not _prompted(p):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.05)
        fd = os.open(store / "run-03" / ".lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a resume began
        try:
            os.write(master, b"y\n")
            out, err = p.communicate(timeout=60)
        finally:
            os.close(fd)
    finally:
        os.close(master)
    assert p.returncode == 0, err
    assert "kept run-03: it started running since" in err
    assert (store / "run-03" / "run.json").is_file()


def _prompted(p: subprocess.Popen) -> bool:
    """rm has planned and waits on its question: blocked in read(2) on its stdin."""
    try:
        with open(f"/proc/{p.pid}/syscall") as f:
            return f.read().split()[:2] == ["0", "0x0"]  # read, fd 0 (x86-64)
    except OSError:
        return False


def test_rm_purges_only_its_own_leftovers_in_the_runs_dir(store, tmp_path):
    (store / ".rm-old-photos").mkdir()
    (store / ".rm-old-photos" / "a.jpg").write_text("x")
    (store / ".rm-999999-run-09").mkdir()  # a removal killed with -9 left this
    (store / ".rm-999998-run-08").write_text("x")  # and this, once a plain file
    out = in_process("rm", "--status", "crashed", "--dry-run")
    assert "would finish the removal of .rm-999999-run-09" in out.stderr
    assert (store / ".rm-999999-run-09").exists()
    out = in_process("rm", "--status", "crashed", "--yes")  # nothing to remove: still finishes
    assert out.returncode == 0 and "Nothing to remove" in out.stderr
    assert listing(store) == [".rm-old-photos", "run-01", "run-02", "run-03", "sweep-01"]


def test_rm_refuses_what_runs_on_another_host(store):
    run = read(store / "run-03" / "run.json")
    write(store / "run-03" / "run.json", {**run, "status": "running", "host": "node-7",
                                          "pid": 4242})
    out = in_process("rm", "run-03", "--yes")
    assert out.returncode == 2 and "running on node-7 (pid 4242)" in out.stderr, out.stderr
    doc = read(store / "sweep-01" / "sweep.json")
    write(store / "sweep-01" / "sweep.json", {**doc, "status": "running", "host": "node-7"})
    out = in_process("rm", "sweep-01", "--yes")
    assert out.returncode == 2 and "node-7" in out.stderr, out.stderr
    assert listing(store) == ["run-01", "run-02", "run-03", "sweep-01"]


def test_names_from_a_folder_reach_the_terminal_escaped(store):
    bad = "run-\x1b]0;pwned\x07\u202e"
    shutil.copytree(store / "run-03", store / bad)
    for args in (["rm", "--status", "completed", "--dry-run"], ["compare", "--flat"],
                 ["compare"]):
        out = sincos(*args)
        assert out.returncode == 0, out.stderr
        raw_free(out.stdout + out.stderr)
        assert "run-\\x1b]0;pwned\\x07\\u202e" in out.stdout, (args, out.stdout)
    # JSON keeps the exact name
    rows = json.loads(in_process("compare", "--flat", "--json").stdout)
    assert bad in [r["id"] for r in rows]
    out = in_process("tag", f"{store}/{bad}", "+x")
    assert out.returncode == 0 and out.stdout == "run-\\x1b]0;pwned\\x07\\u202e\tx\n"


# -- show, compare: values --------------------------------------------------------------------

def test_show_and_compare_print_a_folders_text_visibly_escaped(store):
    run = read(store / "run-03" / "run.json")
    write(store / "run-03" / "run.json", {**run, "status": "failed", "error": PAYLOAD,
                                          "host": PAYLOAD, "argv": [PAYLOAD]})
    write(store / "run-03" / "meta.json", {"tags": [], "note": PAYLOAD})
    config = read(store / "run-03" / "config.json")
    write(store / "run-03" / "config.json", {**config, "task": PAYLOAD})
    out = in_process("show", "run-03")
    assert out.returncode == 0, out.stderr
    raw_free(out.stdout)
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x08\\x9b31m\\u202eevil<img" in out.stdout
    out = in_process("compare", "--all")
    raw_free(out.stdout + out.stderr)
    assert "\\x1b]0;pwned" in out.stdout
    js = json.loads(in_process("show", "run-03", "--json").stdout)
    assert js["note"] == PAYLOAD and js["error"] == PAYLOAD  # JSON: the exact text


def _rounds_of(text: str, word: str = "better") -> dict:
    """sweep.json's record of `--until-decided`, with `text` in every field that is free
    text (the rule, the points' keys and values) and `word` as each decision."""
    point = {text: text}
    return {"alpha": 0.05, "max_seeds": 24, "reference": point, "comparisons": 1,
            "looks": [6, 12], "tested": [12], "level": 0.05, "rule": text,
            "outcome": "decided", "rounds": [{"n": 6, "seeds": [1], "points": [point],
                                              "results": [
                {"point": point, "shared": 6, "ratio": 0.5, "ratio_ci": [0.1, 0.9],
                 "decision": word, "tested": True}]}]}


def test_show_prints_a_sweeps_rounds_visibly_escaped(store):
    doc = read(store / "sweep-01" / "sweep.json")
    write(store / "sweep-01" / "sweep.json", {**doc, "until_decided": _rounds_of(PAYLOAD)})
    out = in_process("show", "sweep-01")
    assert out.returncode == 0, out.stderr
    raw_free(out.stdout)
    assert "round 1 (6 seeds): \\x1b]0;pwned" in out.stdout
    assert "0.5x [0.1, 0.9] better" in out.stdout
    # a decision is one of three words: anything else is named, escaped, in one line
    write(store / "sweep-01" / "sweep.json",
          {**doc, "until_decided": _rounds_of(PAYLOAD, word=PAYLOAD)})
    out = in_process("show", "sweep-01")
    assert out.returncode == 1 and "round 1's result 1" in out.stderr
    raw_free(out.stderr)


# -- tags and notes ---------------------------------------------------------------------------

@pytest.mark.slow
def test_twenty_concurrent_taggers_lose_no_tag(store):
    procs = [subprocess.Popen([shutil.which("sincos", path=os.path.dirname(sys.executable)),
                               "tag", "run-03", f"+t{i}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for i in range(20)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 20
    assert sorted(read(store / "run-03" / "meta.json")["tags"]) == sorted(
        f"t{i}" for i in range(20))


def test_a_damaged_meta_json_is_shown_and_never_written_over(store):
    (store / "run-03" / "meta.json").write_text('{"tags": ["keep"], "note": "mine"')
    out = in_process("show", "run-03")
    assert out.returncode == 0 and "meta      damaged:" in out.stdout, out.stdout
    assert "meta.json is not valid JSON" in out.stdout or "meta.json" in out.stdout
    for args in (["tag", "run-03", "+x"], ["note", "run-03", "new"]):
        out = sincos(*args)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert "meta.json" in out.stderr and "kept as they are" in out.stderr
    assert (store / "run-03" / "meta.json").read_text() == '{"tags": ["keep"], "note": "mine"'
    assert json.loads(in_process("show", "run-03", "--json").stdout)["meta_problem"]


# -- the Python API ----------------------------------------------------------------------------

def test_the_api_reports_one_damaged_item_and_returns_the_rest(store):
    from sincos_cli import api

    shutil.copytree(store / "sweep-01", store / "sweep-02")
    (store / "sweep-02" / "sweep.json").write_text("{")
    sweeps = api.sweeps(store)
    assert [s["id"] for s in sweeps] == ["sweep-01", "sweep-02"]
    assert sweeps[0]["status"] == "completed" and sweeps[1]["status"] == "corrupt"
    summary = read(store / "run-03" / "summary.json")
    write(store / "run-03" / "summary.json", {**summary, "eval_mse": "lots"})
    assert repr(api.run("run-03", store)) == "<Run 'run-03' completed>"


# -- resume, ids, predict ----------------------------------------------------------------------

@pytest.mark.slow
def test_resume_never_writes_through_a_symlink_in_the_run_folder(trained_copy, tmp_path):
    victim = tmp_path / "notes.txt"
    victim.write_text("".join(f"line {i}\n" for i in range(500)))
    for name in ("metrics.jsonl", "trace.bin"):
        path = trained_copy / name
        keep = path.read_bytes()
        path.unlink()
        path.symlink_to(victim)
        out = sincos("train", "--resume", trained_copy.name, "--steps", "60", "-q")
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert f"{name} is a symlink" in out.stderr
        assert victim.read_text().count("\n") == 500
        path.unlink()
        path.write_bytes(keep)
    assert read(trained_copy / "run.json")["status"] == "completed"
    assert sincos("train", "--resume", trained_copy.name, "--steps", "60", "-q").returncode == 0


@pytest.mark.slow
def test_an_id_a_sweep_names_is_never_given_to_another_run(store):
    assert in_process("rm", "run-02", "--yes").returncode == 0  # a hole the resume fills
    shutil.rmtree(store / "run-03")
    out = in_process("train", *SMALL20, "--seed", "777", "-q")
    assert out.returncode == 0 and out.stdout.strip() == "run-03", out.stdout
    out = in_process("train", *SMALL20, "--name", "run-02", "-q")
    assert out.returncode == 1 and "named by a sweep" in out.stderr
    doc = json.loads(in_process("show", "sweep-01", "--json").stdout)
    assert doc["missing"] == ["run-02"]
    # a foreign run put in a member's place is no member: not counted, not removed
    shutil.copytree(store / "run-03", store / "run-02")
    doc = json.loads(in_process("show", "sweep-01", "--json").stdout)
    assert doc["missing"] == ["run-02"] and doc["by_status"] == {"completed": 1, "missing": 1}
    rows = json.loads(in_process("compare", "sweep-01", "--flat", "--json").stdout)
    assert [r["id"] for r in rows] == ["run-01"]
    assert in_process("rm", "sweep-01", "--yes").returncode == 0
    assert listing(store) == ["run-02", "run-03"]


@pytest.mark.slow
def test_predict_on_a_model_too_big_for_memory_is_one_line(trained_copy):
    config = read(trained_copy / "config.json")
    write(trained_copy / "config.json", {**config, "hidden": 200000})
    out = sincos("predict", trained_copy.name, "--points", "5")
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "hidden 200000" in out.stderr and "memory" in out.stderr


# -- the HTML report ---------------------------------------------------------------------------

def _plant(run: Path, name: str) -> None:
    """The payload in every key and value a run folder can carry."""
    for fname in ("run.json", "summary.json", "config.json"):
        doc = read(run / fname)
        doc[name] = name
        for k, v in list(doc.items()):
            if isinstance(v, str) and k not in ("status", "sweep", "created", "ended", "id"):
                doc[k] = name
        write(run / fname, doc)
    run_doc = read(run / "run.json")
    write(run / "run.json", {**run_doc, "status": "failed", "error": name, "argv": [name],
                             "host": name})
    write(run / "meta.json", {"tags": [name], "note": name + " \udcff"})


@pytest.mark.browser
def test_a_report_shows_every_planted_text_and_runs_no_script(store, tmp_path):
    from browser import Browser, chromium
    from test_report import self_contained

    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium package)")
    name = f"run-{MARKUP.replace('/', '')}"
    shutil.copytree(store / "run-03", store / name)
    _plant(store / name, PAYLOAD.replace("/", ""))
    for member in ("run-01", "run-02"):  # a grid key and value, a rung, in the sweep
        _plant(store / member, PAYLOAD)
        run_doc = read(store / member / "run.json")
        write(store / member / "run.json", {**run_doc, "sweep": "sweep-01",
                                            "status": "completed", "error": None})
    doc = read(store / "sweep-01" / "sweep.json")
    doc["grid"] = {MARKUP: [MARKUP]}
    doc["argv"] = [PAYLOAD]
    for m in doc["members"]:
        m["point"] = {MARKUP: MARKUP}
    doc["halving"] = {"eta": MARKUP, "rule": MARKUP, "rungs": [MARKUP], "history": [
        {"step": MARKUP, "points": [{"rank": 1, "point": {MARKUP: MARKUP}, "score": None,
                                     "kept": False}]}]}
    doc["until_decided"] = _rounds_of(MARKUP)
    write(store / "sweep-01" / "sweep.json", doc)
    pages = []
    for i, args in enumerate(([f"{store}/{name}"], ["sweep-01"], ["run-01", f"{store}/{name}"])):
        out = sincos("report", *args, "--animation", "still", "--out", tmp_path / f"p{i}.html",
                     timeout=180)
        assert out.returncode == 0, out.stderr
        raw_free(out.stdout + out.stderr)
        html = (tmp_path / f"p{i}.html").read_text()
        assert "<script>window.__pwned" not in html and "<img src=x" not in html
        self_contained(html)
        pages.append(tmp_path / f"p{i}.html")
    with Browser(exe) as b:
        for page in pages:
            b.open(page)
            assert b.js("window.__pwned === undefined"), page
            text = b.js("document.body.textContent")
            assert MARKUP.replace("/", "") in text or MARKUP in text, page
            assert b.requests() == []

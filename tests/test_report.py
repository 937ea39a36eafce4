"""`sincos report`: one self-contained HTML page, checked as a file and in a real headless
Chromium (tests/browser.py) with the network cut.

Screenshots are kept as artifacts of the test run under tests/artifacts/ (not committed;
SINCOS_TEST_ARTIFACTS moves them).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import Browser, chromium
from conftest import TINY, descendants, gone, in_process, sincos, stdout_a_terminal

ARTIFACTS = Path(os.environ.get("SINCOS_TEST_ARTIFACTS",
                                Path(__file__).parent / "artifacts"))
SWEEP = ["--seeds", "1-4", "--set", "lr=0.003,0.01", *TINY[:8], "--quiet"]


# -- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """A finished 2-point × 4-seed sweep and a halving sweep, made once, read only."""
    root = tmp_path_factory.mktemp("study") / "runs"
    made = sincos("sweep", *SWEEP, "--runs-dir", root)
    assert made.returncode == 0, made.stderr
    made = sincos("sweep", "--seeds", "1-2", "--set", "lr=0.002,0.004,0.008", *TINY[:8],
                  "--halving", "--first-rung", "10", "--quiet", "--runs-dir", root)
    assert made.returncode == 0, made.stderr
    return root


@pytest.fixture(scope="session")
def browser():
    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium package)")
    with Browser(exe) as b:
        yield b


def report(*args, root: Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    out = sincos("report", *args, "--runs-dir", root, cwd=cwd, timeout=180)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


class Page(HTMLParser):
    """Every tag with its attributes, and the text, of an HTML file."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def images(self) -> list[tuple[str, bytes]]:
        out = []
        for tag, a in self.tags:
            if tag == "img":
                mime, _, data = a["src"].removeprefix("data:").partition(";base64,")
                out.append((mime, base64.b64decode(data)))
        return out


def self_contained(html: str) -> None:
    """Nothing that the page would fetch: every src and href a data URI or an anchor, no
    <link>, no CSS url() or @import."""
    page = Page(html)
    for tag, a in page.tags:
        assert tag not in ("link", "iframe", "object", "embed"), tag
        for attr in ("src", "href", "srcset", "poster", "data"):
            if attr in a and not (tag == "td" and attr == "data"):
                assert a[attr].startswith(("data:", "#")), (tag, attr, a[attr][:60])
    assert "@import" not in html and not re.search(r"url\((?!data:)", html)
    assert not re.search(r"<script[^>]+src=", html)


def load(browser: Browser, path: Path, name: str, width: int = 1280) -> None:
    """Open the page at a width, check it as a reader would get it, and keep a screenshot:
    no console error, no request, every image decoded."""
    browser.events.clear()
    browser.viewport(width, 900, mobile=width < 600)
    browser.open(path)
    images = browser.js("Promise.all(Array.from(document.images).map(i => i.decode().then("
                        "() => [i.naturalWidth, i.naturalHeight], e => String(e))))")
    assert images and all(isinstance(i, list) and i[0] > 0 and i[1] > 0 for i in images), \
        images
    assert browser.errors() == []
    assert browser.requests() == []
    browser.screenshot(ARTIFACTS / f"{name}-{width}.png")


def table(browser: Browser, id: str) -> list[dict]:
    """A table as {header: [shown text, data-v]} rows, from the live DOM."""
    return browser.js(f"""(function () {{
        var t = document.getElementById({json.dumps(id)});
        var heads = Array.from(t.tHead.rows[0].cells).map(c => c.textContent.trim());
        return Array.from(t.tBodies[0].rows).map(r => {{
            var o = {{}};
            Array.from(r.cells).forEach((c, i) => {{
                o[heads[i]] = [c.textContent.trim(), c.getAttribute("data-v")];
            }});
            return o;
        }});
    }})()""")


def num(v):
    return None if v is None else json.loads(v)


# -- a run --------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_page_holds_its_header_settings_curves_prediction_and_replay(
        trained_copy, runs_dir, tmp_path, browser):
    out = report(trained_copy.name, root=runs_dir, cwd=tmp_path)
    path = tmp_path / f"report-{trained_copy.name}.html"
    assert out.stdout == f"{path.name}\n" and path.is_file()
    html = path.read_text()
    self_contained(html)
    page = Page(html)
    text = " ".join(page.text)
    show = json.loads(in_process("show", trained_copy.name, "--json", "--runs-dir",
                                 runs_dir).stdout)
    assert show["reproduce"] in text  # the command that trains it again
    for title in ("Summary", "Settings", "Loss and learning rate", "Prediction past training",
                  "Training replay"):
        assert f">{title}</h2>" in html, title
    # the pictures: two SVG figures and the GIF of every traced step
    from PIL import Image

    kinds = [mime for mime, _ in page.images()]
    assert kinds == ["image/svg+xml", "image/svg+xml", "image/gif"]
    gif = Image.open(io.BytesIO(page.images()[2][1]))
    assert gif.n_frames == show["summary"]["steps"] == 40
    svg = page.images()[0][1].decode()
    assert "learning rate" in svg and "training loss" in svg  # text kept as text
    assert ">Inside the network</h2>" in html and "--record-internals" in text  # how to

    load(browser, path, "run")
    # the settings off their defaults are marked, the rest are not
    rows = {r["setting"][0]: r for r in table(browser, "settings-table")}
    marked = {k for k, r in rows.items() if r["off default"][0]}
    assert marked == set(show["off_defaults"]) == {"steps", "batch_size", "time_steps",
                                                   "hidden"}
    assert browser.js("document.querySelectorAll('#settings-table tr.changed').length") == 4
    summary = {r["result"][0]: num(r["value"][1]) for r in table(browser, "summary-table")}
    assert summary["eval_mse"] == show["summary"]["eval_mse"]
    assert summary["final_loss"] == show["summary"]["final_loss"]
    # a phone's width: nothing wider than the screen but the tables' own scroll boxes
    load(browser, path, "run", width=390)
    assert browser.js("document.documentElement.scrollWidth") <= 390


def test_a_run_with_its_internals_shows_them(runs_dir, tmp_path, browser):
    """#36: a run trained with --record-internals has its gates and states on its page:
    the last recorded step, as animate --internals draws it, 800 pixels wide."""
    made = sincos("train", *TINY, "--steps", "12", "--record-internals", "-q",
                  "--runs-dir", runs_dir)
    assert made.returncode == 0, made.stderr
    report("run-01", "--animation", "none", "--out", "i.html", root=runs_dir, cwd=tmp_path)
    html = (tmp_path / "i.html").read_text()
    self_contained(html)
    assert [m for m, _ in Page(html).images()][-1] == "image/png"
    load(browser, tmp_path / "i.html", "run-internals")
    size = browser.js("(function () { var i = document.querySelector('#internals img');"
                      " return [i.naturalWidth, i.naturalHeight]; })()")
    assert size == [800, 466]
    assert "Step 12, the last recorded" in browser.js(
        "document.querySelector('#internals').textContent")


@pytest.mark.slow
def test_a_still_frame_instead_of_the_gif_keeps_the_page_small(trained_copy, runs_dir,
                                                               tmp_path):
    report(trained_copy.name, "--animation", "still", "--out", "s.html", root=runs_dir,
           cwd=tmp_path)
    report(trained_copy.name, "--animation", "none", "--out", "n.html", root=runs_dir,
           cwd=tmp_path)
    still = Page((tmp_path / "s.html").read_text()).images()
    assert [m for m, _ in still] == ["image/svg+xml", "image/svg+xml", "image/png"]
    from PIL import Image

    assert Image.open(io.BytesIO(still[2][1])).size == (640, 480)  # animate's frame
    assert len(Page((tmp_path / "n.html").read_text()).images()) == 2
    assert (tmp_path / "s.html").stat().st_size < 200_000


@pytest.mark.slow
def test_a_damaged_run_shows_as_damaged_and_the_rest_is_written(trained_copy, runs_dir,
                                                                tmp_path, browser):
    (trained_copy / "config.json").write_text('{"steps": ')
    (trained_copy / "trace.bin").write_bytes(b"\0" * 7)
    out = report(trained_copy.name, "--out", "d.html", root=runs_dir, cwd=tmp_path)
    warnings = out.stderr.splitlines()
    assert warnings and all(w.startswith("warning: ") for w in warnings), out.stderr
    assert "Traceback" not in out.stderr
    html = (tmp_path / "d.html").read_text()
    assert "⚠&nbsp;corrupt" in html and "config.json is not valid JSON" in html
    assert "The settings cannot be shown" in html and "The replay cannot be shown" in html
    assert "The prediction cannot be shown: " in html  # from its own process, in one line
    load(browser, tmp_path / "d.html", "damaged-run")
    # what could be read still is: the loss curve and the summary
    summary = {r["result"][0]: num(r["value"][1]) for r in table(browser, "summary-table")}
    assert summary["eval_mse"] is not None
    assert browser.js("document.images.length") == 1


# -- a sweep ------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_sweep_page_holds_compares_numbers(study, tmp_path, browser):
    report("sweep-01", root=study, cwd=tmp_path)
    path = tmp_path / "report-sweep-01.html"
    self_contained(path.read_text())
    load(browser, path, "sweep")
    groups = json.loads(in_process("compare", "sweep-01", "--json", "--runs-dir", study).stdout)
    shown = table(browser, "groups-table")
    assert len(shown) == len(groups) == 2
    for g, row in zip(groups, shown):
        assert num(row["lr"][1]) == g["lr"] and num(row["n"][1]) == g["n"] == 4
        assert row["ok"][0].startswith(g["ok"] + " [")  # with its exact interval
        e = g["eval_mse"]
        assert num(row["eval_median"][1]) == e["median"]
        assert e["median_ci"] is None  # 4 seeds: a median's interval needs 6
        assert row["eval_median"][0] == f"{e['median']:.2e} [n/a]"
        assert e["iqm_ci"] is None  # and an IQM's
        assert num(row["eval_iqm"][1]) == e["iqm"]
        assert row["eval_iqm"][0] == f"{e['iqm']:.2e} [n/a]"
        lo, hi = g["ok_ci"]
        assert row["ok"][0] == f"{g['ok']} [{lo:.2f}, {hi:.2f}]"
        assert num(row["eval_mean±std"][1]) == e["mean"]
        assert num(row["eval_min"][1]) == e["min"] and num(row["eval_max"][1]) == e["max"]
    loss = table(browser, "groups-loss-table")
    assert [num(r["loss_median"][1]) for r in loss] == [g["final_loss"]["median"]
                                                        for g in groups]
    # every member, with compare's numbers
    runs = json.loads(in_process("compare", "--where", "sweep=sweep-01", "--json", "--runs-dir",
                                 study).stdout)
    members = {r["id"][0]: r for r in table(browser, "members-table")}
    assert set(members) == {r["id"] for r in runs} and len(runs) == 8
    for r in runs:
        assert num(members[r["id"]]["eval_mse"][1]) == r["summary"]["eval_mse"]
        assert num(members[r["id"]]["seed"][1]) == r["config"]["seed"]
    # paired: the second lr against the first, over the 4 shared seeds
    paired = table(browser, "paired-table")
    assert paired[0]["vs"][0] == "(reference)" and paired[1]["shared"][0] == "4"
    assert "p_improve" in paired[1]  # (4 shared seeds: under 5, a note instead of numbers)
    # the performance profile, a picture with its words
    alts = browser.js("Array.from(document.images).map(i => i.alt)")
    assert any(a.startswith("Performance profile by group (lr)") for a in alts)
    # the best, median and worst members' still frames, named by id
    best = min(runs, key=lambda r: r["summary"]["eval_mse"])
    assert browser.js("Array.from(document.querySelectorAll('#examples h3'))"
                      ".map(h => h.textContent)")[0] == f"Best: {best['id']}"
    assert browser.js("document.querySelectorAll('#examples img').length") == 3
    assert browser.js("document.getElementById('halving')") is None
    # the header says how the members were trained, as show does
    shown = in_process("show", "sweep-01", "--runs-dir", study).stdout
    engine = next(ln.split("engine", 1)[1].strip() for ln in shown.splitlines()
                  if ln.strip().startswith("engine"))
    assert engine.startswith("batched, groups of at most ")
    assert f"engine{engine}" in browser.js("document.querySelector('header').innerText"
                                           ).replace("\n", "").replace("\t", "")


@pytest.mark.slow
def test_the_members_table_sorts_by_a_header_and_reads_without_javascript(study, tmp_path,
                                                                        browser):
    report("sweep-01", "--animation", "none", "--out", "s.html", root=study, cwd=tmp_path)
    load(browser, tmp_path / "s.html", "sweep-sorted")

    def column(name):
        return [r[name][1] for r in table(browser, "members-table")]
    ids = column("id")
    assert ids == sorted(ids, key=lambda i: int(i.split("-")[1]))  # by id, as written
    click = ("Array.from(document.querySelectorAll('#members-table th button'))"
             ".find(b => b.textContent === 'eval_mse').click()")
    browser.js(click)
    evals = [num(v) for v in column("eval_mse")]
    assert evals == sorted(evals)
    assert browser.js("document.querySelector('#members-table th[aria-sort]').textContent"
                      ) == "eval_mse"
    browser.js(click)
    assert [num(v) for v in column("eval_mse")] == sorted(evals, reverse=True)
    # without JavaScript: the same rows in the written order, headers as plain text
    browser.events.clear()
    browser.open(tmp_path / "s.html", javascript=False)
    try:
        assert column("id") == ids
        assert browser.js("document.querySelectorAll('th button').length") == 0
        assert browser.errors() == []
    finally:
        browser.open(tmp_path / "s.html")  # scripts back on for the other tests


def test_a_halving_sweep_shows_its_rungs(study, tmp_path, browser):
    report("sweep-02", "--animation", "none", "--out", "h.html", root=study, cwd=tmp_path)
    load(browser, tmp_path / "h.html", "halving")
    doc = json.loads((study / "sweep-02" / "sweep.json").read_text())
    rung = doc["halving"]["history"][0]
    text = browser.js("document.getElementById('halving').innerText")
    assert f"Step {rung['step']}: 3 points ranked by trend, 1 went on" in text
    assert text.count("✂ stopped at step 10") == 2 and text.count("✓ went on") == 1
    pruned = [r for r in table(browser, "members-table") if r["status"][1] == "pruned"]
    assert len(pruned) == 4


# -- a set of runs ------------------------------------------------------------------------

def test_a_set_page_holds_the_compare_table_and_the_curves(study, tmp_path, browser):
    out = report("--where", "lr=0.01", "--labels", "2", "--out", "set.html", root=study,
                 cwd=tmp_path)
    assert out.stdout == "set.html\n"
    html = (tmp_path / "set.html").read_text()
    self_contained(html)
    load(browser, tmp_path / "set.html", "set")
    runs = json.loads(in_process("compare", "--where", "lr=0.01", "--json", "--runs-dir",
                                 study).stdout)
    shown = {r["id"][0]: r for r in table(browser, "runs-table")}
    assert set(shown) == {r["id"] for r in runs}
    for r in runs:
        for k in ("eval_mse", "final_loss", "best_loss"):
            assert num(shown[r["id"]][k][1]) == r["summary"][k]
    assert "The 2 best by eval_mse are named" in html
    assert f"{len(runs)} runs" in browser.js("document.querySelector('h1').textContent")


@pytest.mark.slow
def test_sigterm_while_the_page_is_made_leaves_nothing(runs_dir, tmp_path):
    import signal
    import time

    made = in_process("train", "--steps", "600", *TINY[2:], "--runs-dir", runs_dir)
    assert made.returncode == 0, made.stderr
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable))
    p = subprocess.Popen([exe, "report", "run-01", "--out", "r.html", "--runs-dir", runs_dir],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 60
    # the prediction's process, and the replay's render workers where there are CPUs for them
    want = 1 + (min(os.cpu_count() or 1, 4) if (os.cpu_count() or 1) > 1 else 0)
    while len(descendants(p.pid)) < want and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    kids = descendants(p.pid)
    assert len(kids) >= want, "the page was made before the signal could be sent"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "Error: interrupted"
    deadline = time.time() + 20
    while not gone(kids) and time.time() < deadline:
        time.sleep(0.05)
    assert gone(kids), "a process of the report outlived it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no page, no temp file


@pytest.mark.slow
def test_report_to_stdout_through_a_pipe(trained_copy, runs_dir, tmp_path):
    out = report(trained_copy.name, "--animation", "none", "--out", "-", root=runs_dir,
                 cwd=tmp_path)
    assert out.stdout.startswith("<!DOCTYPE html>") and out.stdout.endswith("</html>\n")
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]  # nothing written here


# -- bad input: one line, nothing written --------------------------------------------------

@pytest.mark.parametrize("args,code,says", [
    (["--where", "eval_mse<0"], 1, "no runs match"),
    (["run-01", "--out", "runs/run-01/r.html"], 1, "refusing to write"),
    (["run-01", "--out", "r.txt"], 2, "expected an .html file"),
    (["run-01", "--reference", "lr=1"], 2, "--reference is for a sweep"),
    (["nope"], 1, "no run 'nope'"),
])
def test_bad_input_is_one_line_and_writes_nothing(trained_copy, runs_dir, args, code, says):
    before = sorted(p.relative_to(runs_dir.parent) for p in runs_dir.parent.rglob("*"))
    out = report(*args, root=runs_dir, cwd=runs_dir.parent, ok=False)
    assert out.returncode == code and says in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and out.stdout == ""
    assert sorted(p.relative_to(runs_dir.parent) for p in runs_dir.parent.rglob("*")) == before


def test_report_to_a_terminal_is_refused(trained_copy, runs_dir):
    p = stdout_a_terminal("report", trained_copy.name, "--out", "-", runs_dir=runs_dir)
    assert p.returncode == 2 and b"stdout is a terminal" in p.stderr
    assert p.stderr.count(b"\n") == 1


@pytest.mark.slow
def test_a_sweep_with_damaged_members_still_gets_its_page(study, tmp_path, browser):
    root = tmp_path / "runs"
    shutil.copytree(study, root)
    doc = json.loads((root / "sweep-01" / "sweep.json").read_text())
    bad, gone = doc["members"][0]["run"], doc["members"][1]["run"]
    (root / bad / "summary.json").write_text("{")
    shutil.rmtree(root / gone)
    out = report("sweep-01", "--out", "s.html", root=root, cwd=tmp_path)
    assert "Traceback" not in out.stderr
    load(browser, tmp_path / "s.html", "damaged-sweep", width=390)
    assert browser.js("document.documentElement.scrollWidth") <= 390
    members = {r["id"][0]: r["status"][1] for r in table(browser, "members-table")}
    assert members[bad] == "corrupt" and members[gone] == "missing" and len(members) == 8
    failed = browser.js("document.getElementById('failures').innerText")
    assert "summary.json is not valid JSON" in failed and "its folder is gone" in failed
    # both still count in their group, as compare counts them
    assert [num(r["n"][1]) for r in table(browser, "groups-table")] == [4, 4]

import csv
import io
import json
import shutil
import subprocess
import sys

import pytest
from conftest import TINY, read
from PIL import Image

from sincos_cli.store.query import sort_rows
from sincos_cli.store.record import Row, differing
from sincos_cli.views.table import cell, plain_table


@pytest.fixture
def three(cli, runs_dir):
    """run-01 hidden 4, run-02 hidden 8, run-03 hidden 8 with another lr."""
    for extra in (["--hidden", "4"], ["--hidden", "8"], ["--hidden", "8", "--lr", "0.01"]):
        assert cli("train", *TINY, *extra).exit_code == 0  # the last --hidden wins
    return runs_dir


def table(text):
    """Parse the plain table: columns are at least two spaces apart."""
    import re
    lines = text.splitlines()
    head = lines[0].split()
    return head, [dict(zip(head, re.split(r"\s{2,}", ln), strict=True)) for ln in lines[1:]]


def test_table_shows_what_differs_and_how_each_did(cli, three):
    res = cli("compare")
    assert res.exit_code == 0 and res.stderr == ""
    head, rows = table(res.stdout)
    assert head == ["id", "status", "eval_mse", "linear", "vs_linear", "final_loss",
                    "best_loss", "steps", "hidden", "lr", "train_seconds", "created"]
    assert [r["id"] for r in rows] == ["run-01", "run-02", "run-03"]
    assert [r["hidden"] for r in rows] == ["4", "8", "8"]
    assert [r["lr"] for r in rows] == ["0.006", "0.006", "0.01"]
    assert all(r["status"] == "completed" and r["steps"] == "40" for r in rows)
    summary = read(three / "run-02" / "summary.json")
    assert rows[1]["eval_mse"] == f"{summary['eval_mse']:.3e}"
    assert rows[1]["linear"] == f"{summary['baselines']['linear']:.3e}"  # its yardstick
    assert rows[1]["vs_linear"] == f"{summary['vs_linear']:.3g}×"
    assert not any(ch in res.stdout for ch in "│┃━─\x1b")  # plain when not a terminal


def test_all_shows_every_setting(cli, three):
    head, _ = table(cli("compare", "--all").stdout)
    assert {"batch_size", "time_steps", "seed", "cell", "task", "hidden"} <= set(head)


def test_named_runs_only(cli, three):
    _, rows = table(cli("compare", "run-02", "3").stdout)
    assert [r["id"] for r in rows] == ["run-02", "run-03"]


def test_sort_and_json(cli, three):
    out = json.loads(cli("compare", "--sort", "eval_mse", "--json").stdout)
    evals = [r["summary"]["eval_mse"] for r in out]
    assert evals == sorted(evals)
    assert set(out[0]) >= {"id", "status", "created", "config", "summary"}
    assert out[0]["config"]["hidden"] in (4, 8) and "eval_mse" in out[0]["summary"]
    down = json.loads(cli("compare", "--sort", "-eval_mse", "--json").stdout)
    assert [r["id"] for r in down] == [r["id"] for r in out][::-1]
    by_hidden = json.loads(cli("compare", "--sort", "-hidden", "--json").stdout)
    assert [r["config"]["hidden"] for r in by_hidden] == [8, 8, 4]


def test_csv_shape(cli, three):
    rows = list(csv.DictReader(io.StringIO(cli("compare", "--csv").stdout)))
    assert len(rows) == 3 and rows[0]["id"] == "run-01" and rows[2]["lr"] == "0.01"
    assert float(rows[0]["eval_mse"]) > 0


def test_plot_is_a_valid_image(cli, three, tmp_path):
    for suffix in ("png", "svg", "pdf"):
        out = tmp_path / f"loss.{suffix}"
        res = cli("compare", "run-01", "run-02", "--plot", out)
        assert res.exit_code == 0, res.stderr
        assert res.stdout.strip() == str(out)
    im = Image.open(tmp_path / "loss.png")
    assert im.size == (1120, 500)  # 800 × 500 of axes, and the legend beside them
    assert (tmp_path / "loss.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "loss.pdf").read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob(".*.tmp"))


def test_order_is_by_number():
    rows = [Row(id=n, path=None, status="completed") for n in ("run-100", "named", "run-99",
                                                               "run-02")]
    assert [r.id for r in sort_rows(rows, None, [])] == ["run-02", "run-99", "run-100", "named"]


def test_missing_values_sort_last_both_ways():
    rows = [Row("run-01", None, "completed", summary={"eval_mse": 2.0}),
            Row("run-02", None, "crashed"),
            Row("run-03", None, "completed", summary={"eval_mse": 1.0})]
    assert [r.id for r in sort_rows(rows, "eval_mse", ["eval_mse"])] == \
        ["run-03", "run-01", "run-02"]
    assert [r.id for r in sort_rows(rows, "-eval_mse", ["eval_mse"])] == \
        ["run-01", "run-03", "run-02"]
    with pytest.raises(ValueError, match="unknown column"):
        sort_rows(rows, "bogus", ["eval_mse"])


def test_differing_ignores_corrupt_rows():
    rows = [Row("a", None, "completed", config={"hidden": 8, "lr": 1}),
            Row("b", None, "completed", config={"hidden": 8, "lr": 2}),
            Row("c", None, "corrupt")]
    assert differing(rows) == ["lr"]


def test_cells_and_plain_table():
    assert cell(None, "eval_mse") == "-" and cell(1.5e-4, "eval_mse") == "1.500e-04"
    assert cell("2026-11-26T15:28:54.941Z", "created") == "2026-11-26 15:28"
    assert plain_table(["a", "bb"], [["xyz", "1"]]) == "a    bb\nxyz  1\n"


def test_statuses_running_crashed_interrupted(cli, three):
    for name, status, pid in (("run-01", "running", None), ("run-02", "running", 2**22 + 7),
                              ("run-03", "interrupted", None)):
        run = read(three / name / "run.json")
        run["status"] = status
        if status == "running":
            import os

            from sincos_cli.store.runs import process_start
            run["pid"] = pid or os.getpid()  # this test's own process is alive
            run["pid_start"] = process_start(run["pid"])
        (three / name / "run.json").write_text(json.dumps(run))
    _, rows = table(cli("compare").stdout)
    assert [r["status"] for r in rows] == ["running", "crashed", "interrupted"]


def test_corrupt_json_warns_and_the_rest_print(cli, three):
    (three / "run-02" / "config.json").write_text("{not json")
    (three / "run-03" / "summary.json").write_text("[1, 2")
    res = cli("compare")
    assert res.exit_code == 0
    _, rows = table(res.stdout)
    assert [r["status"] for r in rows] == ["completed", "corrupt", "corrupt"]
    warnings = res.stderr.splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: run-0") for w in warnings)
    assert "config.json is not valid JSON" in warnings[0]


def test_empty_runs_dir_is_friendly(cli, runs_dir):
    res = cli("compare")
    assert res.exit_code == 0 and res.stdout == ""
    assert "No runs" in res.stderr and "sincos train" in res.stderr
    assert json.loads(cli("compare", "--json").stdout) == []


def test_unknown_run_lists_existing(cli, three):
    res = cli("compare", "run-09")
    assert res.exit_code == 1
    assert res.stderr == f"Error: no run 'run-09' in {three} (runs: run-01, run-02, run-03)\n"


@pytest.mark.parametrize("args,needle", [(["--sort", "bogus"], "unknown column 'bogus'"),
                                         (["--plot", "x.gif"], "unknown suffix '.gif'"),
                                         (["--csv", "--json"], "one of --csv and --json")])
def test_bad_options_exit_2(cli, three, args, needle):
    res = cli("compare", *args)
    assert res.exit_code == 2 and needle in res.stderr and res.stderr.count("\n") == 1


def test_reading_never_writes_and_never_imports_torch(three, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in three.rglob("*")}
    code = ("import sys\nfrom sincos_cli.cli import app\ntry:\n"
            f"    app(['compare', '--runs-dir', {str(three)!r}, '--plot', "
            f"{str(tmp_path / 'p.png')!r}])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('torch' in sys.modules, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr
    assert {p: p.stat().st_mtime_ns for p in three.rglob("*")} == before


def test_symlinked_run_folders_are_not_listed(cli, three, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(three / "run-01", outside)
    (three / "run-50").symlink_to(outside)
    _, rows = table(cli("compare").stdout)
    assert "run-50" not in [r["id"] for r in rows]
    res = cli("compare", "run-50")
    assert res.exit_code == 1 and "symlink" in res.stderr

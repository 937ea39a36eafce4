import csv
import io
import json
import math
import sys

import numpy as np
import pytest
import torch
from conftest import read, sincos

from sincos_cli.config import TrainConfig
from sincos_cli.training.predict import Predictor, Scores, load_model, stream_chunks


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_range_csv_has_documented_columns_and_finite_values(cli, trained_copy):
    res = cli("predict", trained_copy.name, "--start", "400", "--points", "300")
    assert res.exit_code == 0, res.stderr
    table = rows(res.stdout)
    assert list(table[0]) == ["x", "input", "target", "prediction"] and len(table) == 300
    spacing = read(trained_copy / "config.json")["x_spacing"]
    x = np.array([float(r["x"]) for r in table])
    np.testing.assert_allclose(np.diff(x), spacing, rtol=1e-6)
    assert x[0] == 400
    np.testing.assert_allclose([float(r["input"]) for r in table], np.sin(x), atol=1e-7)
    np.testing.assert_allclose([float(r["target"]) for r in table], np.cos(x), atol=1e-7)
    assert all(math.isfinite(float(r["prediction"])) for r in table)
    assert res.stderr.startswith("mse ") and "mse_after_warmup" in res.stderr


def test_json_has_points_and_metrics(cli, trained_copy):
    res = cli("predict", "latest", "--start", "0", "--points", "100", "--json", "--warmup", "40")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert len(out["points"]) == 100 and out["run"] == trained_copy.name
    assert set(out["points"][0]) == {"x", "input", "target", "prediction"}
    pred = np.array([p["prediction"] for p in out["points"]])
    tgt = np.array([p["target"] for p in out["points"]])
    assert out["mse"] == pytest.approx(np.mean((pred - tgt) ** 2), rel=1e-5)
    assert out["mse_after_warmup"] == pytest.approx(np.mean((pred[40:] - tgt[40:]) ** 2),
                                                    rel=1e-5)
    assert res.stderr == ""


def test_no_header(cli, trained_copy):
    res = cli("predict", trained_copy.name, "--points", "3", "--no-header")
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 3
    assert not res.stdout.startswith("x,")


def test_stdin_file_and_range_agree(cli, trained_copy, tmp_path):
    rng = cli("predict", trained_copy.name, "--start", "1.5", "--points", "250", "--json")
    points = json.loads(rng.stdout)["points"]
    series = "".join(f"{p['input']!r}\n" for p in points)
    expect = np.array([p["prediction"] for p in points])

    piped = cli("predict", trained_copy.name, "-", input=series)
    assert piped.exit_code == 0, piped.stderr
    got = np.array([float(v) for v in piped.stdout.split()])  # plain numbers, one per line
    np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-7)

    f = tmp_path / "series.csv"
    f.write_text("t,sin,cos\n" + "".join(f"{i},{p['input']!r},{p['target']!r}\n"
                                          for i, p in enumerate(points)))
    res = cli("predict", trained_copy.name, "--input", f, "--column", "sin",
              "--target-column", "cos", "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    np.testing.assert_allclose([p["prediction"] for p in out["points"]], expect, rtol=1e-6,
                               atol=1e-7)
    assert out["mse"] == pytest.approx(json.loads(rng.stdout)["mse"], rel=1e-4)
    csv_out = cli("predict", trained_copy.name, "--input", f, "--column", "sin", "--csv")
    table = rows(csv_out.stdout)
    assert table[0]["x"] == "" and table[0]["target"] == ""


def test_chunked_streaming_equals_one_shot(trained):
    model, cfg = load_model(trained)
    values = np.sin(np.arange(5000) * cfg.x_spacing)
    whole = Predictor(model)(values)
    p = Predictor(model)
    parts = [p(values[s:e]) for s, e in [(0, 1), (1, 700), (700, 701), (701, 4096), (4096, 5000)]]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5, atol=1e-6)


def test_stream_reader_handles_lines_split_across_reads(tmp_path):
    import os
    r, w = os.pipe()
    os.write(w, b"1.5\n2.")
    os.write(w, b"5\n-3\n4")
    os.close(w)
    with os.fdopen(r, "rb") as f:
        vals = np.concatenate([c.input for c in stream_chunks(f)])
    np.testing.assert_array_equal(vals, [1.5, 2.5, -3, 4])


def test_scores_skip_warmup_across_chunks():
    s = Scores(warmup=3)
    s.add(np.array([1.0, 1.0]), np.zeros(2, np.float32))
    s.add(np.array([1.0, 2.0, 2.0]), np.zeros(3, np.float32))
    out = s.result()
    assert out["mse"] == pytest.approx((1 + 1 + 1 + 4 + 4) / 5)
    assert out["mse_after_warmup"] == pytest.approx(4.0)


@pytest.mark.slow
def test_output_starts_before_input_ends(trained_copy):
    import os
    import shutil
    import subprocess
    import time

    exe = shutil.which("sincos", path=os.path.dirname(sys.executable))
    p = subprocess.Popen([exe, "predict", trained_copy.name, "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "SINCOS_RUNS_DIR": str(trained_copy.parent)})
    try:
        p.stdin.write("0.1\n0.2\n")
        p.stdin.flush()
        t0 = time.time()
        first = p.stdout.readline()  # arrives while stdin is still open
        assert first.strip() and time.time() - t0 < 60
        float(first)
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0


@pytest.mark.slow
def test_real_pipeline(trained_copy):
    series = "".join(f"{math.sin(i / 31.4)}\n" for i in range(500))
    out = sincos("predict", trained_copy.name, "-", input=series,
                 env={"SINCOS_RUNS_DIR": str(trained_copy.parent)})
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 500 and out.stderr == ""


@pytest.mark.slow
def test_predict_never_imports_matplotlib(trained_copy):
    import subprocess
    code = ("import sys\nfrom sincos_cli.cli import app\ntry:\n"
            f"    app(['predict', {str(trained_copy)!r}, '--points', '5'])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('matplotlib' in sys.modules, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr


@pytest.mark.parametrize("text,needle", [
    ("0.1\nabc\n0.3\n", "line 2: 'abc' is not a number"),
    ("0.1\n0.2\nnan\n", "line 3: value nan is not finite"),
    ("0.1\ninf\n", "line 2: value inf is not finite"),
    ("0.1\n\nx\n", "line 3: 'x' is not a number"),  # blank lines skipped, still counted
])
def test_bad_stream_values_name_the_line(cli, trained_copy, text, needle):
    res = cli("predict", trained_copy.name, "-", input=text)
    assert res.exit_code == 1
    assert needle in res.stderr and res.stderr.count("\n") == 1


def test_bad_csv_value_and_missing_column(cli, trained_copy, tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("a,b\n1,2\n3,oops\n")
    res = cli("predict", trained_copy.name, "--input", f, "--column", "b")
    assert res.exit_code == 1 and "line 3: 'oops' is not a number" in res.stderr
    res = cli("predict", trained_copy.name, "--input", f, "--column", "sin")
    assert res.exit_code == 1
    assert res.stderr == "Error: no column 'sin' for --column (columns: a, b)\n"


@pytest.mark.parametrize("args,code,needle", [
    (["nope"], 1, "no run 'nope'"),
    (["{run}", "--points", "0"], 2, "--points"),
    (["{run}", "--points", "x"], 2, "--points"),
    (["{run}", "-", "--points", "5"], 2, "range, not a stream"),
    (["{run}", "--column", "a"], 2, "need a stream"),
    (["{run}", "-", "--target-column", "a"], 2, "--target-column needs --column"),
    (["{run}", "--csv", "--json"], 2, "one of --csv and --json"),
    (["{run}", "--input", "/no/such/file"], 1, "No such file"),
])
def test_bad_options(cli, trained_copy, args, code, needle):
    res = cli("predict", *[a.format(run=trained_copy.name) for a in args])
    assert res.exit_code == code, res.stderr
    assert needle in res.stderr and res.stderr.count("\n") == 1
    assert res.stdout == ""


def test_unknown_run_lists_existing(cli, trained_copy):
    res = cli("predict", "run-42")
    assert res.exit_code == 1 and f"runs: {trained_copy.name}" in res.stderr


def test_missing_or_corrupt_checkpoint(cli, trained_copy):
    ckpt = trained_copy / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:300])
    res = cli("predict", trained_copy.name, "--points", "3")
    assert res.exit_code == 1 and "not a readable checkpoint" in res.stderr
    ckpt.unlink()
    res = cli("predict", trained_copy.name, "--points", "3")
    assert res.exit_code == 1 and "checkpoint.pt is missing" in res.stderr


def test_checkpoint_that_does_not_fit_the_config(cli, trained_copy):
    cfg = read(trained_copy / "config.json")
    cfg["hidden"] = 99
    (trained_copy / "config.json").write_text(json.dumps(cfg))
    res = cli("predict", trained_copy.name, "--points", "3")
    assert res.exit_code == 1 and "does not fit config.json" in res.stderr


def test_checkpoint_with_pickled_code_is_refused(cli, trained_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    torch.save({"format": "sincos-checkpoint", "model": Evil()}, trained_copy / "checkpoint.pt")
    res = cli("predict", trained_copy.name, "--points", "3")
    assert res.exit_code == 1 and "not a readable checkpoint" in res.stderr
    assert not marker.exists()


def test_model_rebuilt_from_config(trained):
    model, cfg = load_model(trained)
    assert isinstance(cfg, TrainConfig) and model.hidden == cfg.hidden == 8

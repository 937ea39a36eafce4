import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, read, sincos

from sincos_cli.store.trace import read as load_trace

SUMMARY_KEYS = {"final_loss", "best_loss", "best_step", "eval_mse", "steps", "train_seconds",
                "steps_per_second"}


@pytest.mark.slow
def test_subprocess_prints_only_the_run_id(runs_dir):
    out = sincos("train", *TINY)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "run-01\n"
    assert out.stderr == ""
    assert (runs_dir / "run-01" / "summary.json").is_file()


def test_plain_progress_lines_every_log_every(cli, runs_dir):
    res = cli("train", *[a for a in TINY if a != "--quiet"], "--log-every", "15")
    assert res.exit_code == 0
    assert res.stdout == "run-01\n"
    *lines, closing = res.stderr.splitlines()
    assert [ln.split()[1] for ln in lines] == ["1", "15", "30", "40"]  # updates done
    assert all(ln.startswith("step ") and " loss " in ln for ln in lines)
    # how the run did, in one closing line, as --json's summary says it
    summary = read(runs_dir / "run-01" / "summary.json")
    b = summary["baselines"]  # and beside eval_mse, its yardsticks (#36)
    assert closing == (f"run-01 completed: 40 steps in {summary['train_seconds']:.1f} s, "
                       f"final_loss {summary['final_loss']:.3e}, "
                       f"eval_mse {summary['eval_mse']:.3e} · linear filter "
                       f"{b['linear']:.3e} ({b['linear_taps']} taps) · zero {b['zero']:.2f}")


def test_json_prints_the_summary(cli):
    res = cli("train", *TINY, "--json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert SUMMARY_KEYS <= out.keys()
    assert out["id"] == "run-01" and out["steps"] == 40 and out["status"] == "completed"


def test_run_folder_holds_every_documented_file(trained):
    run = read(trained / "run.json")
    assert {"id", "schema", "status", "argv", "pid", "host", "created", "ended", "seed",
            "versions", "device", "resumes"} <= run.keys()
    assert run["status"] == "completed" and run["seed"] == 3 and run["device"] == "cpu"
    assert run["argv"][:2] == ["sincos", "train"] and "--hidden" in run["argv"]
    assert set(run["versions"]) == {"python", "torch", "numpy", "sincos"}
    assert run["created"].endswith("Z") and run["ended"] >= run["created"]

    cfg = read(trained / "config.json")
    assert cfg["steps"] == 40 and cfg["batch_size"] == 8 and cfg["time_steps"] == 10
    assert cfg["hidden"] == 8 and cfg["lr"] == 0.006 and cfg["seed"] == 3
    assert cfg["x_spacing"] == pytest.approx(1 / (10 * np.pi))

    rows = [json.loads(ln) for ln in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(40))
    assert all({"step", "loss", "elapsed_s", "lr"} <= r.keys() for r in rows)
    assert all(a["elapsed_s"] <= b["elapsed_s"] for a, b in zip(rows, rows[1:]))

    summary = read(trained / "summary.json")
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["steps"] == 40
    assert summary["final_loss"] == rows[-1]["loss"]
    assert summary["best_loss"] == min(r["loss"] for r in rows)
    assert rows[summary["best_step"]]["loss"] == summary["best_loss"]
    assert 0 < summary["eval_mse"] < 10

    ckpt = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 40 and ckpt["config"] == cfg
    assert {"model", "optimizer", "carried_state", "rng", "cursor"} <= ckpt.keys()

    z = load_trace(trained)
    assert z["x"].shape == z["target"].shape == z["prediction"].shape == (40, 10)
    np.testing.assert_array_equal(z["step"], np.arange(40))
    np.testing.assert_allclose(z["target"], np.cos(z["x"]), atol=1e-6)
    np.testing.assert_allclose(z["loss"], [r["loss"] for r in rows])
    assert np.isfinite(z["prediction"]).all()
    assert not list(trained.glob(".*.tmp"))


def test_same_seed_same_losses(cli, runs_dir):
    for _ in range(2):
        assert cli("train", *TINY).exit_code == 0

    def losses(run):
        return [json.loads(ln)["loss"] for ln in (runs_dir / run / "metrics.jsonl").open()]
    assert losses("run-01") == losses("run-02")


def test_seed_is_drawn_and_recorded_when_not_given(cli, runs_dir):
    args = [a for a in TINY if a not in ("--seed", "3")]
    for _ in range(2):
        assert cli("train", *args).exit_code == 0
    seeds = [read(runs_dir / r / "config.json")["seed"] for r in ("run-01", "run-02")]
    assert seeds[0] != seeds[1]
    assert seeds[0] == read(runs_dir / "run-01" / "run.json")["seed"]


def test_settings_flags_reach_the_config(cli, runs_dir):
    res = cli("train", "--steps", "3", "--batch-size", "5", "--time-steps", "7", "--hidden",
              "9", "--lr", "0.003", "--seed", "11", "--quiet", "--name", "custom")
    assert res.exit_code == 0 and res.stdout == "custom\n"
    cfg = read(runs_dir / "custom" / "config.json")
    assert (cfg["steps"], cfg["batch_size"], cfg["time_steps"], cfg["hidden"], cfg["lr"],
            cfg["seed"]) == (3, 5, 7, 9, 0.003, 11)


def test_ids_count_up_by_number(cli, runs_dir):
    (runs_dir / "run-99").mkdir(parents=True)
    (runs_dir / "run-7").mkdir()
    res = cli("train", *TINY, "--steps", "1")
    assert res.stdout == "run-100\n"


def test_runs_dir_option_beats_the_environment(cli, tmp_path):
    other = tmp_path / "elsewhere"
    res = cli("train", *TINY, "--steps", "1", "--runs-dir", other)
    assert res.exit_code == 0
    assert (other / "run-01" / "run.json").is_file()


@pytest.mark.parametrize("args,code,needle", [
    (["--steps", "0"], 2, "--steps"),
    (["--steps", "-5"], 2, "--steps"),
    (["--steps", "ten"], 2, "--steps"),
    (["--batch-size", "0"], 2, "--batch-size"),
    (["--time-steps", "0"], 2, "--time-steps"),
    (["--hidden", "0"], 2, "--hidden"),
    (["--hidden", "1.5"], 2, "--hidden"),
    (["--lr", "0"], 2, "--lr"),
    (["--lr", "-0.1"], 2, "--lr"),
    (["--lr", "nan"], 2, "--lr"),
    (["--lr", "fast"], 2, "--lr"),
    (["--device", "tpu"], 2, "--device"),
    (["--name", "../escape"], 2, "--name"),
    (["--name", "a/b"], 2, "--name"),
    (["--name", ".."], 2, "--name"),
    (["--name", "/tmp/abs"], 2, "--name"),
    (["--threads", "-1"], 2, "--threads"),
])
def test_bad_values_exit_2_with_one_line_and_no_run(cli, runs_dir, args, code, needle):
    res = cli("train", *TINY, *args)
    assert res.exit_code == code
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("Error: ") and needle in res.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_existing_name_is_refused_not_overwritten(cli, runs_dir):
    assert cli("train", *TINY, "--name", "keep").exit_code == 0
    before = (runs_dir / "keep" / "metrics.jsonl").read_bytes()
    res = cli("train", *TINY, "--name", "keep")
    assert res.exit_code == 1
    assert res.stderr == "Error: run 'keep' already exists in %s\n" % runs_dir
    assert (runs_dir / "keep" / "metrics.jsonl").read_bytes() == before


def test_unwritable_runs_dir(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = cli("train", *TINY, "--runs-dir", blocker / "runs")
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: cannot create runs dir") and res.stderr.count("\n") == 1
    assert blocker.read_text() == "not a folder"


def test_cuda_asked_for_but_absent(cli, runs_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = cli("train", *TINY, "--device", "cuda")
    assert res.exit_code == 1
    assert "no CUDA device" in res.stderr and res.stderr.count("\n") == 1
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


COMMANDS = ["train", "sweep", "animate", "predict", "compare", "report", "show", "rm", "tag",
            "note"]


def heavy_modules() -> list[str]:
    """Every dependency in pyproject.toml (extras included) as the module it imports, but
    the two that draw the help itself (typer, rich): none may load for --help."""
    import re
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    project = project["project"]
    specs = [*project["dependencies"], *(d for ds in project["optional-dependencies"].values()
                                         for d in ds)]
    names = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0].lower() for d in specs}
    module = {"pillow": "PIL", "imageio-ffmpeg": "imageio_ffmpeg", "mkdocs-material":
              "material", "pytest-timeout": "pytest_timeout"}
    return sorted(module.get(n, n.replace("-", "_")) for n in names - {"typer", "rich"})


def test_the_heavy_list_is_the_dependency_list():
    heavy = heavy_modules()
    assert {"torch", "numpy", "matplotlib", "scipy", "PIL", "imageio_ffmpeg",
            "dask"} <= set(heavy) and "typer" not in heavy


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *([c, "--help"] for c in COMMANDS)])
def test_help_imports_no_heavy_module(argv):
    code = ("import sys\nfrom sincos_cli.cli import app\n"
            "try:\n    app(%r)\nexcept SystemExit as e:\n    code = e.code\n"
            "heavy = [m for m in %r if m in sys.modules]\n"
            "print(code, heavy)\n" % (argv, heavy_modules()))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr


def test_every_command_has_help(cli):
    for cmd in COMMANDS:
        res = cli(cmd, "--help")
        assert res.exit_code == 0 and "Usage" in res.stdout, cmd


def test_refusals_that_need_no_torch_come_before_it(runs_dir, trained, tmp_path):
    """With torch made unimportable, what can be refused without it still is, in one
    line: an existing --name, a missing --input."""
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    env = {"PYTHONPATH": str(fake), "SINCOS_RUNS_DIR": str(trained.parent)}
    out = sincos("train", "--name", trained.name, "--steps", "3", env=env)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "already exists" in out.stderr and "torch was imported" not in out.stderr
    out = sincos("predict", trained.name, "--input", tmp_path / "nope.csv", env=env)
    assert out.returncode == 1 and "No such file" in out.stderr, out.stderr
    assert "torch was imported" not in out.stderr

"""--device: errors without CUDA, and a run trained on a GPU used on this CPU-only machine.

tests/fixtures/gpu-tiny was trained by tests/bench/gpu_check.sh on an NVIDIA H100 (torch
2.11+cu130): its checkpoint holds CUDA tensors.
"""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch
from conftest import read
from PIL import Image

FIXTURE = Path(__file__).parent / "fixtures" / "gpu-tiny"


def test_fixture_really_is_a_gpu_run():
    assert read(FIXTURE / "run.json")["device"].startswith("cuda")
    with zipfile.ZipFile(FIXTURE / "checkpoint.pt") as z:
        pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
        assert b"cuda" in z.read(pkl)


def test_gpu_run_predicts_animates_and_resumes_on_cpu(cli, runs_dir, tmp_path):
    runs_dir.mkdir(parents=True)
    shutil.copytree(FIXTURE, runs_dir / "gpu-tiny")
    out = json.loads(cli("predict", "gpu-tiny", "--points", "200", "--json").stdout)
    assert len(out["points"]) == 200 and np.isfinite(out["mse"])
    res = cli("animate", "gpu-tiny", "--out", tmp_path / "g.gif", "-q")
    assert res.exit_code == 0, res.stderr
    assert Image.open(tmp_path / "g.gif").n_frames == 40
    res = cli("train", "--resume", "gpu-tiny", "--steps", "45", "--device", "cpu", "-q")
    assert res.exit_code == 0, res.stderr
    run = read(runs_dir / "gpu-tiny" / "run.json")
    assert run["device"] == "cpu" and run["resumes"][0]["at_step"] == 40
    ckpt = torch.load(runs_dir / "gpu-tiny" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 45


def test_auto_falls_back_to_cpu(cli, runs_dir):
    if torch.cuda.is_available():
        return
    res = cli("train", "--steps", "3", "--batch-size", "4", "--hidden", "4", "--device",
              "auto", "-q")
    assert res.exit_code == 0
    assert read(runs_dir / "run-01" / "run.json")["device"] == "cpu"

#!/usr/bin/env bash
# The --device cuda check, run by hand on a machine with an NVIDIA GPU (not by CI):
#   bash tests/bench/gpu_check.sh OUT_DIR
# Trains on the GPU (the seed, `auto`, an interrupt + resume), times it against the CPU, and
# leaves the runs in OUT_DIR/gpu_runs.tgz so they can be predicted and animated elsewhere.
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
export SINCOS_RUNS_DIR=/tmp/gpu-runs PYTHONUNBUFFERED=1
rm -rf "$SINCOS_RUNS_DIR"
s="python3 -m sincos_cli"
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
TIMEFORMAT="whole process %R s"
for dev in cuda cpu; do
  time ($s train --device $dev --seed 1 --name seed-$dev --json \
    | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['id'], 'eval_mse', d['eval_mse'], 'train_s', d['train_seconds'])")
done
$s train --device auto --seed 2 --steps 60 --name auto --quiet && \
  python3 -c "import json; print('auto ran on', json.load(open('$SINCOS_RUNS_DIR/auto/run.json'))['device'])"
# the tiny run the CPU test suite keeps as a fixture
$s train --device cuda --steps 40 --batch-size 8 --time-steps 10 --hidden 8 --seed 3 \
  --checkpoint-every 10 --name gpu-tiny --quiet
# interrupt and resume on the GPU, against training straight through
$s train --device cuda --steps 1000000 --batch-size 8 --time-steps 10 --hidden 8 --seed 3 \
  --name cut --quiet & pid=$!
for i in $(seq 100); do [ -f $SINCOS_RUNS_DIR/cut/metrics.jsonl ] && \
  [ $(wc -l < $SINCOS_RUNS_DIR/cut/metrics.jsonl) -gt 50 ] && break; sleep 0.1; done
kill -INT $pid; wait $pid; echo "interrupted: exit $?"
k=$(python3 -c "import json; print(json.load(open('$SINCOS_RUNS_DIR/cut/summary.json'))['steps'])")
$s train --resume cut --steps $((k + 30)) --device cuda --quiet
$s train --device cuda --steps $((k + 30)) --batch-size 8 --time-steps 10 --hidden 8 --seed 3 \
  --name straight --quiet
python3 - <<PY
import json, torch
d = "$SINCOS_RUNS_DIR"
l = lambda r: [json.loads(x)["loss"] for x in open(f"{d}/{r}/metrics.jsonl")]
w = lambda r: torch.load(f"{d}/{r}/checkpoint.pt", weights_only=True)["model"]
a, b = w("cut"), w("straight")
print("resume on GPU equals straight:", l("cut") == l("straight"), all(torch.equal(a[k], b[k]) for k in a))
PY
CUDA_VISIBLE_DEVICES= $s predict seed-cuda --points 1000 --json | \
  python3 -c "import json,sys; d=json.load(sys.stdin); print('cpu predict of gpu run: mse_after_warmup', d['mse_after_warmup'])"
CUDA_VISIBLE_DEVICES= $s animate seed-cuda --every 25 --out /tmp/gpu.gif --quiet
$s compare
rm -f $SINCOS_RUNS_DIR/*/.lock
tar czf "$out/gpu_runs.tgz" -C /tmp gpu-runs

"""Training one model, or a group of seeds at once: the numbers.

config lives a level up (sincos_cli.config); here: data (the sin/cos windows), model (the
LSTM and its Adam), train (the loop), checkpoint (checkpoint.pt: written, read, checked),
recorder (a run folder written as training goes, and the Trainee face it records), launch
(one `sincos train`: locks, resume, signals, the final status), budget (memory checks
before anything starts), layout (a member's parameters as one flat row), batched and group
(many seeds in one batched model, each bit for bit as alone), numerics (MKL's reproducible
mode), predict (a trained model on new input), baselines (eval_mse's yardsticks: zero, the
input, the best linear filter), internals (the gates and states of one window, for
internals.bin).

May import: sincos_cli.errors, .config, .text, .status and the store. torch loads here, at module
level where needed (ruff's TID253 allows it in this package only, with views and report).
"""

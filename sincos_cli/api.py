"""sincos from Python (a notebook, a script): the functions the CLI uses, returning plain
dicts and numpy arrays. Importing it is light; numpy and torch come in when a run's
metrics, trace or model are asked for.

    from sincos_cli import api

    runs = api.runs(where=["hidden=20", "eval_mse<1e-3"])   # the same filters as compare
    best = min(runs, key=lambda r: r.summary["eval_mse"])
    m = best.metrics()          # {"step": array, "loss": array, "lr": array, "elapsed_s": …}
    y = best.predict(np.sin(x))  # the trained model on new input, state carried along
"""

from __future__ import annotations

from pathlib import Path

from sincos_cli.store.record import Row, load_row
from sincos_cli.store.runs import expand, list_runs, resolve, runs_dir, sweep_path


class Run:
    """One run folder: its settings and results as dicts, its history as arrays."""

    def __init__(self, row: Row):
        self._row = row
        self.id, self.path, self.status = row.id, row.path, row.status
        self.config, self.summary = row.config, row.summary
        self.error, self.sweep, self.tags, self.note = row.error, row.sweep, row.tags, row.note
        self.created = row.created
        self._model = None

    def __repr__(self) -> str:
        ev = self.summary.get("eval_mse")  # a value from a file: maybe not a number
        shown = f" eval_mse={ev:.3g}" if isinstance(ev, (int, float)) and ev else ""
        return f"<Run {self.id!r} {self.status}{shown}>"

    def to_dict(self) -> dict:
        """What `sincos compare --json` says of the run."""
        return self._row.to_json()

    def metrics(self) -> dict:
        """metrics.jsonl as numpy arrays, one a key (step, loss, lr, elapsed_s)."""
        import numpy as np

        from sincos_cli.store.files import read_metrics

        rows = read_metrics(self.path / "metrics.jsonl")
        keys = list(rows[0]) if rows else ["step", "loss"]
        return {k: np.array([r.get(k) for r in rows], dtype=np.int64 if k == "step" else
                            np.float64) for k in keys}

    def trace(self) -> dict:
        """trace.bin as arrays: step, loss, and per step window row 0's x, target and the
        post-update prediction, (steps, time_steps) each."""
        from sincos_cli.store.trace import read

        return read(self.path)

    def model(self):
        """The trained model (torch), rebuilt from config.json and checkpoint.pt."""
        if self._model is None:
            from sincos_cli.training.predict import load_model

            self._model = load_model(self.path)[0]
        return self._model

    def predict(self, inputs) -> np.ndarray:  # noqa: F821 (numpy, imported lazily)
        """The model on a 1-D sequence of inputs, from a zero state, carried through the
        sequence, as `sincos predict` does."""
        import torch

        from sincos_cli.training.predict import Predictor

        torch.set_num_threads(1)
        return Predictor(self.model())(inputs)


def runs(where: list[str] | tuple = (), *, select: list[str] | None = None,
         root: str | Path | None = None) -> list[Run]:
    """The runs in the runs dir (or those `select` names: ids, numbers, sweeps), filtered
    like `compare --where`; damaged runs come back with status `corrupt`."""
    from sincos_cli.store.query import parse_where
    from sincos_cli.store.query import select as keep

    base = runs_dir(root)
    wheres = parse_where(list(where))
    paths = expand(base, select) if select else list_runs(base)
    return [Run(r) for r in keep([load_row(p) for p in paths], wheres)]


def run(selector: str, root: str | Path | None = None) -> Run:
    """One run by id, number, `latest` or path."""
    return Run(load_row(resolve(runs_dir(root), selector)))


def sweeps(root: str | Path | None = None) -> list[dict]:
    """Each sweep in the runs dir as `sincos show SWEEP --json` describes it; one that cannot
    be read is {"kind": "sweep", "id": …, "status": "corrupt", "problem": why}, and the rest
    are still listed."""
    from sincos_cli.store.runs import SWEEP_RE
    from sincos_cli.store.show import sweep_info

    from .errors import SincosError

    base = runs_dir(root)
    try:
        names = sorted(p.name for p in base.iterdir() if SWEEP_RE.match(p.name))
    except OSError:
        return []
    out = []
    for n in names:
        try:
            out.append(sweep_info(sweep_path(base, n)))
        except SincosError as e:
            out.append({"kind": "sweep", "id": n, "status": "corrupt", "problem": str(e)})
    return out

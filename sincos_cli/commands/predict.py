"""`sincos predict`: a trained model on new input, rows on stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import ParameterSource

from sincos_cli.errors import SincosError

from .common import RunArg, RunsDir, _finite_float, guarded
from .output import Format, output_options


@guarded
@output_options(json="One JSON object: the run, the points and mse.",
                csv="CSV rows (the default for ranges).")
def predict(
    ctx: typer.Context,
    run: RunArg,
    source: Annotated[str | None, typer.Argument(
        metavar="SOURCE",
        help="'-' to read numbers from stdin (or a file path); omit for a range of x.",
        show_default=False)] = None,
    start: Annotated[float, typer.Option(callback=_finite_float,
                                         help="Range: first x, in radians.")] = 0.0,
    points: Annotated[int, typer.Option(
        min=1, help="Range: how many points, at the run's x spacing.")] = 1000,
    input_file: Annotated[Path | None, typer.Option(
        "--input", "-i", help="Read numbers from this file.", show_default=False)] = None,
    column: Annotated[str | None, typer.Option(
        help="Input is CSV with a header: the column to feed the model.")] = None,
    target_column: Annotated[str | None, typer.Option(
        help="CSV column with the true values, to report mse.")] = None,
    warmup: Annotated[int | None, typer.Option(
        min=0, show_default="4 windows",
        help="Points skipped by mse_after_warmup while the state settles.")] = None,
    header: Annotated[bool, typer.Option("--header/--no-header", help="CSV header row.")] = True,
    runs_dir: RunsDir = None,
    output: Format = Format.TEXT,
):
    """Run a trained model on new input; rows to stdout.

    A range (--start, --points) feeds the run's input curve, sin(x) for sin-cos, and scores
    the prediction against the true target. A stream (-, a file, or --input) feeds your
    numbers, one per line or a CSV --column. Either way the sequence goes through the
    recurrent layer in order from a zero state, the state carried across chunks, so output
    starts before the input ends and memory stays flat. Output: CSV
    (x,input,target,prediction; empty where unknown), --json (one object with points and
    mse), or, for streams with no format asked, one prediction per line.

    Examples:

    \b
        sincos predict run-01 --start 400 --points 300 > pred.csv
        sincos predict run-01 --input series.csv --column sin --target-column cos
    """
    if source is not None and input_file is not None:
        raise typer.BadParameter("give either SOURCE or --input, not both", param_hint="--input")
    stream = source if source is not None else input_file
    if stream is not None and any(ctx.get_parameter_source(p) == ParameterSource.COMMANDLINE
                                  for p in ("start", "points")):
        raise typer.BadParameter("--start and --points describe a range, not a stream",
                                 param_hint="--points")
    if target_column and not column:
        raise typer.BadParameter("--target-column needs --column", param_hint="--column")
    if stream is None and (column or target_column):
        raise typer.BadParameter("--column and --target-column need a stream (- or --input)",
                                 param_hint="--column")
    from sincos_cli.store.runs import resolve
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    path = resolve(pick_runs_dir(runs_dir), run)
    if stream is not None and str(stream) != "-":  # before torch is imported: at once
        if not Path(stream).is_file():
            raise SincosError(f"No such file: {stream}")
    import torch

    from sincos_cli.training import predict as pr

    torch.set_num_threads(1)
    model, cfg = pr.load_model(path)
    warm = cfg.time_steps * 4 if warmup is None else warmup
    out = sys.stdout
    if output is Format.JSON:
        writer = pr.JsonOut(out, {"run": path.name, "task": cfg.task,
                                  "mode": "range" if stream is None else "stream"})
    elif output is Format.CSV or stream is None:
        writer = pr.CsvOut(out, header)
    else:
        writer = pr.PlainOut(out)
    if stream is None:
        chunks = pr.range_chunks(start, points, cfg)
        result = pr.run(chunks, model, writer, warm, out)
    else:
        import contextlib

        with (contextlib.nullcontext(sys.stdin.buffer) if str(stream) == "-"
              else open(stream, "rb")) as f:
            result = pr.run(pr.stream_chunks(f, column, target_column), model, writer, warm,
                            out)
    if output is not Format.JSON and result["mse"] is not None:
        late = result["mse_after_warmup"]
        late = f"{late:.4g}" if late is not None else "n/a"
        print(f"mse {result['mse']:.4g}  mse_after_warmup {late}  "
              f"({result['scored_points']} points, warm-up {warm})", file=sys.stderr)

"""The `sincos` command line: the app, its error handling and signals; each command family
lives in its own module under commands/, registered here. The CLI parses, calls the
library and prints.

Heavy modules (torch, numpy, matplotlib) are imported inside the commands so that
`sincos --help` stays instant.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Annotated

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup
from typer.exceptions import Abort

from sincos_cli.commands.common import ReaderLeft
from sincos_cli.training import numerics

from .commands import animate, common, compare, predict, report, store, sweep, train

_SIGNAL = [None]  # the signal that interrupted a command, if one did


def _sigterm_is_ctrl_c() -> None:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so every command's clean-up runs
    (train and sweep install their own handlers, which finish the step first)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        _SIGNAL[0] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)  # the terminal closed: the same clean-up
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, handler)


class SincosGroup(TyperGroup):
    """Every error, typer's own included, becomes one `Error: …` line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        common.ARGV[:] = ["sincos", *(sys.argv[1:] if args is None else args)]
        numerics.strict_env()  # before torch loads, here and in every worker
        _sigterm_is_ctrl_c()
        try:
            rv = super().main(args, prog_name or "sincos", complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
            if _SIGNAL[0] is not None:
                # Ctrl-C or SIGTERM outside training (typer turns KeyboardInterrupt into
                # exit 130): whatever was under way was cleaned up on the way out
                # (temporary files removed, workers ended).
                print("Error: interrupted", file=sys.stderr)
                code = {signal.SIGTERM: 143, signal.SIGHUP: 129}.get(_SIGNAL[0], 130)
        except NoArgsIsHelpError as e:
            print(e.format_message(), file=sys.stderr)
            code = e.exit_code
        except ClickException as e:
            # typer's enum check says "Value error, 'x' is not one of …": plain words
            print(f"Error: {e.format_message().replace('Value error, ', '')}",
                  file=sys.stderr)
            code = e.exit_code
        except Abort:
            print("Error: aborted", file=sys.stderr)
            code = 1
        except (BrokenPipeError, ReaderLeft):
            # `sincos … | head`: the reader left early, which is not an error.
            _quiet_stdout()
            code = 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=SincosGroup, no_args_is_help=True, add_completion=True,
    help="Train a small LSTM to predict cos(x) from sin(x), keep every run under runs/, "
         "replay training as a GIF or MP4, and compare runs.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    # click's plain help: it wraps at the terminal's width and never cuts an option's name
    # (rich's panels squeeze them at 80 columns), and needs no colour.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"sincos {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """Train a small LSTM to predict cos(x) from sin(x), keep every run under runs/, replay
    training as a GIF or MP4, and compare runs."""


for command in (train.train, sweep.sweep, animate.animate, predict.predict,
                compare.compare, report.report):
    app.command()(command)
store.register(app)


def _quiet_stdout() -> None:
    """After a broken pipe: nothing more reaches the reader, and the interpreter's flush of
    stdout at exit must not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.stdout = open(os.devnull, "w")


def main() -> None:
    from sincos_cli.training import launch

    launch.LATE_SIGNALS_IGNORED = True
    app()

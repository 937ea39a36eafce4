"""The exceptions the CLI turns into a one-line `Error: …` and exit code 1, and the one
debug switch (SINCOS_DEBUG=1) that shows their tracebacks instead."""

import os


class SincosError(Exception):
    """An expected failure: bad run name, corrupt file, unwritable path…"""


class FilterError(ValueError):
    """A bad --where, tag or selector: the CLI prints it as a usage error (exit 2)."""


class OptionError(ValueError):
    """Bad options, found by the library as it plans: the CLI prints a usage error naming
    `option` when there is one (exit 2)."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


def first_line(e: BaseException, limit: int = 160) -> str:
    """An exception's message cut to one line (torch's can run to dozens)."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__


def reason(e: BaseException) -> str:
    """Why something failed, in one line: an expected failure's own words, anything else
    (a damaged file that broke a parser, a full disk) named by its type as well. A failed
    run's run.json, a sweep member's result and a report's damaged part all say it so."""
    if isinstance(e, SincosError):
        return str(e)
    return f"{type(e).__name__}: {first_line(e)}"


class Diverged(SincosError):
    """The training loss stopped being finite."""

    def __init__(self, step: int, loss: float | None = None):
        what = "weights not finite" if loss is None else f"loss {loss}"
        super().__init__(f"diverged at step {step} ({what})")
        self.step = step


def debugging() -> bool:
    """SINCOS_DEBUG=1: errors raise with their traceback instead of becoming one line (the
    CLI's handler, a report's damaged part, a sweep member's failure)."""
    return bool(os.environ.get("SINCOS_DEBUG"))

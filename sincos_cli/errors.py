"""The one exception the CLI turns into a one-line `Error: …` and exit code 1."""


class SincosError(Exception):
    """An expected failure: bad run name, corrupt file, unwritable path…"""

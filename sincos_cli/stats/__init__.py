"""Statistics over seeds: group summaries, paired comparisons and their intervals.

intervals (bootstrap and Wilson 95% intervals; scipy, loaded when asked for), groups
(`compare --group-by` and `--paired`, the sweep's summary).

May import: sincos_cli.errors and .config only (it reads rows, never folders).
"""

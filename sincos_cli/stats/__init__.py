"""Statistics over seeds: group summaries, paired comparisons, profiles, power, intervals.

intervals (order-statistic, bootstrap and exact 95% intervals, the probability of
improvement; numpy, loaded when asked for), groups (`compare --group-by` and `--paired`, the
sweep's summary: median, IQM, mean, ok share, each over the runs that ended, a failed or
diverged one as the worst), profiles (performance profiles with bands), power (how many
seeds a paired study needs, simulated from a pilot), sequential (the rule that stops a study
adding seeds once it is decided, and keeps its error rate), rank (Spearman's ρ, for the
halving audit).

May import: sincos_cli.errors, .config and .status only (it reads rows, never folders).
"""

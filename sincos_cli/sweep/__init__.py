"""`sincos sweep`: a study over seeds and settings, local or on a Dask cluster.

The driver's side: request (what `sincos sweep` was asked, and the rules between its
options), design (a new sweep checked and sized before anything is made: grid,
seeds, memory, groups, halving rungs, held-out seeds), grid (--seeds and --set), folder
(sweep.json: made, locked, resumed, closed), plan (which members to train, and how they
group), halving and holdout (successive halving and held-out seeds), rounds (adding
seeds until decided), audit (pruned points trained to the end, to check halving), engines (a local
process pool or Dask), driver (the loop that trains a sweep to its end). Between driver
and workers: jobs (Job, Unit and Result, small picklable dataclasses). The workers' side:
worker (a worker's life: signals, stop, folders), member (one member alone) and group_run
(a batched group).

May import: the store, stats, training and views (the driver's progress line).
"""

"""`sincos sweep`: a study over seeds and settings, local or on a Dask cluster.

grid (--set values), plan (which members to train, and how they group), halving and holdout
(successive halving and held-out seeds), engines (a local process pool or Dask), member and
group_run (a worker's side: one member, or a batched group), driver (creates, runs, resumes
and ends a sweep).

May import: the store, stats, training and views (the driver's progress line).
"""

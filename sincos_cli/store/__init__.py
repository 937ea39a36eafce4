"""The run store: everything about run and sweep folders on disk, standard library only.

files (atomic writes, locks, safe readers, bounded sizes), runs (ids, allocation, selectors,
sweeps' members), process (is a folder's writer still alive), document (a folder's JSON
file as a dataclass), run_doc (run.json as a type), summary_doc (summary.json as a type),
sweep_doc (sweep.json as a type, its members included), checks (sweep.json's values beyond
its member entries), records (append-only files of per-step records), trace (the per-step
trace.bin) and internals (internals.bin: the network's gates and states), the three
modules here that load numpy,
record (the run record `Row`, one per folder), meta (meta.json: tags and notes), query
(--where, sorting, folding a sweep), removal (`sincos rm`), show (one run or sweep on one
screen).

May import: sincos_cli.errors, .text, .config, .status. Nothing else of sincos: every other package
builds on this one.
"""

"""The run store: everything about run and sweep folders on disk, standard library only.

files (atomic writes, locks, safe readers, bounded sizes), runs (ids, allocation, selectors,
sweeps' members, status), process (is a folder's writer still alive), sweep_doc (sweep.json
as a type, its members included), checks (sweep.json's values beyond its member entries), trace (the
per-step trace.bin; the one module here that loads numpy), record (the run record `Row`, one
per folder), meta (tags and notes), query (--where, sorting, folding a sweep), removal
(`sincos rm`), show (one run or sweep on one screen).

May import: sincos_cli.errors, .text, .config, .status. Nothing else of sincos: every other package
builds on this one.
"""

"""`sincos report`: one self-contained HTML page for a run, a set of runs or a sweep.

html (the page's primitives: every text from a folder is escaped here, in one place),
figures (the page's pictures), parts (what every page shares), run_page, set_page,
sweep_page.

May import: the store, stats, training and views.
"""

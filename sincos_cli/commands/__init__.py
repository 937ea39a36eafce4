"""The commands: they parse options, call the library, and print. One family a module, each
registered on the one Typer app by cli.py.

train (train), sweep (sweep), animate (animate), predict (predict), compare (compare),
report (report), store (show, rm, tag, note, baselines), common (the options and error
handling every command shares), output (the format flags and the one row writer: text, JSON,
CSV).

May import: anything in sincos_cli, inside the command's function when it is heavy, so
`sincos --help` loads neither torch, numpy nor matplotlib.
"""

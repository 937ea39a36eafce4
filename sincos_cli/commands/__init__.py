"""The commands, one family a module; cli.py registers them on the app."""

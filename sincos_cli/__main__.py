"""`python -m sincos_cli` is the `sincos` command."""

from .cli import main

main()

"""One file per command group; tito/cli.py composes them."""

"""`tito data`: placeholder group; its owner replaces this file."""

import typer

app = typer.Typer(help="(not built yet)", no_args_is_help=True)

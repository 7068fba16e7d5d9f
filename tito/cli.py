"""The tito command line: small command modules composed at the root."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tito import __version__
from tito.commands import export as export_cmd
from tito.console import disable_color

app = typer.Typer(
    name="tito",
    help="TinyTorch's course tool: export, test and complete modules, then run the milestones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"tito {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output without colour (also: NO_COLOR=1).")] = False,
) -> None:
    if no_color:
        disable_color()


app.command("export")(export_cmd.export)

# Command groups built by their own modules.
from tito.commands import data as data_cmd  # noqa: E402
from tito.commands import grade as grade_cmd  # noqa: E402
from tito.commands import milestone as milestone_cmd  # noqa: E402
from tito.commands import release as release_cmd  # noqa: E402

app.add_typer(milestone_cmd.app, name="milestone")
app.add_typer(data_cmd.app, name="data")
app.add_typer(release_cmd.app, name="release")
app.command("grade")(grade_cmd.grade)

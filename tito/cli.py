"""The tito command line: small command modules composed at the root."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.core

from tito import __version__
from tito.commands import data as data_cmd
from tito.commands import dev as dev_cmd
from tito.commands import export as export_cmd
from tito.commands import grade as grade_cmd
from tito.commands import milestone as milestone_cmd
from tito.commands import module as module_cmd
from tito.commands import release as release_cmd
from tito.commands import system as system_cmd
from tito.commands import test as test_cmd
from tito.console import disable_color


def _flags_render_as_flags() -> None:
    """Show flags in --help without a value type.

    typer 0.2x prints "<bool>" beside every flag (--help included), which reads as if the flag took a
    value. A flag takes none, so its type column is left empty. Other typer versions lack this method
    or already do the right thing, and are left alone.
    """
    option = getattr(typer.core, "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if option is None or original is None or getattr(original, "_tito_flag_fix", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None
        return original(self, ctx)

    display_type_rich._tito_flag_fix = True  # type: ignore[attr-defined]  # marks typer's method as patched
    option.display_type_rich = display_type_rich


_flags_render_as_flags()

app = typer.Typer(
    name="tito",
    help="TinyTorch's course tool: export, test and complete modules, then run the milestones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal width
)


def _version(value: bool) -> None:
    if value:
        print(f"tito {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Plain output without colour (also: NO_COLOR=1).")
    ] = False,
) -> None:
    if no_color:
        disable_color()


app.add_typer(module_cmd.app, name="module")
app.command("test")(test_cmd.run_tests)
app.command("export")(export_cmd.export)
app.add_typer(system_cmd.app, name="system")
app.add_typer(milestone_cmd.app, name="milestone")
app.add_typer(data_cmd.app, name="data")
app.add_typer(release_cmd.app, name="release")
app.command("grade")(grade_cmd.grade)
app.add_typer(dev_cmd.app, name="dev")

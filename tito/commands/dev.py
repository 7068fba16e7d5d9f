"""`tito dev new-module NN SLUG`: tools for the people who write the course."""

from __future__ import annotations

from typing import Annotated

import typer

from tito.commands.common import fail, load_course_or_exit
from tito.console import console
from tito.scaffold import ScaffoldError, plan_new_module, write_new_module

app = typer.Typer(help="Tools for course authors: add a module to the course.", no_args_is_help=True)


@app.command("new-module")
def new_module(
    module_id: Annotated[
        str, typer.Argument(metavar="NN", help="The new module's id: two digits, after the last module's.")
    ],
    slug: Annotated[
        str, typer.Argument(metavar="SLUG", help="Its slug: a lower-case Python name, such as normalization.")
    ],
) -> None:
    """Add a module: its course.yaml entry, its module file, its README and its tests folder."""
    course = load_course_or_exit()
    try:
        plan = plan_new_module(course, module_id, slug)
        written = write_new_module(course, plan)
    except ScaffoldError as exc:
        fail(str(exc), code=exc.code)
    except OSError as exc:
        fail(
            f"Could not write {exc.filename or 'a file'} ({exc.strerror}); nothing was added. Fix that, then run "
            f"`tito dev new-module {module_id} {slug}`."
        )
    out = console()
    out.print(
        f"Added module {plan.name} ({plan.title}), requiring {', '.join(plan.requires) or 'nothing'}:", markup=False
    )
    for path in written:
        out.print(f"  {course.shown(path)}", markup=False)
    source = course.shown(written[0])
    out.print(
        f"Fill in its course.yaml entry (title, hours), the lesson and solution in {source}, its README's objectives "
        f"and its tests (CONTRIBUTING.md has the checklist); then run `tito module complete {plan.id}`.",
        markup=False,
        soft_wrap=True,
    )

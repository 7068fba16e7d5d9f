"""Which course modules a milestone still needs before it can run.

A milestone trains on the framework the student wrote, so it can only run once the modules it
`requires` in course.yaml are done:

- student edition: a module counts when `tito module complete NN` has recorded it completed;
- reference edition (every solution filled in): a module counts when its package file has been
  exported, so the run never stops halfway with an ImportError.
"""

from __future__ import annotations

from tito.course import Course, Milestone, Module
from tito.exporter import is_exported
from tito.progress_store import ProgressStore


def missing_modules(course: Course, milestone: Milestone, store: ProgressStore | None = None) -> list[Module]:
    """The required modules that are not done yet, in course order (empty when the milestone may run)."""
    required = [course.module(key) for key in milestone.requires]
    if course.edition == "student":
        completed = (store or ProgressStore(course)).completed_ids()
        return [module for module in required if module.id not in completed]
    return [module for module in required if not is_exported(course, module)]


def missing_message(course: Course, milestone: Milestone, missing: list[Module]) -> str:
    """One paragraph naming each missing module and the command that completes it."""
    names = ", ".join(f"{m.id} {m.slug}" for m in missing)
    if course.edition == "student":
        return (
            f"Milestone {milestone.id} needs modules you have not completed yet: {names}. "
            f"Complete them in order, starting with `tito module complete {missing[0].id}`."
        )
    return (
        f"Milestone {milestone.id} needs modules that are not exported into tinytorch yet: {names}. "
        f"Run `tito export --all`, or `tito module complete {missing[0].id}`."
    )

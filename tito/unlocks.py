"""What a student may do next: module states, missing prerequisites and what a completion unlocks.

Everything here is computed from the manifest (each module's and milestone's `requires`) and the
progress record; nothing is stored.
"""

from __future__ import annotations

from tito.course import Course, Milestone, Module
from tito.progress_store import completed_ids, file_hash

STATES = ("locked", "ready", "started", "completed")


def missing_prerequisites(course: Course, completed: set[str], requires) -> list[Module]:
    """The required modules (by id) not completed yet, in course order."""
    return [course.module(module_id) for module_id in requires if module_id not in completed]


def module_state(course: Course, data: dict, module: Module) -> str:
    """completed, started, ready (prerequisites done) or locked."""
    entry = data["modules"].get(module.id) or {}
    if entry.get("status") in ("completed", "started"):
        return entry["status"]
    return "locked" if missing_prerequisites(course, completed_ids(data), module.requires) else "ready"


def changed_since_completion(module: Module, entry: dict | None) -> bool:
    """True when a completed module's file no longer matches the hash recorded at completion."""
    if not entry or entry.get("status") != "completed" or not entry.get("source_hash"):
        return False
    try:
        return file_hash(module.source) != entry["source_hash"]
    except OSError:
        return True


def unlocked_by(course: Course, before: set[str], module: Module) -> tuple[list[Module], list[Milestone]]:
    """Modules and milestones whose prerequisites became complete when `module` was completed."""
    after = before | {module.id}
    modules = [
        m for m in course.modules
        if m.id not in after
        and module.id in m.requires
        and not missing_prerequisites(course, after, m.requires)
    ]
    milestones = [
        ms for ms in course.milestones
        if module.id in ms.requires and not missing_prerequisites(course, after, ms.requires)
        and missing_prerequisites(course, before, ms.requires)
    ]
    return modules, milestones


def next_module(course: Course, data: dict) -> Module | None:
    """The first module, in course order, that is not completed and whose prerequisites are."""
    completed = completed_ids(data)
    for module in course.modules:
        if module.id not in completed and not missing_prerequisites(course, completed, module.requires):
            return module
    return None

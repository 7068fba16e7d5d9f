"""What is locked, ready, started, completed or achieved: the one rule, for modules and milestones.

A module or a milestone can be worked on once every module it `requires` is done. What "done" means
depends on the edition:

- student edition: `tito module complete NN` recorded the module completed (the student's own code
  passed its tests);
- reference edition: the module's package files are exported. Its files are the solutions, so an
  exported module is as good as a completed one, and a milestone that may run never stops halfway
  with an ImportError.

A module's own state is what the progress record says (completed or started), else ready or locked
by that rule; a milestone is achieved once a run reached its target, else ready or locked. Every
command that shows or uses these states asks a CourseState; nothing else decides them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tito.course import Course, Milestone, Module
from tito.exporter import is_exported
from tito.progress_record import completed_ids
from tito.progress_store import ProgressStore, file_hash

MODULE_STATES = ("locked", "ready", "started", "completed")
MILESTONE_STATES = ("locked", "ready", "achieved")


@dataclass(frozen=True)
class CourseState:
    """A course as it stands: its progress record and the modules that count as done."""

    course: Course
    record: dict  # the progress record (ProgressStore.read())
    done: frozenset[str]  # ids of the modules that count as done, by the rule above

    @classmethod
    def of(cls, course: Course, record: dict) -> CourseState:
        if course.edition == "student":
            done = completed_ids(record)
        else:
            done = {module.id for module in course.modules if is_exported(course, module)}
        return cls(course, record, frozenset(done))

    @classmethod
    def read(cls, course: Course, store: ProgressStore | None = None) -> CourseState:
        """The state now; raises ProgressError when the record cannot be read."""
        return cls.of(course, (store or ProgressStore(course)).read())

    @property
    def done_word(self) -> str:
        """What makes a module count as done in this edition: "completed" or "exported"."""
        return "completed" if self.course.edition == "student" else "exported"

    @property
    def completed(self) -> set[str]:
        """The modules whose completion is recorded (in either edition)."""
        return completed_ids(self.record)

    def missing(self, requires) -> list[Module]:
        """The required modules (by id) not done yet, in the order given."""
        return [self.course.module(key) for key in requires if key not in self.done]

    def module_entry(self, module: Module) -> dict:
        return self.record["modules"].get(module.id) or {}

    def module_state(self, module: Module) -> str:
        """completed or started (from the record), else ready (prerequisites done) or locked."""
        status = self.module_entry(module).get("status")
        if status in ("completed", "started"):
            return status
        return "locked" if self.missing(module.requires) else "ready"

    def milestone_entry(self, milestone: Milestone) -> dict:
        return self.record["milestones"].get(milestone.id) or {}

    def best_run(self, milestone: Milestone) -> dict | None:
        """The best run that reached the milestone's target, or None."""
        return self.milestone_entry(milestone).get("best")

    def milestone_state(self, milestone: Milestone) -> str:
        """achieved (a run reached its target), else ready (its modules are done) or locked."""
        if self.best_run(milestone):
            return "achieved"
        return "locked" if self.missing(milestone.requires) else "ready"

    def next_module(self) -> Module | None:
        """The first module, in course order, that is not completed (None once all are)."""
        completed = self.completed
        return next((module for module in self.course.modules if module.id not in completed), None)

    def pending_milestones(self) -> list[Milestone]:
        """The milestones not achieved yet, in course order."""
        return [milestone for milestone in self.course.milestones if not self.best_run(milestone)]

    def changed_since_completion(self, module: Module) -> bool:
        """True when a completed module's file no longer matches the hash recorded at completion."""
        entry = self.module_entry(module)
        if entry.get("status") != "completed" or not entry.get("source_hash"):
            return False
        try:
            return file_hash(module.source) != entry["source_hash"]
        except OSError:
            return True

    def why_locked(self, milestone: Milestone) -> str:
        """One line naming the modules a milestone still needs and the command that provides the first."""
        missing = self.missing(milestone.requires)
        names = ", ".join(f"{m.id} {m.slug}" for m in missing)
        if self.course.edition == "student":
            return (
                f"Milestone {milestone.id} needs modules you have not completed yet: {names}. "
                f"Complete them in order, starting with `tito module complete {missing[0].id}`."
            )
        return (
            f"Milestone {milestone.id} needs modules that are not exported into tinytorch yet: {names}. "
            f"Run `tito export --all`, or `tito module complete {missing[0].id}`."
        )


def unlocked(before: CourseState, after: CourseState) -> tuple[list[Module], list[Milestone]]:
    """The modules and milestones that were locked in `before` and are ready in `after`, in course order."""
    course = after.course
    modules = [m for m in course.modules if (before.module_state(m), after.module_state(m)) == ("locked", "ready")]
    milestones = [
        ms for ms in course.milestones if (before.milestone_state(ms), after.milestone_state(ms)) == ("locked", "ready")
    ]
    return modules, milestones

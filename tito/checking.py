"""Checking a module, the path `tito test` and `tito module complete` share.

To check a module: sync its paired notebook (whichever of the pair was saved last wins), make sure
its package tests exist and the modules it imports are exported, compile-check and export it (each
package file written atomically), then run its inline and package tests in a pytest subprocess.
`tito test --all` exports every module in one plan first (so the catalog is written once) and then
checks each with `export=False`. The grader does not come here: it exports each submission into a
copy of the course with the same exporter calls (`plan_export`, `write_plans`; see grading/kit.py)
and runs the module's grading checks there, not its tests.

`complete_module` is that check plus the record: only when every test passed, with inline and
package tests both run, is the completion recorded, with the test counts, the seconds taken and the
hash of the source that was tested. Otherwise the record is left as it was. The exported package
keeps the new code either way, exactly as `tito export` would leave it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tito import exporter, notebooks
from tito.course import Course, Milestone, Module
from tito.course_state import CourseState, unlocked
from tito.progress_store import ProgressStore, file_hash
from tito.testing import TestReport, require_tests, run_module_tests


class PrerequisiteError(Exception):
    """A module the checked one imports is not exported yet; the message names the command to run."""


@dataclass
class ModuleCheck:
    module: Module
    targets: list[Path]  # the package files this module exports to
    written: list[Path]  # those whose text changed
    report: TestReport
    seconds: float = 0.0
    notebook_note: str | None = None


@dataclass
class Completion(ModuleCheck):
    recorded: bool = False
    state: CourseState | None = None  # the course's state once the completion is recorded
    unlocked_modules: list[Module] = field(default_factory=list)
    unlocked_milestones: list[Milestone] = field(default_factory=list)


def unexported_prerequisites(course: Course, module: Module) -> list[Module]:
    """The modules `module` requires whose package files are not all written yet, in course order."""
    return [course.module(key) for key in module.requires if not exporter.is_exported(course, course.module(key))]


def prerequisites_to_export(course: Course, module: Module) -> list[Module]:
    """The unexported modules `module` requires. The reference edition exports them along with it (its
    files are the solutions); a student edition raises PrerequisiteError: they are the student's to do."""
    missing = unexported_prerequisites(course, module)
    if missing and course.edition == "reference":
        return missing
    if missing:
        names = ", ".join(m.name for m in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise PrerequisiteError(
            f"{module.name} builds on {names}, which {verb} not exported into tinytorch yet: run "
            f"`tito module complete {missing[0].id}` first."
        )
    return []


def check_module(
    course: Course,
    module: Module,
    *,
    timeout: float | None = None,
    export: bool = True,
    extra_args=(),
    stream: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> ModuleCheck:
    """Sync, export and test one module. Failing tests are not an exception: see `report.ok`.

    Raises NotebookError (the paired notebook could not be synced), MissingTestsError (no package
    tests), PrerequisiteError (a required module is not exported) or ExportError (the module does not
    compile or cannot be exported; nothing is written).
    """
    step = on_step or (lambda text: None)
    started = time.perf_counter()
    step("Syncing the paired notebook")
    note = notebooks.sync_newer(module)
    require_tests(course, module)
    prerequisites = prerequisites_to_export(course, module)
    written, targets = [], []
    if export:
        step("Compile-checking and exporting")
        plans = exporter.plan_export(course, [*prerequisites, module], strict_catalog=False)
        written = exporter.write_plans(course, plans)
        targets = [plan.target for plan in plans if plan.module is module]
    step("Running the inline and package tests")
    report = run_module_tests(course, module, timeout=timeout, extra_args=extra_args, stream=stream)
    return ModuleCheck(module, targets, written, report, round(time.perf_counter() - started, 2), note)


def complete_module(
    course: Course,
    module: Module,
    *,
    store: ProgressStore | None = None,
    before: CourseState | None = None,
    timeout: float | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Completion:
    """Check one module and record it completed when every test passed.

    `store` and `before` are the record and the state the caller already read, so the record is read
    once per command (the test run keeps its own copy to undo a test that changes it, and the
    completion is written under the store's lock). Raises ProgressError (the record is unusable;
    nothing is done) and whatever check_module raises.
    """
    store = store or ProgressStore(course)
    before = before or CourseState.read(course, store)  # an unusable record stops us before any work
    source_hash = file_hash(module.source) if module.source.exists() else ""
    checked = check_module(course, module, timeout=timeout, on_step=on_step)
    completion = Completion(**vars(checked))
    report = completion.report
    if report.ok:
        record = store.record_module_completed(
            module.id,
            passed=report.passed,
            failed=report.failed,
            skipped=report.skipped,
            seconds=report.seconds,
            source_hash=source_hash,
        )
        completion.recorded = True
        completion.state = CourseState.of(course, record)
        completion.unlocked_modules, completion.unlocked_milestones = unlocked(before, completion.state)
    return completion

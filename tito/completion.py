"""`tito module complete` as a library call: check, export, test, and record only on full success.

Completion is a transaction on the progress record: the module file is compile-checked and exported
(each package file written atomically), its inline and package tests run in a pytest subprocess, and
only when every test passed and at least one ran is the completion recorded, with the test counts,
the seconds taken and the hash of the source that was tested. Otherwise the record is left as it
was. The exported package keeps the new code either way, exactly as `tito export` would leave it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tito import exporter, notebooks
from tito.course import Course, Milestone, Module
from tito.progress import ProgressStore, completed_ids, file_hash
from tito.testing import TestReport, run_module_tests
from tito.unlocks import unlocked_by


@dataclass
class Completion:
    module: Module
    targets: list[Path]  # the package files this module exports to
    written: list[Path]  # those whose text changed
    report: TestReport
    recorded: bool
    seconds: float
    notebook_note: str | None = None
    unlocked_modules: list[Module] = field(default_factory=list)
    unlocked_milestones: list[Milestone] = field(default_factory=list)


def complete_module(
    course: Course,
    module: Module,
    *,
    store: ProgressStore | None = None,
    timeout: float | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Completion:
    """Run the completion transaction for one module.

    Raises ProgressError (the record is unusable; nothing is done), NotebookError (the paired
    notebook could not be synced) or ExportError (the module does not compile or cannot be
    exported; nothing is written). Failing tests are not an exception: see `Completion.recorded`.
    """
    step = on_step or (lambda text: None)
    started = time.perf_counter()
    store = store or ProgressStore(course)
    before = completed_ids(store.read())  # an unusable record stops us before any work

    step("Syncing the paired notebook")
    note = notebooks.sync_newer(module)

    step("Compile-checking and exporting")
    source_hash = file_hash(module.source) if module.source.exists() else ""
    plans = exporter.plan_export(course, [module], strict_catalog=False)
    written = exporter.write_plans(course, plans)
    targets = [plan.target for plan in plans if plan.module is not None]

    step("Running the inline and package tests")
    report = run_module_tests(course, module, timeout=timeout)

    completion = Completion(module, targets, written, report, recorded=False, seconds=0.0, notebook_note=note)
    if report.ok:
        store.record_module_completed(
            module.id,
            passed=report.passed,
            failed=report.failed,
            skipped=report.skipped,
            seconds=report.seconds,
            source_hash=source_hash,
        )
        completion.recorded = True
        if module.id not in before:
            completion.unlocked_modules, completion.unlocked_milestones = unlocked_by(course, before, module)
    completion.seconds = round(time.perf_counter() - started, 2)
    return completion

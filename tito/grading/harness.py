"""What runs inside one grading process: guard, export, run one module's tests, write the results.

The grader starts `python -I -c <bootstrap>` with the job (a dict) written into the bootstrap
itself, so nothing a submission could have changed on disk decides what the process does. The
bootstrap imports this file from tito's own installation, never from the submission's copy.

Two jobs:
- "grade": in a submission's copy, put up the sandbox guard (tito/grading/sandbox.py), export the
  module and the modules it requires, run the module's package tests in-process with a small plugin
  that records each test's outcome, and write them as JSON lines.
- "collect": in the instructor's course (trusted, no guard), list the test ids of each module, the
  fixed set that every submission is scored against.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

MESSAGE_CHARS = 300
# Plugins a graded run does without: the cache writes state, pytest-benchmark starts git on load,
# and hypothesis's plugin costs seconds per process (tests using @given still run without it).
QUIET_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest")


class Recorder:
    """A pytest plugin that keeps each test's outcome and the one line saying why it failed.

    With a `sink`, each outcome is also written there as a JSON line the moment it is known, so a
    run that is killed at its time limit still shows which tests passed before it hung.
    """

    def __init__(self, sink=None) -> None:
        self.sink = sink
        self.collect_errors: list[list[str]] = []
        self.collected: list[str] = []

    def emit(self, entry: dict) -> None:
        if self.sink is not None:
            self.sink.write(json.dumps(entry) + "\n")
            self.sink.flush()

    def pytest_collection_finish(self, session) -> None:
        self.collected = [item.nodeid for item in session.items]

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collect_errors.append([report.nodeid or "(collection)", _reason(report)])
            self.emit({"collect_error": f"{report.nodeid or '(collection)'}: {_reason(report)}"})

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" and report.passed:
            self.emit({"test": report.nodeid, "outcome": "passed"})
        elif report.failed:
            kind = "failed" if report.when == "call" else "error"
            self.emit({"test": report.nodeid, "outcome": kind, "reason": _reason(report)})
        elif report.skipped:
            self.emit({"test": report.nodeid, "outcome": "skipped", "reason": _reason(report)})


def _reason(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and getattr(crash, "message", ""):
        text = crash.message
    elif isinstance(getattr(report, "longrepr", None), tuple):  # skips: (file, line, reason)
        text = str(report.longrepr[-1])
    else:
        lines = [line for line in str(getattr(report, "longreprtext", "") or "").splitlines() if line.strip()]
        errors = [line[1:].strip() for line in lines if line.startswith("E ")]
        text = (errors or lines or [""])[-1]
    text = " ".join(text.split())
    return text[:MESSAGE_CHARS]


def _preimport() -> None:
    """Import what the run needs while nothing is guarded (numpy loads C libraries through ctypes)."""
    import ctypes  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import yaml  # noqa: F401

    import tito.course  # noqa: F401
    import tito.exporter  # noqa: F401
    import tito.grading.sandbox  # noqa: F401


def export_modules(course_root: Path, module_ids: list[str]) -> dict[str, str]:
    """Export the given modules' files; return {module id: error} for those that do not compile."""
    from tito import exporter
    from tito.course import load_course

    course = load_course(course_root)
    problems: dict[str, str] = {}
    plans = []
    for module in [course.module(module_id) for module_id in module_ids]:
        try:
            plans.extend(exporter.plan_module(course, module))
        except exporter.ExportError as exc:
            problems[module.id] = str(exc)
    try:
        plans.append(exporter.plan_catalog(course))
    except exporter.ExportError:
        pass  # the copy keeps the release's catalog, which names the same things
    exporter.write_plans(course, plans)
    return problems


def grade(job: dict) -> None:
    from tito.grading import sandbox

    sys.dont_write_bytecode = True
    _preimport()
    import pytest

    course_root = job["course"]
    sink = open(job["result"], "w", encoding="utf-8")
    log_fd = os.open(job["refusals"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sandbox.limit_resources(job["cpu_seconds"], job.get("memory_bytes"), job["file_bytes"])
    sandbox.install(
        sandbox.Policy(
            writable=tuple(job["writable"]),
            hidden=tuple(job["hidden"]),
            readable=tuple(job["readable"]),
            log_fd=log_fd,
        )
    )
    recorder = Recorder(sink)
    try:
        os.chdir(course_root)
        sys.path.insert(0, course_root)
        for module_id, problem in export_modules(Path(course_root), job["export"]).items():
            recorder.emit({"export_error": f"module {module_id}: {problem}"})
        # No tracebacks: the report keeps one line per failure, and formatting hundreds of
        # tracebacks took 37 s of a 40 s run of module 09's suite against starter code.
        args = ["-q", "--tb=no", "-rN", *QUIET_PLUGINS, f"--rootdir={course_root}", *job["tests"]]
        code = int(pytest.main(args, plugins=[recorder]))
        recorder.emit({"end": True, "exit_code": code})
    except BaseException as exc:  # sys.exit at import time, a crash in the harness, anything
        recorder.emit({"crash": f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS]})
        recorder.emit({"end": True, "exit_code": None})
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # no atexit handlers: a submission may have registered one that never returns


def collect(job: dict) -> None:
    import pytest

    sys.dont_write_bytecode = True
    os.chdir(job["course"])
    sys.path.insert(0, job["course"])
    result: dict = {"tests": {}, "errors": {}}
    for module_id, paths in job["modules"].items():
        recorder = Recorder()
        pytest.main(["-q", "--collect-only", *QUIET_PLUGINS, f"--rootdir={job['course']}", *paths], plugins=[recorder])
        result["tests"][module_id] = recorder.collected
        if recorder.collect_errors:
            result["errors"][module_id] = recorder.collect_errors
    _write_json(job["result"], result)


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def main(job: dict) -> None:
    try:
        (grade if job["mode"] == "grade" else collect)(job)
    except BaseException:
        traceback.print_exc()
        raise

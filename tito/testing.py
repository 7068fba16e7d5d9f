"""Run one course module's tests in a pytest subprocess and read the results from a JSON report.

What is tested comes from the manifest, not from naming conventions: the module file itself (its
inline `test_*` functions, passed to pytest explicitly) and the module's package test folder,
`tests/NN_slug/` (course.Module.tests), whose tests must carry the module's marker (`m01`). A pytest
plugin (tito/pytest_plugins/outcomes.py) writes each test's outcome to a JSON file, which is what tito
reads; pytest's text output is only kept to explain a crash.

The subprocess runs in the course root with that root first on its import path, so the tests import
the course tree's `tinytorch`, never another installed copy (the plugin checks and reports otherwise).
It runs under a time limit enforced on its whole process tree, and ends with tito however tito ends
(tito/process_tree.py).

A pass is a whole run. A second small plugin (tito/pytest_plugins/session.py) writes how far pytest got:
the test running now (named when the time limit stops it) and whether its loop ran to the end. The
report counts only when the loop finished, pytest exited 0, and every collected test has an outcome;
a test that raised KeyboardInterrupt, called pytest.exit or rewrote the report does not count, nor
does a run whose tests deleted or rewrote the progress record (put back), nor one that left a
process running (ended by tito).

    from tito.course import load_course
    from tito.testing import run_module_tests
    course = load_course()
    report = run_module_tests(course, course.module("01"), timeout=300)
    print(report.summary(), report.failures)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tito import files, process_tree
from tito.course import Course, Module
from tito.progress_store import ProgressError, ProgressStore

REPORT_PLUGIN = "tito.pytest_plugins.outcomes"
SESSION_PLUGIN = "tito.pytest_plugins.session"
# Seconds for one module's tests unless course.yaml or --timeout says otherwise: an instructor's
# reference runs everything; a student's module takes seconds, and an endless loop should not cost 10 min.
DEFAULT_TIMEOUT = 600.0
STUDENT_TIMEOUT = 120.0
OUTPUT_TAIL = 4000
REPORT_LIMIT = 64 * 1024**2  # bytes of the JSON report tito will read


class MissingTestsError(Exception):
    """A module's package test folder is missing: nothing could prove the module works."""


@dataclass(frozen=True)
class Failure:
    """One test that did not pass, or one error outside any test (collection, a missing marker)."""

    test_id: str
    kind: str  # inline, package, other, or "" for errors outside a test
    outcome: str  # failed, error
    exception: str  # "AssertionError", "NotImplementedError", or "" when unknown
    message: str
    where: str  # "modules/01_tensor/tensor.py:226": where to look
    function: str = ""  # "Tensor.mean": the student's function the failure points to, when known


@dataclass
class TestReport:
    """The outcome of one module's tests. `ok` means all passed, with inline and package tests both run."""

    __test__ = False  # not a pytest test class, despite the name

    module: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    inline: int = 0  # tests collected from the module file
    inline_passed: int = 0
    package: int = 0  # tests collected from tests/NN_slug/
    package_passed: int = 0
    exit_code: int | None = None
    timed_out: bool = False
    timeout: float | None = None
    output: str = ""  # the tail of pytest's own output, kept to explain a crash
    whole: bool = True  # every test was selected (no -k): then inline and package tests must both run
    incomplete: str | None = None  # why the run did not run to its end, when it did not
    running: str = ""  # what was running when the time limit stopped it ("tests/...::test_x", "collecting ...")
    left_running: int = 0  # processes the tests left running after they ended (tito ended them)
    threads_left: int = 0  # threads the tests left running, which would have held pytest open
    state_changed: str | None = None  # what a test did to tito's progress record (tito put it back)

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    @property
    def ok(self) -> bool:
        return self.problem() is None

    def problem(self) -> str | None:
        """One sentence saying why the run is not ok, or None when it is."""
        if self.timed_out:
            where = f" while {self.running} ran" if self.running else ""
            if self.running.startswith("collecting "):
                where = f" while pytest was {self.running} (importing it)"
            return (
                f"the tests of {self.module} reached the time limit of {self.timeout:g} s{where} and were "
                "stopped: look for an endless loop or a wait there, in particular in code that runs when the "
                "module is imported"
            )
        if self.state_changed:
            return f"{self.state_changed}: tests must leave tito's state alone, so this run does not count"
        if self.incomplete:
            return self.incomplete
        if self.failed or self.errors:
            parts = [f"{self.failed} failed"] if self.failed else []
            parts += [f"{self.errors} error{'s' if self.errors != 1 else ''}"] if self.errors else []
            return f"{' and '.join(parts)} in the tests of {self.module}"
        if self.passed == 0:
            return f"no tests ran for {self.module}, so nothing proves it works"
        if not self.whole:
            return None
        if self.inline == 0:
            return f"the module file of {self.module} has no inline tests (test_unit_* functions) that ran"
        if self.package == 0:
            return f"the package tests of {self.module} (tests/{self.module}/) collected no tests"
        return self._left_running()

    def _left_running(self) -> str | None:
        if self.threads_left:
            return (
                f"the tests of {self.module} passed but left {self.threads_left} thread(s) running after they "
                "ended (tito ended the test process): a test must end (join) every thread it starts"
            )
        if not self.left_running:
            return None
        return (
            f"the tests of {self.module} passed but left {self.left_running} process(es) running after they "
            "ended (tito ended them): a test must end every process it starts"
        )

    def summary(self) -> str:
        """ "15 of 87 tests passed (inline 5 of 5, package 10 of 82)": counts that cannot be misread."""
        total = self.passed + self.failed + self.skipped
        text = f"{self.passed} of {total} tests passed (inline {self.inline_passed} of {self.inline}, "
        text += f"package {self.package_passed} of {self.package})"
        if self.skipped:
            text += f", {self.skipped} skipped"
        if self.errors:
            text += f", {self.errors} error{'s' if self.errors != 1 else ''} outside the tests"
        return text + f" in {self.seconds:g} s"


def pytest_command(
    course: Course, module: Module, report_path: Path, extra_args=(), session_path: Path | None = None
) -> list[str]:
    """The command line `run_module_tests` runs (in the course root)."""
    targets = [path for path in (module.source, module.tests) if path.exists()]
    command = [sys.executable, "-m", "pytest", *(str(path) for path in targets)]
    command += ["-p", REPORT_PLUGIN, "--tito-report", str(report_path), "--tito-marker", module.marker]
    if session_path is not None:
        command += ["-p", SESSION_PLUGIN, "--tito-session", str(session_path)]
    command += ["--tito-inline", str(module.source), "--tito-suite", str(module.tests)]
    command += ["--tito-package", str(course.package_root), f"--rootdir={course.root}"]
    command += ["-p", "no:cacheprovider", "-p", "no:benchmark", "-q", "--continue-on-collection-errors", *extra_args]
    return command


def test_environment(course: Course) -> dict:
    """The subprocess environment: the course root first on the import path."""
    env = dict(os.environ)
    paths = [str(course.root)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def module_timeout(module: Module, timeout: float | None = None, edition: str = "reference") -> float:
    """The time limit for a module's tests: --timeout, else course.yaml's `timeout`, else 120 s in a
    student edition and 600 s in the reference."""
    default = STUDENT_TIMEOUT if edition == "student" else DEFAULT_TIMEOUT
    return float(timeout or getattr(module, "timeout", None) or default)


def require_tests(course: Course, module: Module) -> None:
    """Refuse to test a module whose package test folder is missing (MissingTestsError)."""
    if not module.tests.is_dir():
        shown = course.shown(module.tests)
        raise MissingTestsError(
            f"{shown}/ is missing, so nothing can prove {module.name} works: restore the folder from your "
            f"course (for example `git checkout -- {shown}`), then run the command again."
        )


def run_module_tests(
    course: Course, module: Module, *, timeout: float | None = None, extra_args=(), stream: bool = False
) -> TestReport:
    """Run `module`'s inline tests and its tests/NN_slug/ suite; never raises for failing tests.

    `timeout` (seconds) stops the whole test process tree; `extra_args` go to pytest as they are;
    `stream=True` lets pytest print to the terminal instead of capturing its output.
    The caller has checked that the package test folder exists (`require_tests`, which
    checking.check_module calls before it exports anything).
    """
    record = _hold_record(course)
    limit = module_timeout(module, timeout, course.edition)
    result = TestReport(module=module.name, timeout=limit, whole=not extra_args)
    workdir = Path(tempfile.mkdtemp(prefix="tito-test-"))
    report_path, session_path = workdir / "report.json", workdir / "session.json"
    try:
        finished = process_tree.run(
            pytest_command(course, module, report_path, extra_args, session_path),
            cwd=course.root,
            env=test_environment(course),
            timeout=result.timeout,
            capture=not stream,
        )
        result.seconds = round(finished.seconds, 2)
        result.output = finished.output[-OUTPUT_TAIL:]
        result.exit_code, result.timed_out = finished.exit_code, finished.timed_out
        result.left_running = finished.left_running
        result.state_changed = record.keep_held() if record is not None else None
        session = _read_json(session_path)
        session = session if isinstance(session, dict) else {}
        _read_report(result, report_path, str(session.get("current") or "")[:300])
        _check_whole(result, session)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _hold_record(course: Course) -> ProgressStore | None:
    """The progress record as it is before the tests run, so a test that deletes or rewrites it is
    caught and undone (ProgressStore.keep_held); None when there is no usable record to keep."""
    store = ProgressStore(course)
    try:
        store.read()
    except ProgressError:
        return None
    return store


def _error(result: TestReport, test_id: str, message: str) -> None:
    result.errors += 1
    result.failures.append(Failure(test_id, "", "error", "", message, ""))


def _read_json(path: Path):
    """A JSON file the test run wrote, or None when it is missing, too big or not JSON."""
    try:
        return json.loads(files.read_bytes(path, limit=REPORT_LIMIT))
    except (OSError, ValueError, RecursionError):
        return None


def _check_whole(result: TestReport, session: dict) -> None:
    """A pass is a whole run: pytest's loop ran to its end and every collected test has an outcome."""
    result.running = str(session.get("current") or "")[:300]
    left = session.get("threads_left")
    result.threads_left = left if isinstance(left, int) and not isinstance(left, bool) and left > 0 else 0
    if result.timed_out or result.failed or result.errors:
        return
    collected = session.get("collected")
    counted = result.passed + result.failed + result.skipped
    if counted == 0 and collected in (0, None) and result.exit_code in (0, 5):
        return  # nothing was collected: problem() says no tests ran
    if session.get("finished") is not True or result.exit_code != 0:
        where = f" during {result.running}" if result.running else ""
        result.incomplete = (
            f"the tests of {result.module} stopped before their end{where} (pytest exit code "
            f"{result.exit_code}, {counted} of {collected if isinstance(collected, int) else 'the'} collected "
            "tests reported): a test raised KeyboardInterrupt, called pytest.exit or sys.exit, or ended the "
            "test process; only a whole run counts"
        )
    elif not isinstance(collected, int) or isinstance(collected, bool) or collected != counted:
        result.incomplete = (
            f"the tests of {result.module} reported {counted} outcomes for {collected} collected tests, so "
            "the run cannot be trusted: a test changed pytest's reporting or tito's report file"
        )


def _read_report(result: TestReport, report_path: Path, running: str = "") -> None:
    if result.timed_out:
        _error(result, result.module, f"stopped at the time limit of {result.timeout:g} s")
        return
    data = _read_json(report_path)
    if not isinstance(data, dict) and result.exit_code is not None and result.exit_code < 0:
        _killed(result, -result.exit_code, running)
        return
    if not isinstance(data, dict):
        tail = "\n".join(result.output.strip().splitlines()[-15:])
        _error(result, result.module, f"pytest exited with code {result.exit_code} without a report:\n{tail}".rstrip())
        return
    try:
        _count(result, data)
    except (KeyError, TypeError, ValueError, AttributeError):
        _error(result, result.module, "tito's report of the test run was changed or damaged by a test; nothing counts")


def _killed(result: TestReport, signum: int, running: str) -> None:
    """The test process died of a signal (os.abort, a crash in C code, a kill): say which, and where."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    where = f" while {running} ran" if running else ""
    test_file = running.split("::", 1)[0] if "::" in running else ""
    message = f"the test process was killed by {name}{where} (os.abort, a crash in C code, or a kill); nothing counts"
    result.errors += 1
    result.failures.append(Failure(running or result.module, "", "error", "", message, test_file))


OUTCOMES = ("passed", "failed", "skipped", "error")


def _count(result: TestReport, data: dict) -> None:
    fields = ("id", "kind", "outcome", "message")
    for entry in [*data["tests"], *data["errors"]]:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(name, ""), str) for name in fields):
            raise TypeError("not a test entry")
    if any(test["outcome"] not in OUTCOMES for test in data["tests"]):
        raise ValueError("unknown outcome")
    for test in data["tests"]:
        outcome, kind = test["outcome"], test["kind"]
        if outcome == "passed":
            result.passed += 1
        elif outcome == "skipped":
            result.skipped += 1
        else:
            if outcome == "failed":
                result.failed += 1
            else:
                result.errors += 1
            result.failures.append(
                Failure(
                    test["id"],
                    kind,
                    outcome,
                    test.get("exception", ""),
                    test["message"],
                    test.get("where", ""),
                    test.get("function", ""),
                )
            )
        if kind in ("inline", "package"):
            setattr(result, kind, getattr(result, kind) + 1)
            if outcome == "passed":
                setattr(result, f"{kind}_passed", getattr(result, f"{kind}_passed") + 1)
    for error in data["errors"]:
        result.errors += 1
        result.failures.append(
            Failure(
                error["id"],
                "",
                "error",
                error.get("exception", ""),
                error["message"],
                error.get("where", ""),
                error.get("function", ""),
            )
        )
    # pytest's own usage errors (exit 3 internal, 4 usage) leave no tests behind; say so.
    if result.exit_code in (3, 4) and not data["tests"] and not data["errors"]:
        tail = "\n".join(result.output.strip().splitlines()[-10:])
        _error(result, result.module, f"pytest stopped with code {result.exit_code}:\n{tail}")

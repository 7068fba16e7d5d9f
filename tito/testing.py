"""Run one course module's tests in a pytest subprocess and read the results from a JSON report.

What is tested comes from the manifest, not from naming conventions: the module file itself (its
inline `test_*` functions, passed to pytest explicitly) and the module's folder `tests/NN_slug/`,
whose tests must carry the module's marker (`m01`). A small pytest plugin
(tito/pytest_report/tito_report_plugin.py) writes each test's outcome to a JSON file, which is what
tito reads; pytest's text output is only kept to explain a crash.

The subprocess runs in the course root with that root first on its import path, so the tests import
the course tree's `tinytorch`, never another installed copy (the plugin checks and reports otherwise).

    from tito.course import load_course
    from tito.testing import run_module_tests
    course = load_course()
    report = run_module_tests(course, course.module("01"), timeout=300)
    print(report.passed, report.failed, report.failures)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import Course, Module

PLUGIN_DIR = Path(__file__).resolve().parent / "pytest_report"
PLUGIN = "tito_report_plugin"
OUTPUT_TAIL = 4000


@dataclass
class TestReport:
    """The outcome of one module's tests. `ok` means every test passed and at least one ran."""

    __test__ = False  # not a pytest test class, despite the name

    module: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test id, assertion message)
    inline: int = 0  # tests collected from the module file
    package: int = 0  # tests collected from tests/NN_slug/
    exit_code: int | None = None
    timed_out: bool = False
    output: str = ""  # the tail of pytest's own output, kept to explain a crash

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors == 0 and self.passed > 0 and not self.timed_out

    def problem(self) -> str | None:
        """One sentence saying why the run is not ok, or None when it is."""
        if self.timed_out:
            return f"the tests of {self.module} did not finish within the time limit"
        if self.failed or self.errors:
            parts = [f"{self.failed} failed"] if self.failed else []
            parts += [f"{self.errors} error{'s' if self.errors != 1 else ''}"] if self.errors else []
            return f"{' and '.join(parts)} in the tests of {self.module}"
        if self.passed == 0:
            return f"no tests ran for {self.module}, so nothing proves it works"
        return None


def pytest_command(course: Course, module: Module, report_path: Path, extra_args=()) -> list[str]:
    """The command line `run_module_tests` runs (in the course root)."""
    targets = [path for path in (module.source, module.tests) if path.exists()]
    command = [sys.executable, "-m", "pytest", *(str(path) for path in targets)]
    command += ["-p", PLUGIN, "--tito-report", str(report_path), "--tito-marker", module.marker]
    command += ["--tito-inline", str(module.source), "--tito-suite", str(module.tests)]
    command += ["--tito-package", str(course.package_root), f"--rootdir={course.root}"]
    command += ["-p", "no:cacheprovider", "-p", "no:benchmark", "-q", *extra_args]
    return command


def test_environment(course: Course) -> dict:
    """The subprocess environment: the course root first on the import path, then the plugin."""
    env = dict(os.environ)
    paths = [str(course.root), str(PLUGIN_DIR)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_module_tests(
    course: Course, module: Module, *, timeout: float | None = None, extra_args=(), stream: bool = False
) -> TestReport:
    """Run `module`'s inline tests and its tests/NN_slug/ suite; never raises for failing tests.

    `timeout` (seconds) stops the whole test process tree; `extra_args` go to pytest as they are;
    `stream=True` lets pytest print to the terminal instead of capturing its output.
    """
    result = TestReport(module=module.name)
    if not module.source.exists() and not module.tests.exists():
        result.errors = 1
        result.failures.append((module.name, f"neither {module.source} nor {module.tests} exists"))
        return result

    workdir = Path(tempfile.mkdtemp(prefix="tito-test-"))
    report_path = workdir / "report.json"
    started = time.perf_counter()
    try:
        output, result.exit_code, result.timed_out = _run(
            pytest_command(course, module, report_path, extra_args),
            cwd=course.root,
            env=test_environment(course),
            timeout=timeout,
            stream=stream,
        )
        result.seconds = round(time.perf_counter() - started, 2)
        result.output = output[-OUTPUT_TAIL:]
        _read_report(result, report_path, timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _run(command, *, cwd, env, timeout, stream) -> tuple[str, int | None, bool]:
    """Run a command in its own process group; on timeout, kill the whole group."""
    capture = None if stream else subprocess.PIPE
    popen_args = {"start_new_session": True} if os.name == "posix" else {}
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=capture, stderr=subprocess.STDOUT if capture else None,
        text=True, errors="replace", **popen_args,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        return output or "", process.returncode, False
    except subprocess.TimeoutExpired:
        _kill(process)
        output, _ = process.communicate()
        return output or "", None, True
    except BaseException:  # Ctrl-C: do not leave a test process running
        _kill(process)
        process.wait()
        raise


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _read_report(result: TestReport, report_path: Path, timeout: float | None) -> None:
    if result.timed_out:
        result.errors += 1
        result.failures.append((result.module, f"timed out after {timeout:g} s; the test process was stopped"))
        return
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = "\n".join(result.output.strip().splitlines()[-15:])
        result.errors += 1
        result.failures.append(
            (result.module, f"pytest exited with code {result.exit_code} without a report:\n{tail}".rstrip())
        )
        return
    for test in data["tests"]:
        outcome = test["outcome"]
        if outcome == "passed":
            result.passed += 1
        elif outcome == "skipped":
            result.skipped += 1
        elif outcome == "failed":
            result.failed += 1
            result.failures.append((test["id"], test["message"]))
        else:
            result.errors += 1
            result.failures.append((test["id"], test["message"]))
        if test["kind"] == "inline":
            result.inline += 1
        elif test["kind"] == "package":
            result.package += 1
    for error in data["errors"]:
        result.errors += 1
        result.failures.append((error["id"], error["message"]))
    # pytest's own usage errors (exit 3 internal, 4 usage) leave no tests behind; say so.
    if result.exit_code in (3, 4) and not data["tests"] and not data["errors"]:
        result.errors += 1
        tail = "\n".join(result.output.strip().splitlines()[-10:])
        result.failures.append((result.module, f"pytest stopped with code {result.exit_code}:\n{tail}"))

"""A pytest plugin that writes every test's outcome to a JSON file, for tito to read.

tito runs a module's tests in a pytest subprocess and reads this report instead of scraping pytest's
text. Options (all given by tito/testing.py):
  --tito-report PATH    where to write the JSON report
  --tito-inline FILE    a module file whose test functions are the module's inline tests
  --tito-suite DIR      the module's package test folder; every test in it must carry the marker
  --tito-marker NAME    the module's marker (m01); inline tests get it, suite tests must have it
  --tito-package DIR    the tinytorch package the tests must import (the course tree's)

Each failure carries its exception's name, its message, `function`: the student's function it points
to (see calls.py), and `where`: that function's line in the module file, else the student's line it
passed through (see locations.py), else the place it was raised.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest

from tito.linemap import source_location
from tito.pytest_plugins import locations
from tito.pytest_plugins.calls import CallRecorder, Functions, blame
from tito.pytest_plugins.course import CHECKS_MARKER

MESSAGE_LINES = 12


def pytest_addoption(parser):
    group = parser.getgroup("tito", "tito's structured test report")
    group.addoption("--tito-report", default=None, help="Write a JSON report of outcomes here.")
    group.addoption("--tito-inline", action="append", default=[], help="A module file (inline tests).")
    group.addoption("--tito-suite", action="append", default=[], help="A module's package test folder.")
    group.addoption("--tito-marker", default=None, help="The module's marker, such as m01.")
    group.addoption("--tito-package", default=None, help="The tinytorch folder tests must import.")


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("tito.pytest_plugins.locations"):
        config.pluginmanager.register(locations, "tito.pytest_plugins.locations")
    if config.getoption("tito_report"):
        config.addinivalue_line("markers", CHECKS_MARKER)
        config.pluginmanager.register(Recorder(config), "tito-recorder")


TRACEBACK = "Traceback (most recent call last):"
FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')


def _without_tracebacks(text: str, rootdir: str) -> str:
    """A message that carries a Python traceback as text (a test that ran code in a subprocess and
    failed with its output) keeps only the exception's line and the student's line it passed through:
    a student reads one line, not a raw traceback of generated files."""
    if TRACEBACK not in text:
        return text
    before, _, rest = text.partition(TRACEBACK)
    lines = rest.splitlines()
    place, last, indent = None, 0, 0
    for index, line in enumerate(lines):
        frame = FRAME.match(line)
        if frame:
            last, indent = index, len(line) - len(line.lstrip())
            path, number = source_location(frame[1], int(frame[2]))
            shown = os.path.relpath(path, rootdir) if os.path.isabs(path) else path
            if shown.replace(os.sep, "/").startswith("modules/"):
                place = f"{shown.replace(os.sep, '/')}:{number}"
    ending = next(  # the exception's own line: the first one after the last frame, indented less
        (line.strip() for line in lines[last + 1 :] if line.strip() and len(line) - len(line.lstrip()) < indent),
        "an exception",
    )
    where = f" at {place}" if place else ""
    return f"{before.strip()} {ending} (raised in a subprocess{where})".strip()


def _short(text: str) -> str:
    lines = [line.rstrip() for line in str(text).strip().splitlines()]
    if len(lines) > MESSAGE_LINES:
        lines = lines[:MESSAGE_LINES] + ["..."]
    return "\n".join(lines)


def _where(report, rootdir: str) -> str:
    """The student's module file and line the failure passed through, else where it was raised."""
    found = getattr(report, "student_location", None)
    if found:
        return found
    crash = getattr(report.longrepr, "reprcrash", None)
    places = [(crash.path, crash.lineno)] if crash is not None and crash.path else []
    entries = getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", None) or []
    for entry in reversed(entries):  # the deepest first
        location = getattr(entry, "reprfileloc", None)
        if location is not None:
            places.append((location.path, location.lineno))
    for path, line in places:  # the first inside the course: never a line of pytest's or tito's own
        shown = os.path.relpath(path, rootdir) if os.path.isabs(path) else path
        if not shown.startswith(".."):
            return f"{shown.replace(os.sep, '/')}:{line}"
    return ""


def failure(report, rootdir: str) -> dict:
    """The exception's name, its message and where to look, for a failed or skipped report."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        return {"exception": "", "message": str(longrepr[2]), "where": f"{longrepr[0]}:{longrepr[1]}"}
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else (str(longrepr).strip().splitlines() or ["failed"])[-1]
    exception = getattr(report, "exception_name", "")
    if exception and text.startswith(exception + ": "):
        text = text[len(exception) + 2 :]
    elif not exception:  # a collection error: pytest gives only text, "Name: message" at best
        name, _, rest = text.partition(": ")
        if name.replace(".", "").isidentifier():
            exception, text = name.rsplit(".", 1)[-1], rest
    text = _without_tracebacks(text, rootdir)
    return {"exception": exception, "message": _short(text), "where": _where(report, rootdir)}


class Recorder:
    def __init__(self, config):
        self.config = config
        self.rootdir = str(config.rootpath)
        self.path = Path(config.getoption("tito_report"))
        self.inline = {Path(p).resolve() for p in config.getoption("tito_inline")}
        self.suites = [Path(p).resolve() for p in config.getoption("tito_suite")]
        self.marker = config.getoption("tito_marker")
        self.package = config.getoption("tito_package")
        self.tests: dict[str, dict] = {}
        self.kinds: dict[str, str] = {}  # node id -> inline / package / other
        self.errors: list[dict] = []
        self.started = time.perf_counter()
        self.functions = Functions(self.rootdir)
        self.calls = CallRecorder(self.functions)
        self.failing: dict[str, dict] = {}  # test id -> what its traceback says, for calls.blame
        if self.marker:
            config.addinivalue_line("markers", f"{self.marker}: tests of course module {self.marker[1:]}")

    def _kind(self, path: Path) -> str:
        path = Path(path).resolve()
        if path in self.inline:
            return "inline"
        if any(suite == path or suite in path.parents for suite in self.suites):
            return "package"
        return "other"

    def pytest_sessionstart(self, session):
        if not self.package:
            return
        spec = importlib.util.find_spec("tinytorch")
        found = Path(spec.origin).resolve().parent if spec and spec.origin else None
        if found != Path(self.package).resolve():
            self.errors.append(
                {
                    "id": "tinytorch",
                    "exception": "",
                    "where": "",
                    "message": f"the tests would import tinytorch from {found}, not the course tree's {self.package}",
                }
            )

    def pytest_collectreport(self, report):
        if report.failed:
            locations.rewrite(report.longrepr)
            error = {"id": report.nodeid or "collection", **failure(report, self.rootdir)}
            place = self._student_place(report.longrepr)
            if place is not None:  # the student's line that ran while the file was imported
                error["function"], error["where"] = place
            self.errors.append(error)

    def _student_place(self, longrepr) -> tuple[str, str] | None:
        """(function, "modules/...py:LINE") of the deepest module-file entry of a failure's report."""
        chain = getattr(longrepr, "chain", None)
        tracebacks = [element[0] for element in chain] if chain else [getattr(longrepr, "reprtraceback", None)]
        found = None
        for reprtraceback in tracebacks:
            for entry in getattr(reprtraceback, "reprentries", None) or []:
                location = getattr(entry, "reprfileloc", None)
                if location is None:
                    continue
                path = location.path
                shown = os.path.relpath(path, self.rootdir) if os.path.isabs(path) else path
                shown = shown.replace(os.sep, "/")
                if shown.startswith("modules/"):
                    found = (shown, location.lineno)
        if found is None:
            return None
        name = self.functions.function_at(found[0], found[1])
        return name or "", f"{found[0]}:{found[1]}"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        for item in items:
            kind = self.kinds[item.nodeid] = self._kind(item.path)
            if kind == "inline" and self.marker:
                item.add_marker(self.marker)
            elif kind == "package" and self.marker and item.get_closest_marker(self.marker) is None:
                self.errors.append(
                    {
                        "id": item.nodeid,
                        "exception": "",
                        "where": item.nodeid.split("::")[0],
                        "message": f"has no {self.marker} marker: add `pytestmark = pytest.mark.{self.marker}` to its file",
                    }
                )

    def _record_calls(self, item):
        """Around a test's setup and its call: which module-file functions they reach (calls.py)."""
        self.calls.start(item.nodeid)
        try:
            yield
        finally:
            self.calls.stop()

    pytest_runtest_setup = pytest.hookimpl(hookwrapper=True)(_record_calls)
    pytest_runtest_call = pytest.hookimpl(hookwrapper=True)(_record_calls)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if call.excinfo is not None and outcome.get_result().failed and call.when != "teardown":
            marker = item.get_closest_marker("checks")
            self.failing[item.nodeid] = {
                "frames": self.functions.frames(call.excinfo.tb),
                "exception": call.excinfo.typename,
                "checks": list(marker.args) if marker else [],
            }

    def _blame(self) -> None:
        """Point each failing test at the student function most likely to hold its bug (calls.py)."""
        failing = {
            key: info
            for key, info in self.failing.items()
            if self.tests.get(key, {}).get("outcome") in ("failed", "error")
        }
        passing = {key for key, entry in self.tests.items() if entry["outcome"] == "passed"}
        home = {os.path.relpath(path, self.rootdir).replace(os.sep, "/") for path in self.inline}
        called = {function.path for functions in self.calls.calls.values() for function in functions}
        last = max((path.split("/")[1] for path in home), default=None)
        later = {path for path in called if last is not None and path.split("/")[1] > last}
        for key, suspect in blame(failing, passing, self.calls.calls, self.functions, home, later).items():
            self.tests[key]["function"] = suspect.function.name
            self.tests[key]["where"] = suspect.where

    def pytest_runtest_logreport(self, report):
        entry = self.tests.setdefault(
            report.nodeid,
            {
                "id": report.nodeid,
                "kind": self.kinds.get(report.nodeid, "other"),
                "outcome": "passed",
                "exception": "",
                "message": "",
                "where": "",
            },
        )
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if hasattr(report, "wasxfail"):
                outcome = "skipped" if report.skipped else "passed"
            elif report.when == "setup" and report.failed:
                outcome = "error"
            else:
                outcome = report.outcome
            entry["outcome"] = outcome
            if outcome != "passed":
                entry.update(failure(report, self.rootdir))
        elif report.when == "teardown" and report.failed and entry["outcome"] == "passed":
            entry["outcome"] = "error"
            entry.update(failure(report, self.rootdir))
        entry["seconds"] = round(entry.get("seconds", 0.0) + report.duration, 4)

    def pytest_sessionfinish(self, session, exitstatus):
        self._blame()
        report = {
            "exitstatus": int(exitstatus),
            "seconds": round(time.perf_counter() - self.started, 3),
            "tests": list(self.tests.values()),
            "errors": self.errors,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

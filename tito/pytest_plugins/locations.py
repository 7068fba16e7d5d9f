"""Every location pytest shows is in the file the student edits.

The tests run the generated package (`tinytorch/tensor.py`), but the student edits the module
file (`modules/01_tensor/tensor.py`). Through the line map each generated file ends with
(tito/linemap.py), this plugin rewrites the file and line of every traceback entry pytest reports,
and works out `student_location`: the deepest place in a module file that the failure passed
through, which is where a person should start looking.
"""

from __future__ import annotations

import os
import traceback

import pytest

from tito.linemap import source_location

MODULE_FILES = "modules" + os.sep


def student_location(tb, rootdir: str) -> str | None:
    """ "modules/NN_slug/slug.py:LINE" of the deepest frame in a module file (directly or through the
    package's line map), or None when the failure never passed through one."""
    found = None
    for frame in traceback.extract_tb(tb):
        path, line = source_location(frame.filename, frame.lineno)
        shown = os.path.relpath(path, rootdir) if os.path.isabs(path) else path
        if shown.startswith(MODULE_FILES) or shown.startswith("modules/"):
            found = f"{shown.replace(os.sep, '/')}:{line}"
    return found


def _rewrite_entries(reprtraceback) -> None:
    for entry in getattr(reprtraceback, "reprentries", None) or []:
        location = getattr(entry, "reprfileloc", None)
        if location is None:
            continue
        path, line = source_location(location.path, location.lineno)
        if path != location.path:
            location.path, location.lineno = path, line


def rewrite(longrepr) -> None:
    """Map every file:line of a failure report (chained exceptions included) to the module file."""
    chain = getattr(longrepr, "chain", None)
    parts = (
        [(element[0], element[1]) for element in chain]
        if chain
        else [(getattr(longrepr, "reprtraceback", None), getattr(longrepr, "reprcrash", None))]
    )
    for reprtraceback, crash in parts:
        _rewrite_entries(reprtraceback)
        if crash is not None and getattr(crash, "path", None):
            crash.path, crash.lineno = source_location(crash.path, crash.lineno)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        report.exception_name = call.excinfo.typename
        report.student_location = student_location(call.excinfo.tb, str(item.config.rootpath))
        rewrite(report.longrepr)

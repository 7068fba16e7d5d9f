"""A module file run as a script: every inline test with a line each, then the demonstrations, then a tally.

Each module file ends with

    if __name__ == "__main__":
        from tito.chapter import run_chapter

        run_chapter(globals())

and each demonstration cell calls `demo(function)` instead of `function()`. In a notebook a
demonstration runs where it stands; run as a script (`python modules/02_activations/activations.py`)
it waits until every test has run, so an unwritten stub or a bug never stops the file before its
tests. The run prints one line per test:

    PASSED  test_unit_relu: relu clips negatives to zero ...      (what the test printed)
    NOT YET test_unit_softmax: needs softmax                      (a stub the test reached)
    FAILED  test_unit_mean: AssertionError: ... (Tensor.mean, line 354)

then `Module 02: 5 of 7 inline tests passed` and the functions still to write. A script exits 1 while
any test fails, so a shell can tell; in a notebook the tally is shown and nothing exits.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import traceback
from pathlib import Path

STUB = re.compile(r'raise NotImplementedError\("TinyTorch \d+: implement ([\w.]+)"\)')
_waiting: list = []  # demonstrations deferred until the tests have run (script runs only)


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def demo(function) -> None:
    """Run a demonstration now in a notebook, or after the tests when the file runs as a script."""
    if _in_notebook():
        _run_demo(function)
    else:
        _waiting.append(function)


def unwritten(error: BaseException) -> str | None:
    """ "softmax" from a stub's "TinyTorch 02: implement softmax"; None for any other error."""
    text = str(error)
    return text.split("implement ", 1)[1] if text.startswith("TinyTorch ") and "implement " in text else None


def _run_demo(function) -> None:
    try:
        function()
    except NotImplementedError as error:
        print(f"({function.__name__} needs {unwritten(error) or 'unwritten code'}: write it, then run this again)")
    except Exception as error:  # a demonstration never stops the file; the tests report what is wrong
        print(f"({function.__name__} stopped: {type(error).__name__}: {_first_line(error)})")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _place(error: BaseException, path: str) -> str:
    """ "(Tensor.mean, line 354)": the deepest line of this file the error passed through."""
    here = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == path]
    if not here:
        return ""
    frame = here[-1]
    return f" ({frame.name}, line {frame.lineno})" if not frame.name.startswith("test_") else f" (line {frame.lineno})"


def run_tests(namespace: dict) -> tuple[int, int, list[str]]:
    """Run every test_unit_* function of `namespace` in file order: (passed, total, unwritten names)."""
    path = namespace.get("__file__", "")
    tests = [value for name, value in namespace.items() if name.startswith("test_unit_") and callable(value)]
    passed, missing = 0, []
    for test in tests:
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said):
                test()
        except NotImplementedError as error:
            name = unwritten(error)
            if name and name not in missing:
                missing.append(name)
            print(f"NOT YET {test.__name__}: needs {name or _first_line(error)}")
        except Exception as error:
            print(f"FAILED  {test.__name__}: {type(error).__name__}: {_first_line(error)}{_place(error, path)}")
        else:
            passed += 1
            told = " ".join(said.getvalue().split())
            print(f"PASSED  {test.__name__}" + (f": {told}" if told else ""))
    return passed, len(tests), missing


def stubs_in(path: str) -> list[str]:
    """Every function of a module file that is still a stub, in file order."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):  # a notebook has no file to read: the failing tests named them
        return []
    return list(dict.fromkeys(STUB.findall(text)))


def run_chapter(namespace: dict) -> int:
    """Run the tests, then the demonstrations, print the tally; exit with 1 in a script if a test failed."""
    path = namespace.get("__file__", "")
    folder = Path(path).parent if path else Path.cwd()  # a notebook has no __file__; it runs in its folder
    number = folder.name.split("_", 1)[0] if folder.name[:2].isdigit() else "??"
    passed, total, missing = run_tests(namespace)
    while _waiting:
        _run_demo(_waiting.pop(0))
    print(f"Module {number}: {passed} of {total} inline tests passed")
    missing = stubs_in(path) or missing
    if missing:
        print("Still to write: " + ", ".join(missing))
    status = 0 if passed == total and total else 1
    if not _in_notebook():
        sys.exit(status)
    return status

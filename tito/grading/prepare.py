"""Reading a student's file before its run: the starter check and the export, in a child process.

Both parse the student's text (`ast.parse`, `compile`, walks of the tree), and text can be built to
make that slow or deep: a line nested 5,000 brackets deep, dead code 1,200 attributes long. So the
grader never does it in its own process. Each file is prepared in a child forked from a small
forkserver (cheap: no interpreter start per file), under its own CPU, memory and wall-clock limits;
whatever happens there (RecursionError, MemoryError, a crash of the interpreter, a time-out) becomes
this one file's outcome, and the grader goes on with the next.

Before any of that, in the grader: a file with a line longer than `MAX_LINE` characters is refused
unread (see `long_line`), so no parser ever sees it.
"""

from __future__ import annotations

import importlib.machinery
import multiprocessing
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tito.course import Module

MAX_LINE = 10_000  # characters in one line of a module file; longer lines are refused before parsing
CPU_SECONDS = 30
MEMORY_BYTES = 2 * 1024**3
WALL_SECONDS = 60.0

_context = None


@dataclass(frozen=True)
class Prepared:
    """What became of a file: "ok" (work/package/tinytorch is ready), "starter", "export" (with the
    exporter's message) or "failed" (the child ran out of its limits or crashed: `message` says which)."""

    outcome: str
    message: str = ""


def long_line(data: bytes) -> int | None:
    """The 1-based number of the first line longer than MAX_LINE characters (bytes: a UTF-8
    character is at least one), or None. Linear in the file's size."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if len(line) > MAX_LINE and len(line.decode("utf-8", "replace")) > MAX_LINE:
            return number
    return None


def prepare(template: Path, module: Module, text: bytes, starter: str, work: Path) -> Prepared:
    """Run `_prepare` in a child under the limits above; never raises for anything the text does."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tito.grading.prepare", "tito.grading.kit", "tito.grading.starter"])
    receive, send = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(send, template, module, text, starter, work), daemon=True)
    _start_without_main(child)
    send.close()
    try:
        if receive.poll(WALL_SECONDS):
            try:
                outcome, message = receive.recv()
                return Prepared(str(outcome), str(message))
            except (EOFError, OSError, ValueError, TypeError):
                pass
            child.join(5)
            return Prepared("failed", _died(child.exitcode))
        return Prepared("failed", f"reading it took longer than {WALL_SECONDS:g} s")
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
        child.close()


_starting = threading.Lock()


def _start_without_main(child) -> None:
    """Start `child` without multiprocessing importing the grader's main script again in it.

    multiprocessing re-imports `__main__` in every child it starts (for `tito grade`, the whole CLI:
    it doubled the time of preparing a file). A main module whose spec is named "__main__" is one it
    leaves alone, so the spec says that while the child starts (under a lock: the grader's threads
    start children at once)."""
    main = sys.modules["__main__"]
    with _starting:
        spec = getattr(main, "__spec__", None)
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
        try:
            child.start()
        finally:
            main.__spec__ = spec


def _died(code: int | None) -> str:
    if code is not None and code < 0:
        return f"reading it stopped the reader (signal {-code}): it is too large or too deeply nested"
    return "reading it ran out of memory or recursion depth: it is too large or too deeply nested"


def _child(send, template: Path, module: Module, text: bytes, starter: str, work: Path) -> None:
    import resource
    import sys

    for kind, value in ((resource.RLIMIT_CPU, CPU_SECONDS), (resource.RLIMIT_AS, MEMORY_BYTES)):
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass
    sys.setrecursionlimit(3000)
    try:
        result = _prepare(template, module, text, starter, work)
    except RecursionError:
        result = ("failed", "reading it ran out of recursion depth: it is too deeply nested")
    except MemoryError:
        result = ("failed", "reading it ran out of memory: it is too large or too deeply nested")
    except Exception as exc:  # noqa: BLE001 - one file's failure, reported as that file's
        result = ("failed", f"reading it failed ({type(exc).__name__})")
    send.send(result)
    send.close()
    os._exit(0)


def _prepare(template: Path, module: Module, text: bytes, starter: str, work: Path) -> tuple[str, str]:
    from tito import exporter
    from tito.course import CourseError
    from tito.grading.kit import export_copy, readable_by_all
    from tito.grading.starter import unchanged_from_starter

    if unchanged_from_starter(text.decode("utf-8", "replace"), starter):
        return "starter", ""
    course_copy = work / "stage"
    (work / "scratch").mkdir(parents=True, exist_ok=True)
    try:
        export_copy(template, module, text, course_copy)
    except (exporter.ExportError, CourseError) as exc:
        return "export", str(exc)
    (work / "package").mkdir()
    os.replace(course_copy / "tinytorch", work / "package" / "tinytorch")
    shutil.rmtree(course_copy)
    readable_by_all(work / "package")
    return "ok", ""

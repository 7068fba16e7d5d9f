"""Which student function a failing test points to, for tests nobody annotated.

A test that fails on its own assertion names no student function: `assert y.shape == (2, 3)` could be
the fault of any function the test called. So while tito's tests run, this plugin records which
functions of the module files each test called (a call hook that looks at each code object once), and
when the run is over it picks, for each failing test, the student function most likely to hold the bug:

- the function a stub raised `NotImplementedError` in, when that is how the test failed;
- else, of the functions the test called, the one whose tests fail most often: failing tests over
  calling tests plus one (so a function called by one failing test does not outrank one that fails
  two hundred), then the number of failing tests that called it. A function that fails every test
  calling it is the suspect; a helper that also serves passing tests is not. This is spectrum-based
  fault localisation: it needs no annotation, and it follows a failure out of given code (gradcheck,
  the engine) to the student's operation that fed it.

The candidates, narrowed in turn while any remain: functions exported into the package (not the module
file's test helpers or demonstrations) of modules up to the one being tested (autograd's wrappers
never count against module 01); functions the student writes (holding a solution block, or a stub in
a student edition's starter copy), not the given helpers they call; the module being tested. Ties go
to a function the traceback passed through, then to the outer call: the function the test called,
rather than a helper of the student's that only it calls (a helper with tests of its own is told
apart by them). A test may name the functions it checks,
`@pytest.mark.checks("Tensor.mean")`; then only those are candidates.

The answer is a function (its qualified name) and a place: the deepest line of the traceback inside
that function, else its `def` line, in the module file the student edits.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass

from tito.linemap import read_map, source_location

MISSING = object()
TEST_PREFIX = "test_"
# Called to show a failure (pytest's assertion message), so they are called by failing tests only.
DISPLAY = ("__repr__", "__str__", "__format__")
ASSERTION_REPORT = os.path.join("_pytest", "assertion", "")
# What a rewritten `assert` calls once it has failed, to explain itself (its import hook, in the same
# folder, runs on any import and is no sign of a failure).
EXPLAINING = {"_call_reprcompare", "_saferepr", "_format_assertmsg", "_format_boolop", "_format_explanation"}
SOLUTION = "### BEGIN SOLUTION"  # a function the student writes, in the reference edition
STUB = 'raise NotImplementedError("TinyTorch'  # the same, in a student edition's starter copy


@dataclass(frozen=True)
class Function:
    path: str  # "modules/01_tensor/tensor.py"
    name: str  # "Tensor.mean"

    def __str__(self) -> str:
        return f"{self.path}::{self.name}"


class Functions:
    """Maps code objects and traceback frames to the module-file function they belong to."""

    def __init__(self, rootdir: str):
        self.rootdir = rootdir
        self.by_code: dict = {}
        self.ranges: dict[str, dict[str, tuple[int, int]]] = {}
        self.exported_lines: dict[str, set[int]] | None = None
        self.student: dict[str, set[str]] = {}

    def _relative(self, path: str) -> str | None:
        if not os.path.isabs(path):
            shown = path
        else:
            try:
                shown = os.path.relpath(path, self.rootdir)
            except ValueError:
                return None
        shown = shown.replace(os.sep, "/")
        return shown if shown.startswith("modules/") else None

    def of_code(self, code) -> Function | None:
        found = self.by_code.get(code, MISSING)
        if found is MISSING:
            found = self.by_code[code] = self._of_code(code)
        return found  # type: ignore[return-value]

    def _of_code(self, code) -> Function | None:
        path, _line = source_location(code.co_filename, code.co_firstlineno)
        shown = self._relative(path)
        if shown is None:
            return None
        name = getattr(code, "co_qualname", code.co_name).split(".<locals>", 1)[0]
        last = name.rsplit(".", 1)[-1]
        if name.startswith("<") or last.startswith(TEST_PREFIX) or last in DISPLAY:
            return None
        return Function(shown, name)

    def frames(self, tb) -> list[tuple[Function, int]]:
        """(function, module-file line) of each traceback entry in a module file, outermost first."""
        found = []
        while tb is not None:
            function = self.of_code(tb.tb_frame.f_code)
            if function is not None:
                _path, line = source_location(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
                found.append((function, int(line or 0)))
            tb = tb.tb_next
        return found

    def written_by_student(self, path: str) -> set[str]:
        """The functions of a module file the student writes: those holding a solution block in the
        file (the reference edition), or a stub in the edition's starter copy (a student edition).
        Empty when neither can be read: then every exported function counts."""
        if path not in self.student:
            names: set[str] = set()
            folder, name = path.split("/")[-2:]
            starter = os.path.join(self.rootdir, ".tito", "starter", folder, name)
            for candidate, mark in ((os.path.join(self.rootdir, path), SOLUTION), (starter, STUB)):
                names |= _holding(candidate, mark)
            self.student[path] = names
        return self.student[path]

    def is_student(self, function: Function) -> bool:
        names = self.written_by_student(function.path)
        return function.name in names if names else self.exported(function)

    def exported(self, function: Function) -> bool:
        """Whether `function` is exported into the package (student code), not a test helper or demo."""
        line = self.def_line(function)
        return line is not None and line in self._exported_lines(function.path)

    def _exported_lines(self, path: str) -> set[int]:
        if self.exported_lines is None:
            self.exported_lines = {}
            package = os.path.join(self.rootdir, "tinytorch")
            for folder, _dirs, files in os.walk(package):
                for name in files:
                    mapping = read_map(os.path.join(folder, name)) if name.endswith(".py") else None
                    if mapping is not None:
                        lines = self.exported_lines.setdefault(mapping.source, set())
                        for first, last, start in mapping.runs:
                            lines.update(range(start, start + last - first + 1))
        return self.exported_lines.get(path, set())

    def function_at(self, path: str, line: int) -> str | None:
        """The qualified name of the innermost function of a module file holding `line`."""
        if path not in self.ranges:
            self.ranges[path] = _ranges(os.path.join(self.rootdir, path))
        holding = [(first, name) for name, (first, last) in self.ranges[path].items() if first <= line <= last]
        return max(holding)[1] if holding else None

    def def_line(self, function: Function) -> int | None:
        """The line of `def` for `function` in its module file (None when it cannot be found)."""
        if function.path not in self.ranges:
            self.ranges[function.path] = _ranges(os.path.join(self.rootdir, function.path))
        found = self.ranges[function.path].get(function.name)
        return found[0] if found else None


def _holding(path: str, mark: str) -> set[str]:
    """The functions of a Python file with a line starting with `mark` (after indentation)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle.read().splitlines()]
    except (OSError, ValueError):
        return set()
    marked = [number for number, line in enumerate(lines, 1) if line.startswith(mark)]
    found = set()
    for name, (first, last) in _ranges(path).items():
        if any(first <= number <= last for number in marked):
            found.add(name)
    # a method holds its own mark; a class or an outer function does not claim its inner ones
    return {name for name in found if not any(other.startswith(name + ".") for other in found)}


def _ranges(path: str) -> dict[str, tuple[int, int]]:
    """{qualified name: (first line, last line)} of every function in a Python file."""
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[str, tuple[int, int]] = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = (child.lineno, child.end_lineno or child.lineno)
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


class CallRecorder:
    """Records, per test, the module-file functions it called (setup and call phases), each with the
    depth of the stack at its first call (a caller is shallower than the helpers it calls)."""

    def __init__(self, functions: Functions):
        self.functions = functions
        self.calls: dict[str, dict[Function, int]] = {}
        self._current: dict[Function, int] | None = None

    def _trace(self, frame, event, arg):
        code = frame.f_code
        if code.co_name in EXPLAINING and ASSERTION_REPORT in code.co_filename:
            self._current = None  # pytest explains a failed assert: what it calls is no suspect
            return None
        function = self.functions.of_code(frame.f_code)
        if function is not None and self._current is not None and function not in self._current:
            depth, outer = 0, frame.f_back
            while outer is not None:
                depth, outer = depth + 1, outer.f_back
            self._current[function] = depth
        return None  # no line events: only calls are seen

    def start(self, nodeid: str) -> None:
        self._current = self.calls.setdefault(nodeid, {})
        self._previous = sys.gettrace()
        sys.settrace(self._trace)

    def stop(self) -> None:
        sys.settrace(self._previous)
        self._current = None


@dataclass
class Suspect:
    function: Function
    where: str


def blame(
    failing: dict[str, dict],
    passing: set[str],
    calls: dict[str, dict[Function, int]],
    functions: Functions,
    home: set[str],
    later: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Suspect]:
    """{failing test id: the student function it points to}, for the tests that called one.

    `failing` maps a test id to {"frames": [(Function, line), ...], "exception": name, "checks": [names]};
    `home` holds the module files being tested (their functions come first), `later` the module files
    of modules that come after them in the course (never candidates).
    """
    failed_by: dict[Function, int] = {}
    passed_by: dict[Function, int] = {}
    for test in failing:
        for function in calls.get(test, ()):
            failed_by[function] = failed_by.get(function, 0) + 1
    for test in passing:
        for function in calls.get(test, ()):
            passed_by[function] = passed_by.get(function, 0) + 1

    suspects: dict[str, Suspect] = {}
    considered: dict[str, set[Function]] = {}
    for test, info in failing.items():
        frames: list[tuple[Function, int]] = info.get("frames") or []
        depths = calls.get(test, {})
        candidates = {f for f in set(depths) | {f for f, _ in frames} if f.path not in later and functions.exported(f)}
        checks = info.get("checks") or []
        if checks:
            named = {f for f in candidates if f.name in checks or f.name.rsplit(".", 1)[-1] in checks}
            candidates = named or candidates
        candidates = {f for f in candidates if functions.is_student(f)} or candidates
        candidates = {f for f in candidates if f.path in home} or candidates
        if not candidates:
            continue
        if info.get("exception") != "NotImplementedError":
            considered[test] = candidates if not checks else set()
        in_traceback = {function for function, _ in frames}
        # an error (not a failed assert) raised in the student's own code: the innermost such function
        raised = next((f for f, _ in reversed(frames) if f in candidates), None)
        if info.get("exception") in (None, "AssertionError"):
            raised = None
        if frames and info.get("exception") == "NotImplementedError":
            chosen = frames[-1][0]
        else:

            def score(function: Function, in_traceback=in_traceback, raised=raised) -> tuple:
                failed = failed_by.get(function, 1)
                share = failed / (failed + passed_by.get(function, 0) + 1)
                return (
                    round(share, 3),
                    failed,
                    function == raised,
                    function in in_traceback,
                    -depths.get(function, 10**6),
                    function.name,
                )

            chosen = max(candidates, key=score)
        suspects[test] = _suspect(chosen, frames, functions)

    def share(function: Function) -> tuple:
        failed = failed_by.get(function, 0)
        traced = sum(any(f == function for f, _ in info.get("frames") or []) for info in failing.values())
        return (traced, failed / (failed + passed_by.get(function, 0) + 1), failed, function.name)

    common = _common_cause(suspects, considered, share)
    if common is not None:
        for test, candidates in considered.items():
            if common in candidates:
                suspects[test] = _suspect(common, failing[test].get("frames") or [], functions)
    return suspects


def _suspect(chosen: Function, frames: list[tuple[Function, int]], functions: Functions) -> Suspect:
    lines = [line for function, line in frames if function == chosen]
    line = lines[-1] if lines else functions.def_line(chosen)
    return Suspect(chosen, f"{chosen.path}:{line}" if line else chosen.path)


def _common_cause(suspects: dict[str, Suspect], considered: dict[str, set[Function]], rank) -> Function | None:
    """One student function behind failures that the ranking spread over several suspects, or None.

    Spectrum ranking blames the function called mostly by failing tests. A bug in a function that many
    passing tests also call (an output-size formula wrong only with padding, the engine's loop) makes
    its callers look guiltier, and one bug shows as many groups. When one suspect was called by every
    failing test that was ranked (not a stub's; a test naming its functions with `checks` only names
    suspects), that suspect explains them all: it is the common cause (if several, the one more failing
    tests' tracebacks passed through, then the best ranked).
    Suspects that share no suspect stay apart: three wrong backward rules are three groups, not one
    blamed on the engine they all went through.
    """
    named = {suspects[test].function for test in considered}
    ranked = [candidates for candidates in considered.values() if candidates]
    if len(named) < 2 or not ranked:
        return None
    among = set.intersection(*ranked) & named
    return max(among, key=rank) if among else None

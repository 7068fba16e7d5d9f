"""Grade a folder of submissions against the reference course, one guarded process at a time.

For each module of each student, a fresh temporary copy of the course's student edition receives
the student's module files; a new process, started in its own process group with a time limit,
puts up the sandbox guard, exports the files and runs the module's package tests. What a process
does cannot reach the next one: every run gets its own copy, and the process group is killed when
the run ends or overruns. Students are graded in parallel, `workers` at a time.

A student is scored against the test ids the instructor's course collects for the module
(tests/NN_slug/), so a submission cannot raise its score by adding tests or lower the bar by
breaking collection: a test that did not pass, for whatever reason, counts as failed. The
student's own inline `test_unit_*` functions live in their file, so they are not counted.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import tito
from tito.course import Course, Module
from tito.files import atomic_write
from tito.release import ReleaseError, build_student_edition

DEFAULT_TIMEOUT = 120.0  # seconds for one module's tests
MEMORY_BYTES = 4 * 1024**3
FILE_BYTES = 64 * 1024**2
MAX_MODULE_FILE = 2 * 1024**2
MAX_RESULT_BYTES = 8 * 1024**2
OUTPUT_TAIL = 1500

BOOTSTRAP = """\
import sys
sys.path.insert(0, {tool!r})
from tito.grading import harness
sys.path.remove({tool!r})
harness.main({job!r})
"""


class GradingError(Exception):
    """Grading cannot start; the message says what to fix."""


class SubmissionsError(GradingError):
    """The folders given to grade are unusable (a usage error)."""


@dataclass
class ModuleGrade:
    """One student's result for one module."""

    module: Module
    expected: list[str]  # the reference's test ids: the denominator
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (outcome, reason)
    source: str | None = None  # the student's file that was graded, relative to their folder
    notes: list[str] = field(default_factory=list)  # why tests did not run: timeout, crash, export
    refusals: list[str] = field(default_factory=list)  # what the sandbox stopped
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for test in self.expected if self.outcomes.get(test, ("",))[0] == "passed")

    @property
    def failed(self) -> int:
        return len(self.expected) - self.passed

    @property
    def score(self) -> float:
        return self.passed / len(self.expected) if self.expected else 0.0

    def failing(self) -> list[tuple[str, str]]:
        """(test id, why) for every expected test that did not pass."""
        rows = []
        for test in self.expected:
            outcome, reason = self.outcomes.get(test, ("not run", ""))
            if outcome != "passed":
                rows.append((test, f"{outcome}: {reason}" if reason else outcome))
        return rows


@dataclass
class StudentGrade:
    name: str
    folder: Path
    modules: list[ModuleGrade] = field(default_factory=list)


@dataclass
class _Run:
    """What every student's runs share: the clean course copy, the test ids, the guard's folders."""

    course: Course
    base: Path  # the student edition every run starts from
    temp: Path
    expected: dict[str, list[str]]
    modules: list[Module]
    hidden: tuple[str, ...]
    readable: tuple[str, ...]
    timeout: float
    tool: str  # the folder holding the `tito` package the processes import
    keep_temp: bool = False
    groups: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: bool = False


# --- finding submissions -------------------------------------------------------------------------


def find_students(submissions: Path) -> list[Path]:
    """One folder per student; names starting with '.' or '_' are not students."""
    folders = [p for p in sorted(submissions.iterdir()) if p.is_dir() and not p.is_symlink()]
    return [p for p in folders if not p.name.startswith((".", "_"))]


def find_module_file(folder: Path, module: Module) -> Path | None:
    """The student's file for `module`: a course copy's modules/NN_slug/slug.py, NN_slug/slug.py,
    slug.py or NN_slug.py in their folder. Symlinks and files outside the folder are ignored."""
    candidates = [
        folder / "modules" / module.name / f"{module.slug}.py",
        folder / module.name / f"{module.slug}.py",
        folder / f"{module.slug}.py",
        folder / f"{module.name}.py",
    ]
    root = folder.resolve()
    for path in candidates:
        if path.is_symlink() or not path.is_file():
            continue
        resolved = path.resolve()
        if root not in resolved.parents:
            continue
        return path
    return None


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "student"


# --- the grading run -----------------------------------------------------------------------------


def grade_submissions(
    course: Course,
    submissions: Path,
    out: Path,
    *,
    modules: list[Module] | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_temp: bool = False,
    on_graded: Callable[[StudentGrade], None] | None = None,
) -> list[StudentGrade]:
    """Grade every student folder in `submissions`; write grades.csv and reports/ into `out`."""
    if os.name != "posix":
        raise GradingError("tito grade needs Linux or macOS: it stops each test run by its process group.")
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise SubmissionsError(f"{submissions} is not a folder: give the folder holding one folder per student.")
    if out == submissions or submissions in out.parents:
        raise SubmissionsError(f"{out} is inside {submissions}; write the grades somewhere else (--out).")
    students = find_students(submissions)
    if not students:
        raise SubmissionsError(f"{submissions} has no student folders: put each submission in its own folder.")
    chosen = list(modules or course.modules)
    temp = Path(tempfile.mkdtemp(prefix="tito-grade-")).resolve()
    run = None
    try:
        base = temp / "base"
        try:
            build_student_edition(course, base, check_leaks=False)
        except ReleaseError as exc:
            raise GradingError(f"cannot make the clean course copy to grade in: {exc}") from None
        parallel = max(1, workers or os.cpu_count() or 1)
        expected = collect_expected(course, chosen, temp, timeout, parallel)
        run = _Run(
            course=course,
            base=base,
            temp=temp,
            expected=expected,
            modules=[m for m in chosen if expected.get(m.id)],
            hidden=tuple(str(p) for p in {course.root.resolve(), submissions, out, temp}),
            readable=_interpreter_folders(),
            timeout=timeout,
            tool=str(Path(tito.__file__).resolve().parent.parent),
            keep_temp=keep_temp,
        )
        if not run.modules:
            raise GradingError("none of the chosen modules has package tests in tests/NN_slug/ to grade with.")
        grades: list[StudentGrade] = []
        names = _unique_names(students)
        pool = ThreadPoolExecutor(max_workers=parallel)
        try:
            futures = [pool.submit(_grade_student, run, folder, names[folder]) for folder in students]
            for future in futures:
                grade = future.result()
                grades.append(grade)
                if on_graded:
                    on_graded(grade)
        except BaseException:  # Ctrl-C or a bug: stop every running test process, start no more
            run.stopping = True
            pool.shutdown(wait=False, cancel_futures=True)
            _kill_all(run)
            raise
        pool.shutdown()
        write_grades(out, grades)
        for grade in grades:
            write_report(out, grade)
        return grades
    finally:
        if run is not None:
            _kill_all(run)
        if not keep_temp:
            shutil.rmtree(temp, ignore_errors=True)


def _unique_names(students: list[Path]) -> dict[Path, str]:
    names: dict[Path, str] = {}
    used: set[str] = set()
    for folder in students:
        name, counter = safe_name(folder.name), 1
        while name in used:
            counter += 1
            name = f"{safe_name(folder.name)}-{counter}"
        used.add(name)
        names[folder] = name
    return names


def _interpreter_folders() -> tuple[str, ...]:
    """Folders a guarded process must keep reading: the standard library, site-packages, tito."""
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    paths.add(str(Path(tito.__file__).resolve().parent))
    return tuple(sorted(os.path.realpath(p) for p in paths if p))


def collect_expected(
    course: Course, modules: list[Module], temp: Path, timeout: float, workers: int = 1
) -> dict[str, list[str]]:
    """The package test ids of each module in the instructor's course (trusted, so no guard).

    One process per module, as `tito test` does: test files of different modules may share a name.
    """
    chosen = [m for m in modules if m.tests.is_dir()]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = list(pool.map(lambda m: _collect_module(course, m, temp, timeout), chosen))
    return {module.id: tests for module, tests in zip(chosen, found)}


def _collect_module(course: Course, module: Module, temp: Path, timeout: float) -> list[str]:
    result = temp / f"expected-{module.id}.json"
    paths = {module.id: [module.tests.relative_to(course.root).as_posix()]}
    job = {"mode": "collect", "course": str(course.root), "modules": paths, "result": str(result)}
    tool = str(Path(tito.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TITO_COURSE_ROOT": str(course.root)}
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", BOOTSTRAP.format(tool=tool, job=job)],
            cwd=course.root, env=env, capture_output=True, text=True, timeout=max(timeout, 60),
        )
    except subprocess.TimeoutExpired:
        raise GradingError(
            f"collecting the tests of module {module.id} did not finish; run `tito test {module.id}` to see why."
        ) from None
    if done.returncode != 0 or not result.exists():
        tail = (done.stdout + done.stderr).strip()[-OUTPUT_TAIL:]
        raise GradingError(f"collecting the tests of module {module.id} failed:\n{tail}")
    data = json.loads(result.read_text(encoding="utf-8"))
    if data["errors"]:
        errors = data["errors"][module.id]
        raise GradingError(
            f"the reference tests of module {module.id} do not collect ({errors[0][0]}: {errors[0][1]}); "
            f"fix them (run `tito test {module.id}`) before grading."
        )
    return data["tests"][module.id]


def _grade_student(run: _Run, folder: Path, name: str) -> StudentGrade:
    grade = StudentGrade(name=name, folder=folder)
    files: dict[str, tuple[str, bytes]] = {}  # module id -> (where, contents)
    for module in run.course.modules:
        path = find_module_file(folder, module)
        if path is None:
            continue
        data = _read_regular(path, MAX_MODULE_FILE)
        if data is not None:
            files[module.id] = (path.relative_to(folder).as_posix(), data)
    for module in run.modules:
        if run.stopping:
            break
        grade.modules.append(_grade_module(run, name, module, files))
    return grade


def _grade_module(run: _Run, name: str, module: Module, files: dict[str, tuple[str, bytes]]) -> ModuleGrade:
    result = ModuleGrade(module=module, expected=list(run.expected[module.id]))
    if module.id in files:
        result.source = files[module.id][0]
    else:
        result.notes.append(
            f"no {module.slug}.py found (looked for modules/{module.name}/{module.slug}.py, "
            f"{module.name}/{module.slug}.py, {module.slug}.py): the starter code was graded"
        )
    work = _fresh_copy(run, run.temp / "students" / name / module.name, files)
    started = time.perf_counter()
    timed_out, code = _run_guarded(run, _job(run, module, work), work)
    result.seconds = round(time.perf_counter() - started, 2)
    _read_results(result, work / "results.jsonl", timed_out, code, work / "output.txt")
    log = _read_regular(work / "refusals.log", MAX_RESULT_BYTES) or b""
    result.refusals = list(dict.fromkeys(log.decode("utf-8", "replace").splitlines()))
    if not run.keep_temp:
        shutil.rmtree(work / "course", ignore_errors=True)
    return result


def _fresh_copy(run: _Run, work: Path, files: dict[str, tuple[str, bytes]]) -> Path:
    """work/course: the clean student edition with this student's module files dropped in."""
    shutil.copytree(run.base, work / "course", symlinks=True)
    for folder in ("home", "tmp"):
        (work / folder).mkdir()
    for module_id, (_, data) in files.items():
        module = run.course.module(module_id)
        (work / "course" / "modules" / module.name / f"{module.slug}.py").write_bytes(data)
    return work


def _job(run: _Run, module: Module, work: Path) -> dict:
    """What the guarded process is told to do (written into its command line, not onto disk)."""
    return {
        "mode": "grade",
        "course": str(work / "course"),
        "tests": [module.tests.relative_to(run.course.root).as_posix()],
        "export": [m.id for m in exported_with(run.course, module)],
        "result": str(work / "results.jsonl"),
        "refusals": str(work / "refusals.log"),
        "writable": [str(work)],
        "hidden": list(run.hidden),
        "readable": list(run.readable),
        "cpu_seconds": int(run.timeout) + 5,
        "memory_bytes": MEMORY_BYTES,
        "file_bytes": FILE_BYTES,
    }


def _run_guarded(run: _Run, job: dict, work: Path) -> tuple[bool, int | None]:
    """Run one guarded process in its own process group; kill the group when it ends or overruns.

    Returns (timed out, exit code). The environment is built from scratch: the instructor's
    variables (tokens, paths) do not reach student code, and HOME and TMPDIR point into `work`.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TITO_COURSE_ROOT": job["course"],
    }
    timed_out = False
    with open(work / "output.txt", "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", BOOTSTRAP.format(tool=run.tool, job=job)],
            cwd=job["course"], env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with run.lock:
            run.groups.add(process.pid)
            if run.stopping:
                _kill_group(process.pid)
        try:
            process.wait(timeout=run.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(process.pid)  # also whatever it may have left behind in its group
            process.wait()
            with run.lock:
                run.groups.discard(process.pid)
    return timed_out, process.returncode


PYTEST_STOPS = {2: "interrupted", 3: "internal error", 4: "usage error"}


def _read_results(result: ModuleGrade, path: Path, timed_out: bool, code: int, output: Path) -> None:
    end = None
    data = _read_regular(path, MAX_RESULT_BYTES) or b""
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if "test" in entry:
            outcome, reason = str(entry.get("outcome", "")), str(entry.get("reason", ""))
            current = result.outcomes.get(str(entry["test"]))
            if current is None or current[0] == "passed":  # a later failure (teardown) wins
                result.outcomes[str(entry["test"])] = (outcome, reason)
        elif "export_error" in entry:
            result.notes.append(f"export failed: {entry['export_error']}")
        elif "collect_error" in entry:
            result.notes.append(f"could not collect {entry['collect_error']}")
        elif "crash" in entry:
            result.notes.append(f"the test run stopped early: {entry['crash']}")
        elif entry.get("end"):
            end = entry
    if timed_out:
        result.notes.append(
            f"the tests did not finish within {result.seconds:.0f} s and were stopped; tests that had not "
            "reported count as failed"
        )
    elif end is None:
        result.notes.append(
            f"the test process ended before finishing (exit code {code}); tests that had not reported "
            f"count as failed{_last_words(output)}"
        )
    elif end.get("exit_code") in PYTEST_STOPS:
        result.notes.append(
            f"pytest stopped early ({PYTEST_STOPS[end['exit_code']]}); tests that had not reported count "
            f"as failed{_last_words(output)}"
        )


def _last_words(output: Path) -> str:
    """The most telling line of a process's output: its last error line, else its last line."""
    text = (_read_regular(output, MAX_RESULT_BYTES) or b"").decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("INTERNALERROR>", "E "))]
    last = (errors or lines or [""])[-1].removeprefix("INTERNALERROR>").removeprefix("E ").strip()
    return f"; last output: {' '.join(last.split())[:200]}" if last else ""


def exported_with(course: Course, module: Module) -> list[Module]:
    """The module and everything it requires, in course order: the package as it stands when a
    student completes `module` in order. Later modules stay unexported even if submitted, since
    some change earlier ones once exported (module 05 gives Tensor's operations autograd versions).
    """
    wanted, queue = set(), [module.id]
    while queue:
        current = queue.pop()
        if current not in wanted:
            wanted.add(current)
            queue.extend(course.module(current).requires)
    return [m for m in course.modules if m.id in wanted]


def _read_regular(path: Path, limit: int) -> bytes | None:
    """Read a file a submission may have tampered with: no symlinks, no fifos, at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit)
    finally:
        os.close(fd)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_all(run: _Run) -> None:
    with run.lock:
        for pid in list(run.groups):
            _kill_group(pid)


# --- writing the results -------------------------------------------------------------------------


def write_grades(out: Path, grades: list[StudentGrade]) -> Path:
    """grades.csv: one row per student and module (student, module, passed, failed, score)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "module", "passed", "failed", "score"])
    for grade in grades:
        for item in grade.modules:
            writer.writerow([grade.name, item.module.name, item.passed, item.failed, f"{item.score:.3f}"])
    path = out / "grades.csv"
    atomic_write(path, buffer.getvalue())
    return path


def write_report(out: Path, grade: StudentGrade) -> Path:
    """reports/<student>.md: per module, the score, the failing tests and why, and any refusals."""
    total = sum(item.passed for item in grade.modules)
    expected = sum(len(item.expected) for item in grade.modules)
    lines = [f"# {grade.name}", "", f"{total} of {expected} tests passed.", ""]
    for item in grade.modules:
        lines += [
            f"## {item.module.name}: {item.passed}/{len(item.expected)} passed (score {item.score:.3f})",
            "",
            f"Graded file: {item.source or '(none: the starter code)'}; {item.seconds:g} s.",
            "",
        ]
        for note in item.notes:
            lines.append(f"- Note: {note}")
        failing = item.failing()
        if failing:
            lines += ["", "Failing tests:", ""]
            lines += [f"- `{test}`: {why}" for test, why in failing]
        if item.refusals:
            lines += ["", "The sandbox refused:", ""]
            lines += [f"- {line}" for line in item.refusals]
        lines.append("")
    path = out / "reports" / f"{grade.name}.md"
    atomic_write(path, "\n".join(lines))
    return path

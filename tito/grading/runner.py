"""Grade a folder of submissions: one sandboxed run per student and module, verdicts made outside.

For each student and module: find their file; a missing file or one whose solution blocks are still
the starter's scores 0 without a run. Otherwise copy the module's template (the prerequisites'
reference package), export the student's file into it, and run the module's checks on it in the
sandbox with a seed drawn for this run. The reference package runs the same checks on the same seed
in the grader's own process, in one batch per module. Each check passes when the two agree.
Students are graded in parallel, `workers` runs at a time.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import tito
from tito import exporter
from tito.course import Course, Module
from tito.grading import channel, process
from tito.grading.compare import Scrubber
from tito.grading.declare import CHECKS_FILE
from tito.grading.kit import Kit, KitError, build_kit, export_copy, readable_by_all
from tito.grading.sandbox import (
    CHECKS_INSIDE,
    FIRST_UID,
    PACKAGE_INSIDE,
    TOOL_INSIDE,
    Sandbox,
    SandboxError,
    python_folders,
    sandbox_environment,
)
from tito.grading.starter import unchanged_from_starter
from tito.grading.verdict import (
    GradeDetails,
    InfrastructureError,
    ModuleGrade,
    StudentGrade,
    all_failed,
    assess,
    student_line,
)

DEFAULT_TIMEOUT = 60.0  # seconds for one module's checks
MEMORY_BYTES = 2 * 1024**3
FILE_BYTES = 16 * 1024**2
MAX_PROCESSES = 64
MAX_MODULE_FILE = 2 * 1024**2
NO_SANDBOX_WARNING = (
    "graded WITHOUT the operating-system sandbox (--no-sandbox): only an in-process guard stood between "
    "this submission and the grading machine, and a determined submission can get past it"
)

BOOTSTRAP = """\
import sys
sys.path.insert(0, {tool!r})
from tito.grading import harness
sys.path.remove({tool!r})
harness.main({job!r})
"""


def _hand_written_lines(course: Course) -> set[str]:
    """The lines of the package files tito export did not write (given code, such as tinytorch/nn/engine.py)."""
    lines: set[str] = set()
    for path in sorted(course.package_root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if exporter.GENERATED_MARK not in text.split("\n", 1)[0]:
            lines |= {line.strip() for line in text.splitlines()}
    return lines


class GradingError(Exception):
    """Grading cannot go on; the message says what to fix."""


class SubmissionsError(GradingError):
    """The folders given to grade are unusable (a usage error)."""


class SandboxUnavailable(GradingError):
    """bubblewrap is missing or cannot start a sandbox here; the message says what to do."""


@dataclass
class _Run:
    student: str
    module: Module
    source: str  # the student's file, relative to their folder
    text: bytes
    seed: int


def find_students(submissions: Path) -> list[Path]:
    """One folder per student; names starting with '.' or '_' are not students."""
    folders = [p for p in sorted(submissions.iterdir()) if p.is_dir() and not p.is_symlink()]
    return [p for p in folders if not p.name.startswith((".", "_"))]


def find_module_file(folder: Path, module: Module) -> Path | None:
    """The student's file for `module`: a course copy's modules/NN_slug/slug.py, NN_slug/slug.py,
    slug.py or NN_slug.py in their folder. Symlinks and files outside the folder are ignored."""
    root = folder.resolve()
    for relative in (
        f"modules/{module.name}/{module.slug}.py",
        f"{module.name}/{module.slug}.py",
        f"{module.slug}.py",
        f"{module.name}.py",
    ):
        path = folder / relative
        if path.is_symlink() or not path.is_file() or root not in path.resolve().parents:
            continue
        return path
    return None


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "student"


def read_regular(path: Path, limit: int) -> bytes | None:
    """Read a file a submission controls: no symlinks, no fifos, at most `limit` bytes."""
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


def grade_students(
    course: Course,
    students: list[tuple[str, Path]],
    *,
    modules: list[Module] | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sandbox: bool = True,
    keep_temp: bool = False,
    hidden: tuple[Path, ...] = (),
    on_graded: Callable[[StudentGrade], None] | None = None,
    kit: Kit | None = None,
) -> list[StudentGrade]:
    """Grade each (name, folder) on `modules` (default: all); see the module docstring. A `kit` built
    earlier with build_kit (for these modules) saves preparing one: many gradings can share it."""
    temp = Path(tempfile.mkdtemp(prefix="tito-grade-")).resolve()
    running = process.Running()
    try:
        try:  # first, so that a machine without bubblewrap hears it at once
            box = Sandbox.find(hidden=(course.root, temp, *([kit.root] if kit else []), *hidden)) if sandbox else None
        except SandboxError as exc:
            raise SandboxUnavailable(str(exc)) from None
        try:
            chosen = list(modules or (kit.modules if kit else course.modules))
            if kit is None:
                kit = build_kit(course, temp / "kit", chosen)
            elif any(m not in kit.modules for m in chosen):
                raise KitError("the shared grading kit was built for other modules; build one for these.")
            kit = replace(kit, modules=chosen)
        except KitError as exc:
            raise GradingError(str(exc)) from None
        grader = _Grader(kit, box, temp, timeout, running, hidden, max(1, workers or os.cpu_count() or 1))
        grader.keep = keep_temp
        return grader.grade(students, on_graded)
    except BaseException:
        running.stop_all()
        raise
    finally:
        if not keep_temp:
            shutil.rmtree(temp, ignore_errors=True)


class _Grader:
    def __init__(self, kit: Kit, box: Sandbox | None, temp: Path, timeout: float, running, hidden, workers: int):
        self.kit, self.box, self.temp, self.timeout, self.running = kit, box, temp, timeout, running
        self.hidden = (kit.course.root.resolve(), temp, kit.root.resolve(), *(Path(h).resolve() for h in hidden))
        self.workers = workers
        self.keep = False  # keep each run's folder (--keep-temp)
        self.scrubber = Scrubber(kit.secrets)
        # (student, module id) -> (the file to grade, relative to their folder; its bytes)
        self.files: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.runs: dict[tuple[str, int], _Run] = {}  # (student, index in their modules) -> its run
        # module id -> the starter's own lines and the package's hand-written files' (the given spatial engine):
        # a guard refusal caused by one of them is not the student's doing
        given = _hand_written_lines(kit.course)
        self.given_lines = {
            m.id: ({line.strip() for line in kit.starters.get(m.id, "").splitlines()} | given) - {""}
            for m in kit.modules
        }
        self.uids: queue.Queue = queue.Queue()
        for slot in range(workers):
            self.uids.put(FIRST_UID + slot)

    def grade(self, students, on_graded) -> list[StudentGrade]:
        grades, runs = [], []
        for name, folder in students:
            grade = StudentGrade(name=name, folder=folder)
            for module in self.kit.modules:
                placeholder = self._without_run(grade, module)
                if placeholder is None:
                    runs.append((grade, len(grade.modules)))
                    grade.modules.append(ModuleGrade(module, []))  # replaced by its run's grade below
                else:
                    grade.modules.append(placeholder)
            grades.append(grade)
        for grade, index in runs:
            module = self.kit.modules[index]
            source, data = self.files[(grade.name, module.id)]
            self.runs[(grade.name, index)] = _Run(grade.name, module, source, data, secrets.randbits(62))
        references = self._reference_batches()
        done = self._parallel(
            {key: (self._run, run, references[run.module.id][run.seed]) for key, run in self.runs.items()}
        )
        for grade, index in runs:
            grade.modules[index] = done[(grade.name, index)]
        for grade in grades:
            if on_graded:
                on_graded(grade)
        return grades

    def _without_run(self, grade: StudentGrade, module: Module) -> ModuleGrade | None:
        """The grade of a module that needs no run (no file, or the starter), or None."""
        checks = self.kit.checks[module.id]
        details = self._details(module)
        path = find_module_file(grade.folder, module)
        data = read_regular(path, MAX_MODULE_FILE) if path is not None else None
        if path is None or data is None:
            return all_failed(module, checks, f"not graded: no {module.slug}.py was found in the submission", **details)
        source = path.relative_to(grade.folder).as_posix()
        text = data.decode("utf-8", "replace")
        if unchanged_from_starter(text, self.kit.starters.get(module.id, "")):
            details["source"] = source
            return all_failed(module, checks, "not graded: every solution block is as the starter left it", **details)
        self.files[(grade.name, module.id)] = (source, data)
        return None

    def _details(self, module: Module, source: str | None = None) -> GradeDetails:
        """What a module's grade says whatever its checks do: the file, the reference prerequisites, the
        no-sandbox warning."""
        notes = [NO_SANDBOX_WARNING] if self.box is None else []
        return {"source": source, "prerequisites": [m.name for m in self.kit.prerequisites(module)], "notes": notes}

    def _reference_batches(self) -> dict[str, dict[int, channel.Stream]]:
        """module id -> seed -> the reference's records, one trusted process per module."""
        wanted: dict[str, list[int]] = {}
        for run in self.runs.values():
            wanted.setdefault(run.module.id, []).append(run.seed)
        return self._parallel(
            {mid: (self._reference, self.kit.course.module(mid), seeds) for mid, seeds in wanted.items()}
        )

    def _parallel(self, calls: dict) -> dict:
        """{key: function(*args)} for {key: (function, *args)}, `workers` at a time. On any failure
        (Ctrl-C, a sandbox that would not start) nothing new starts and every running process is killed."""
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            futures = {key: pool.submit(*call) for key, call in calls.items()}
            results = {key: future.result() for key, future in futures.items()}
        except BaseException:
            self.running.stop_all()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results

    def _reference(self, module: Module, seeds: list[int]) -> dict[int, channel.Stream]:
        folder = self.temp / "reference-results" / module.name
        folder.mkdir(parents=True)
        runs = [(seed, str(folder / f"{seed}.bin")) for seed in seeds]
        job = {
            "mode": "reference",
            "package": str(self.kit.reference(module)),
            "checks": str(self.kit.checks_file(module)),
            "runs": runs,
        }
        env = {**sandbox_environment(), "HOME": str(folder), "TMPDIR": str(folder)}
        outcome = process.run(
            self._python(job, _tool_folder()),
            env=env,
            cwd=str(folder),
            timeout=30 + self.timeout * len(seeds),
            running=self.running,
        )
        streams = {}
        for seed, path in runs:
            stream = channel.decode(Path(path).read_bytes() if Path(path).exists() else b"")
            for item in self.kit.checks[module.id]:
                found = [r for r in stream.records if r.kind == "check" and r.check == item.name]
                if found and found[0].error is None and found[0].extra.get("timeout") is None:
                    continue
                if found:
                    why = found[0].error or "it ran out of time"
                else:
                    why = "it never ran: " + (" ".join(outcome.output_tail.split())[-300:] or "the process ended")
                raise GradingError(
                    f"the reference edition fails check `{item.name}` of {module.name} ({why}); fix "
                    f"{module.tests / CHECKS_FILE} or the reference, then grade again with `tito grade`."
                )
            streams[seed] = stream
        return streams

    def _run(self, run: _Run, reference: channel.Stream) -> ModuleGrade:
        module, checks = run.module, self.kit.checks[run.module.id]
        details = self._details(module, run.source)
        work = self.temp / "runs" / safe_name(run.student) / module.name
        problem = self._stage(run, work)
        if problem:
            details["notes"].append(f"your file does not export: {self.scrubber.clean(problem)}")
            return all_failed(module, checks, "not graded: the file does not export", **details)
        uid = self.uids.get()
        try:
            argv, env, cwd = self._command(run, work, uid)
            outcome = process.run(argv, env=env, cwd=cwd, timeout=self.timeout, running=self.running)
        finally:
            self.uids.put(uid)
        grade = ModuleGrade(module, [], **details)
        grade.seconds = outcome.seconds
        try:
            assess(
                grade,
                checks,
                channel.decode(outcome.channel),
                reference,
                outcome,
                self.scrubber,
                self.given_lines[module.id],
                lambda frames: student_line(frames, work / "package", module, run.source),
            )
        except InfrastructureError as exc:
            raise GradingError(f"grading {run.student}'s {module.name} failed before any check ran: {exc}") from None
        if not self.keep:
            shutil.rmtree(work, ignore_errors=True)
        return grade

    def _stage(self, run: _Run, work: Path) -> str | None:
        """work/package/tinytorch: the module's template with the student's file exported into it (the
        rest of the copy, with the prerequisites' reference files, is deleted); the problem, if any."""
        course_copy = work / "stage"
        (work / "scratch").mkdir(parents=True)
        try:
            export_copy(self.kit.template(run.module), run.module, run.text, course_copy)
        except exporter.ExportError as exc:
            target = course_copy / "modules" / run.module.name / f"{run.module.slug}.py"
            return str(exc).replace(str(target), run.source).replace(str(course_copy) + "/", "")
        (work / "package").mkdir()
        os.replace(course_copy / "tinytorch", work / "package" / "tinytorch")
        shutil.rmtree(course_copy)
        readable_by_all(work / "package")
        return None

    def _command(self, run: _Run, work: Path, uid: int):
        limits = {
            "RLIMIT_CPU": int(self.timeout) + 5,
            "RLIMIT_AS": MEMORY_BYTES,
            "RLIMIT_FSIZE": FILE_BYTES,
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
        }
        job = {"mode": "student", "fd": "@CHANNEL_FD@", "seed": run.seed, "limits": limits}
        if self.box is not None:
            limits["RLIMIT_NPROC"] = MAX_PROCESSES
            job.update(
                package=PACKAGE_INSIDE, checks=CHECKS_INSIDE, workdir="/tmp", uid=uid if self.box.as_root else None
            )
            argv = self.box.command(work / "package", self.kit.checks_file(run.module), self._python(job, TOOL_INSIDE))
            return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, str(work)
        package, scratch = str(work / "package"), str(work / "scratch")
        job.update(
            package=package,
            checks=str(self.kit.checks_file(run.module)),
            workdir=scratch,
            guard={
                "writable": (scratch,),
                "hidden": tuple(str(h) for h in self.hidden),
                "readable": (
                    *python_folders(),
                    str(Path(tito.__file__).resolve().parent),
                    package,
                    str(self.kit.checks_file(run.module)),
                ),
                "package": str(work / "package" / "tinytorch"),
            },
        )
        env = {**sandbox_environment(), "HOME": scratch, "TMPDIR": scratch}
        return self._python(job, _tool_folder()), env, scratch

    @staticmethod
    def _python(job: dict, tool: str) -> list[str]:
        return [sys.executable, "-I", "-c", BOOTSTRAP.format(tool=tool, job=job)]


def _tool_folder() -> str:
    return str(Path(tito.__file__).resolve().parent.parent)

"""Grade a folder of submissions: one sandboxed run per student and module, verdicts made outside.

For each student and module: find their file; a missing file or one whose solution blocks are still
the starter's scores 0 without a run. Otherwise copy the module's template (the prerequisites'
reference package), export the student's file into it, and run the module's checks on it in the
sandbox with a seed drawn for this run. The reference package runs the same checks on the same seed
in the grader's own process, in one batch per module. Each check passes when the two agree.
Students are graded in parallel, `workers` runs at a time, and each student is handed to
`on_graded` as soon as their last module is graded.

Per-student isolation: anything that goes wrong while grading one (student, module), in the
grader's own code or in the run, becomes that row's one-line "grader error"; the class always
finishes. The student's text is parsed only in a child (prepare.py), never in this process.

Three walls, strongest first: bubblewrap (sandbox.py); where it cannot start and the grader is root,
an unprivileged user of the run's own with its own session, rlimits and seccomp filter, every
process of that user killed afterwards and the audit hook as a second layer ("user"); otherwise the
audit hook alone ("guard", for trusted code only).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import tito
from tito.course import Course, Module
from tito.exporter import GENERATED_MARK
from tito.grading import channel, graded_run, prepare
from tito.grading.compare import Scrubber
from tito.grading.declare import CHECKS_FILE
from tito.grading.kit import Kit, KitError, build_kit
from tito.grading.sandbox import (
    CHECKS_INSIDE,
    FIRST_UID,
    LAST_UID,
    PACKAGE_INSIDE,
    TOOL_INSIDE,
    Sandbox,
    SandboxError,
    installed_packages,
    python_folders,
    sandbox_environment,
)
from tito.grading.verdict import (
    GradeDetails,
    InfrastructureError,
    ModuleGrade,
    StudentGrade,
    all_failed,
    assess,
    grader_error,
    student_line,
)

DEFAULT_TIMEOUT = 60.0  # seconds for one module's checks
MEMORY_BYTES = 2 * 1024**3
FILE_BYTES = 16 * 1024**2
MAX_PROCESSES = 64
MAX_MODULE_FILE = 2 * 1024**2
NO_SANDBOX_WARNING = (
    "graded WITHOUT the bubblewrap sandbox, and so fit for trusted code only: only an in-process guard stood "
    "between this submission and the grading machine, and a determined submission can get past it"
)
USER_WARNING = (
    "graded WITHOUT the bubblewrap sandbox, and so fit for trusted code only: the run was an unprivileged "
    "user of its own, with resource limits and a seccomp filter, behind the in-process guard"
)
TEMP_PREFIX = "tito-grade-"

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
        if GENERATED_MARK not in text.split("\n", 1)[0]:
            lines |= {line.strip() for line in text.splitlines()}
    return lines


class GradingError(Exception):
    """Grading cannot go on; the message says what to fix."""


class SubmissionsError(GradingError):
    """The folders given to grade are unusable (a usage error)."""


class SandboxUnavailable(GradingError):
    """bubblewrap is missing or cannot start a sandbox here; the message says what to do."""


def find_students(submissions: Path) -> list[Path]:
    """One folder per student; names starting with '.' or '_' are not students."""
    folders = [p for p in sorted(submissions.iterdir()) if p.is_dir() and not p.is_symlink()]
    return [p for p in folders if not p.name.startswith((".", "_"))]


class TwoCopies(Exception):
    """A submission holds two files for one module; the message names both."""


def find_module_file(folder: Path, module: Module) -> Path | None:
    """The student's file for `module`: a course copy's modules/NN_slug/slug.py, NN_slug/slug.py,
    slug.py or NN_slug.py in their folder. Symlinks and files outside the folder are ignored. Two of
    them raise TwoCopies: which one the student meant is theirs to say, not the grader's to guess."""
    root = folder.resolve()
    found = []
    for relative in (
        f"modules/{module.name}/{module.slug}.py",
        f"{module.name}/{module.slug}.py",
        f"{module.slug}.py",
        f"{module.name}.py",
    ):
        path = folder / relative
        if path.is_symlink() or not path.is_file() or root not in path.resolve().parents:
            continue
        found.append(path)
    if len(found) > 1:
        names = " and ".join(p.relative_to(folder).as_posix() for p in found)
        raise TwoCopies(f"two copies of {module.slug}.py ({names}): keep one and submit again")
    return found[0] if found else None


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "student"


def student_ids(names: list[str]) -> list[str]:
    """A unique, filesystem-safe id for each folder name: the name itself when it is plain ASCII and
    short, else its ASCII part (at most 60 characters) and 8 hex digits of its hash, so `张伟` and `李娜`,
    or `José García` and `Jose_Garc_a`, never share an id (and so never share a report)."""
    ids, used = [], set()
    for name in names:
        plain = safe_name(name)[:60]
        key = plain if plain == name else f"{plain.strip('._-') or 'student'}-{_digest(name)}"
        counter = 1
        while key in used:
            counter += 1
            key = f"{plain}-{_digest(name)}-{counter}"
        used.add(key)
        ids.append(key)
    return ids


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


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


def remove_stale_temp(folder: str | None = None) -> list[str]:
    """Remove the temporary folders of graders that are no longer running (a grader killed with
    SIGKILL cannot clean up after itself, and its folder holds the reference kit)."""
    removed = []
    base = Path(folder or tempfile.gettempdir())
    for path in base.glob(f"{TEMP_PREFIX}*-*"):
        owner = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or not path.is_dir() or path.is_symlink() or _alive(int(owner)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    ids: list[str] | None = None,
) -> list[StudentGrade]:
    """Grade each (name, folder) on `modules` (default: all); see the module docstring. A `kit` built
    earlier with build_kit (for these modules) saves preparing one: many gradings can share it.

    `sandbox=False` grades without bubblewrap: as an unprivileged user of each run's own when the
    grader is root ("user"), behind the audit hook alone otherwise ("guard", trusted code only)."""
    remove_stale_temp()
    temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")).resolve()
    running = graded_run.Running()
    try:
        try:  # first, so that a machine without bubblewrap hears it at once
            box = Sandbox.find(hidden=(course.root, temp, *([kit.root] if kit else []), *hidden)) if sandbox else None
        except SandboxError as exc:
            raise SandboxUnavailable(str(exc)) from None
        wall = "bwrap" if box is not None else wall_without_bubblewrap()
        if wall == "user":
            secret: list[Path] = [course.root, *map(Path, hidden), *map(Path, installed_packages())]
            exposed = [p for p in secret if _open_to_others(p)]
            if exposed:
                raise SandboxUnavailable(
                    f"bubblewrap cannot start here, and graded runs would then be an unprivileged user who could "
                    f"read {exposed[0]}: make it unreadable to other users (`chmod o-rwx {exposed[0]}`), or "
                    "install bubblewrap."
                )
            os.chmod(temp, 0o711)  # each run's user may pass through to its own folder, and list nothing
        try:
            chosen = list(modules or (kit.modules if kit else course.modules))
            if kit is None:
                (temp / "kit").mkdir(mode=0o700)
                kit = build_kit(course, temp / "kit", chosen)
            elif any(m not in kit.modules for m in chosen):
                raise KitError("the shared grading kit was built for other modules; build one for these.")
            kit = replace(kit, modules=chosen)
        except KitError as exc:
            raise GradingError(str(exc)) from None
        grader = _Grader(kit, box, wall, temp, timeout, running, hidden, max(1, workers or os.cpu_count() or 1))
        grader.keep = keep_temp
        keys = ids or student_ids([name for name, _ in students])
        return grader.grade([(name, key, folder) for (name, folder), key in zip(students, keys)], on_graded)
    except BaseException:
        running.stop_all()
        raise
    finally:
        if not keep_temp:
            shutil.rmtree(temp, ignore_errors=True)


def wall_without_bubblewrap() -> str:
    """ "user" (a run is an unprivileged user of its own) where the grader is root and that user can
    start this Python; "guard" (the audit hook alone) otherwise."""
    if os.geteuid() != 0:
        return "guard"
    if any(not _open_to_others(Path(p)) for p in (*python_folders(), _tool_folder())):
        return "guard"  # that user could not even start this Python (it sits in a private folder)
    return "user"


@dataclass
class _Pending:
    """One (student, module) on its way through grading."""

    grade: StudentGrade
    index: int  # in grade.modules
    module: Module
    source: str = ""  # the student's file, relative to their folder
    text: bytes = b""
    seed: int = 0
    work: Path | None = None


class _Grader:
    def __init__(self, kit: Kit, box, wall: str, temp: Path, timeout: float, running, hidden, workers: int):
        self.kit, self.box, self.wall, self.temp, self.timeout, self.running = kit, box, wall, temp, timeout, running
        self.hidden = (kit.course.root.resolve(), temp, kit.root.resolve(), *(Path(h).resolve() for h in hidden))
        self.workers = workers
        self.keep = False  # keep each run's folder (--keep-temp)
        self.scrubber = Scrubber(kit.secrets)
        # module id -> the starter's own lines and the package's hand-written files' (the given spatial engine):
        # a guard refusal caused by one of them is not the student's doing
        given = _hand_written_lines(kit.course)
        self.given_lines = {
            m.id: ({line.strip() for line in kit.starters.get(m.id, "").splitlines()} | given) - {""}
            for m in kit.modules
        }
        self.uid_lock = threading.Lock()
        self.uids_used: set[int] = set()

    def fresh_uid(self) -> int:
        """A user id no run of this grader had, drawn at random from a range no account uses: no kernel
        state (a keyring, a message queue) of one run is reachable from another, here or in a later grading."""
        with self.uid_lock:
            while True:
                uid = FIRST_UID + secrets.randbelow(LAST_UID - FIRST_UID)
                if uid not in self.uids_used:
                    self.uids_used.add(uid)
                    return uid

    def grade(self, students, on_graded) -> list[StudentGrade]:
        grades: list[StudentGrade] = []
        pending: list[_Pending] = []
        for name, key, folder in students:
            grade = StudentGrade(name=name, folder=folder, key=key)
            for module in self.kit.modules:
                item = _Pending(grade, len(grade.modules), module)
                grade.modules.append(self._isolated(item, self._find))
                if not grade.modules[-1].results:
                    pending.append(item)
            grades.append(grade)
        waiting = {grade.key: sum(1 for p in pending if p.grade is grade) for grade in grades}
        for grade in grades:
            if waiting[grade.key] == 0 and on_graded:
                on_graded(grade)

        def finished(item: _Pending, result: ModuleGrade) -> None:
            item.grade.modules[item.index] = result
            if result.results:  # graded (no run needed, or its run is done)
                waiting[item.grade.key] -= 1
                if waiting[item.grade.key] == 0 and on_graded:
                    on_graded(item.grade)

        prepared = self._parallel({id(p): (self._isolated, p, self._prepare) for p in pending})
        runs = []
        for item in pending:
            finished(item, prepared[id(item)])
            if not prepared[id(item)].results:
                item.seed = secrets.randbits(62)
                runs.append(item)
        references = self._reference_batches(runs)
        by_key = {id(p): p for p in runs}
        self._parallel(
            {id(p): (self._isolated, p, self._run, references[p.module.id][p.seed]) for p in runs},
            lambda key, result: finished(by_key[key], result),
        )
        return grades

    def _isolated(self, item: _Pending, step, *args) -> ModuleGrade:
        """`step(item, *args)`, with any exception turned into this (student, module)'s grader error."""
        try:
            return step(item, *args)
        except Exception as exc:  # noqa: BLE001 - one row's failure never stops the class
            why = str(exc) if isinstance(exc, (InfrastructureError, GradingError)) else type(exc).__name__
            return grader_error(item.module, self.kit.checks[item.module.id], why, **self._details(item.module))
        finally:
            if step is self._run and item.work is not None and not self.keep:
                shutil.rmtree(item.work, ignore_errors=True)

    def _find(self, item: _Pending) -> ModuleGrade:
        """The grade of a module that needs no run (no file, two files, a line too long), or an empty
        ModuleGrade (no results yet) when it goes on to be prepared."""
        module, checks, details = item.module, self.kit.checks[item.module.id], self._details(item.module)
        try:
            path = find_module_file(item.grade.folder, module)
        except TwoCopies as exc:
            return all_failed(module, checks, f"not graded: {exc}", **details)
        data = read_regular(path, MAX_MODULE_FILE) if path is not None else None
        if path is None or data is None:
            return all_failed(module, checks, f"not graded: no {module.slug}.py was found in the submission", **details)
        details["source"] = item.source = path.relative_to(item.grade.folder).as_posix()
        item.text = data
        too_long = prepare.long_line(data)
        if too_long is not None:
            return all_failed(
                module,
                checks,
                f"not graded: line {too_long} is longer than {prepare.MAX_LINE:,} characters",
                **details,
            )
        return ModuleGrade(module, [])

    def _prepare(self, item: _Pending) -> ModuleGrade:
        """The starter check and the export, in a child (prepare.py); an empty grade when a run follows."""
        module, checks = item.module, self.kit.checks[item.module.id]
        details = self._details(module, item.source)
        # A name no run can guess, in folders no run can list (0711): without bubblewrap, the runs'
        # users share this machine's filesystem, and one student's package must stay out of reach of another's.
        item.work = self.temp / "runs" / f"{item.grade.key}-{secrets.token_hex(16)}" / module.name
        item.work.parent.parent.mkdir(mode=0o711, exist_ok=True)
        item.work.parent.mkdir(mode=0o711)
        done = prepare.prepare(
            self.kit.template(module), module, item.text, self.kit.starters.get(module.id, ""), item.work
        )
        if done.outcome == "starter":
            return all_failed(module, checks, "not graded: every solution block is as the starter left it", **details)
        if done.outcome == "export":
            details["notes"].append(f"your file does not export: {self._export_note(done.message, item)}")
            return all_failed(module, checks, "not graded: the file does not export", **details)
        if done.outcome != "ok":
            return all_failed(module, checks, f"not graded: {done.message}", **details)
        return ModuleGrade(module, [], **details)

    def _export_note(self, message: str, item: _Pending) -> str:
        """The exporter's message about the student's file, naming it as the student does."""
        own = f"modules/{item.module.name}/{item.module.slug}.py"
        stage = str(item.work / "stage") + "/" if item.work else ""
        text = message.replace(stage + own, item.source).replace(stage, "").replace(own, item.source)
        text = text.replace(f"{item.source}:None:", f"{item.source}:").replace(f"{item.source}:None", item.source)
        return self.scrubber.clean(text)

    def _details(self, module: Module, source: str | None = None) -> GradeDetails:
        """What a module's grade says whatever its checks do: the file, the reference prerequisites, the
        no-sandbox warning."""
        notes = {"bwrap": [], "user": [USER_WARNING], "guard": [NO_SANDBOX_WARNING]}[self.wall]
        return {"source": source, "prerequisites": [m.name for m in self.kit.prerequisites(module)], "notes": [*notes]}

    def _reference_batches(self, runs: list[_Pending]) -> dict[str, dict[int, channel.Stream | str]]:
        """module id -> seed -> the reference's records, one trusted process per module."""
        wanted: dict[str, list[int]] = {}
        for run in runs:
            wanted.setdefault(run.module.id, []).append(run.seed)
        return self._parallel(
            {mid: (self._reference, self.kit.course.module(mid), seeds) for mid, seeds in wanted.items()}
        )

    def _parallel(self, calls: dict, done: Callable | None = None) -> dict:
        """{key: function(*args)} for {key: (function, *args)}, `workers` at a time; `done(key, result)`
        as each one finishes, in this thread. On any failure (Ctrl-C, a reference that fails) nothing
        new starts and every running process is killed."""
        pool = ThreadPoolExecutor(max_workers=self.workers)
        results = {}
        try:
            futures = {pool.submit(*call): key for key, call in calls.items()}
            remaining = set(futures)
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in finished:
                    results[futures[future]] = future.result()
                    if done:
                        done(futures[future], results[futures[future]])
        except BaseException:
            self.running.stop_all()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results

    def _reference(self, module: Module, seeds: list[int]) -> dict[int, channel.Stream | str]:
        """seed -> the reference's records, or why the reference could not grade that seed's run (then
        that one row is a grader error naming the fix; the class goes on)."""
        try:
            return self._reference_runs(module, seeds)
        except Exception as exc:  # noqa: BLE001 - the reference process itself failed to start or be read
            return dict.fromkeys(seeds, f"the reference run for {module.name} failed ({type(exc).__name__})")

    def _reference_runs(self, module: Module, seeds: list[int]) -> dict[int, channel.Stream | str]:
        folder = self.temp / "reference-results" / module.name
        folder.mkdir(parents=True)
        os.chmod(folder.parent, 0o700)
        runs = [(seed, str(folder / f"{seed}.bin")) for seed in seeds]
        job = {
            "mode": "reference",
            "package": str(self.kit.reference(module)),
            "checks": str(self.kit.checks_file(module)),
            "runs": runs,
        }
        env = {**sandbox_environment(), "HOME": str(folder), "TMPDIR": str(folder)}
        outcome = graded_run.run(
            self._python(job, _tool_folder()),
            env=env,
            cwd=str(folder),
            timeout=30 + self.timeout * len(seeds),
            running=self.running,
        )
        streams: dict[int, channel.Stream | str] = {}
        for seed, path in runs:
            stream = channel.decode(Path(path).read_bytes() if Path(path).exists() else b"")
            streams[seed] = stream
            for item in self.kit.checks[module.id]:
                found = [r for r in stream.records if r.kind == "check" and r.check == item.name]
                if found and found[0].error is None and found[0].extra.get("timeout") is None:
                    continue
                if found:
                    why = found[0].error or "it ran out of time"
                else:
                    why = "it never ran: " + (" ".join(outcome.output_tail.split())[-200:] or "the process ended")
                streams[seed] = (
                    f"the reference edition fails check `{item.name}` of {module.name} ({why}); fix "
                    f"{module.tests / CHECKS_FILE} or the reference, then grade again with `tito grade --resume`"
                )
                break
        return streams

    def _run(self, item: _Pending, reference: channel.Stream | str) -> ModuleGrade:
        module, checks = item.module, self.kit.checks[item.module.id]
        if isinstance(reference, str):  # the reference could not grade this run's inputs
            raise GradingError(reference)
        details = self._details(module, item.source)
        work = item.work
        assert work is not None  # set by _prepare
        uid = self.fresh_uid()
        argv, env, cwd = self._command(item, work, uid)
        try:
            outcome = graded_run.run(
                argv,
                env=env,
                cwd=cwd,
                timeout=self.timeout,
                running=self.running,
                seccomp=self.box.seccomp if self.box is not None else b"",
            )
        finally:
            if self.wall == "user":
                graded_run.kill_user(uid)
                graded_run.remove_files_of(uid)
        grade = ModuleGrade(module, [], **details)
        grade.seconds = outcome.seconds
        return assess(
            grade,
            checks,
            channel.decode(outcome.channel),
            reference,
            outcome,
            self.given_lines[module.id],
            lambda frames: student_line(frames, work / "package", module, item.source),
        )

    def _command(self, item: _Pending, work: Path, uid: int):
        limits = {
            "RLIMIT_CPU": int(self.timeout) + 5,
            "RLIMIT_AS": MEMORY_BYTES,
            "RLIMIT_FSIZE": FILE_BYTES,
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
        }
        job = {"mode": "student", "fd": "@CHANNEL_FD@", "seed": item.seed, "limits": limits}
        if self.box is not None:
            limits["RLIMIT_NPROC"] = MAX_PROCESSES
            job.update(
                package=PACKAGE_INSIDE, checks=CHECKS_INSIDE, workdir="/tmp", uid=uid if self.box.as_root else None
            )
            argv = self.box.command(work / "package", self.kit.checks_file(item.module), self._python(job, TOOL_INSIDE))
            return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, str(work)
        package, scratch = str(work / "package"), str(work / "scratch")
        checks = work / "checks.py"
        shutil.copyfile(self.kit.checks_file(item.module), checks)
        if self.wall == "user":
            limits["RLIMIT_NPROC"] = MAX_PROCESSES
            job.update(uid=uid, seccomp=True)
            _give(work, uid)
        job.update(
            package=package,
            checks=str(checks),
            workdir=scratch,
            guard={
                "writable": (scratch,),
                "hidden": tuple(str(h) for h in self.hidden),
                "readable": (
                    *python_folders(),
                    str(Path(tito.__file__).resolve().parent),
                    package,
                    str(checks),
                ),
                "package": str(work / "package" / "tinytorch"),
            },
        )
        env = {**sandbox_environment(), "HOME": scratch, "TMPDIR": scratch}
        return self._python(job, _tool_folder()), env, scratch

    @staticmethod
    def _python(job: dict, tool: str) -> list[str]:
        return [sys.executable, "-I", "-c", BOOTSTRAP.format(tool=tool, job=job)]


def _open_to_others(folder: Path) -> bool:
    """Whether a user with no rights of its own can list `folder` (every parent passable, it readable);
    for a folder not made yet, its nearest existing parent (what it will be made in)."""
    folder = folder.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not os.stat(folder).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in [folder, *folder.parents])
    except OSError:
        return False


def _give(work: Path, uid: int) -> None:
    """The run's folder to its own user, readable by nobody else (its parents are 0711 or 0700)."""
    for parent, folders, files in os.walk(work):
        for name in [parent, *(os.path.join(parent, f) for f in folders + files)]:
            os.chown(name, uid, uid, follow_symlinks=False)
    os.chmod(work, 0o700)
    os.chmod(work.parent, 0o711)
    os.chmod(work.parent.parent, 0o711)


def _tool_folder() -> str:
    return str(Path(tito.__file__).resolve().parent.parent)

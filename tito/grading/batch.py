"""One grading of a class, pair by pair: each (student, module) is found, prepared, run and judged.

`Batch.grade` finds each student's file (students.py), prepares it in a child (prepare.py: the
starter check and the export), runs the module's checks on it in its wall with a seed drawn for the
run (graded_run.py), runs the reference on the same seeds in this process, one batch per module, and
makes each verdict here (verdict.py). Any failure of one pair becomes that pair's "grader error".
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tito.course import Course, Module
from tito.exporter import GENERATED_MARK
from tito.grading import channel, graded_run, prepare
from tito.grading.compare import Scrubber
from tito.grading.declare import CHECKS_FILE
from tito.grading.errors import GradingError
from tito.grading.kit import Kit
from tito.grading.sandbox import (
    CHECKS_INSIDE,
    FIRST_UID,
    LAST_UID,
    PACKAGE_INSIDE,
    TOOL_INSIDE,
    python_folders,
    sandbox_environment,
)
from tito.grading.students import MAX_MODULE_FILE, TwoCopies, find_module_file, read_regular
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
from tito.grading.walls import NO_SANDBOX_WARNING, USER_WARNING, give_to_user, tool_folder

MEMORY_BYTES = 2 * 1024**3
FILE_BYTES = 16 * 1024**2
MAX_PROCESSES = 64

BOOTSTRAP = """\
import sys
sys.path.insert(0, {tool!r})
from tito.grading import harness
sys.path.remove({tool!r})
harness.main({job!r})
"""


def hand_written_lines(course: Course) -> set[str]:
    """The lines of the package files tito export did not write (given code, such as tinytorch/nn/engine.py)."""
    lines: set[str] = set()
    for path in sorted(course.package_root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if GENERATED_MARK not in text.split("\n", 1)[0]:
            lines |= {line.strip() for line in text.splitlines()}
    return lines


@dataclass
class Pending:
    """One (student, module) on its way through grading."""

    grade: StudentGrade
    index: int  # in grade.modules
    module: Module
    source: str = ""  # the student's file, relative to their folder
    text: bytes = b""
    seed: int = 0
    work: Path | None = None


class Batch:
    """Grades (student, module) pairs: finds each file, prepares it, runs its checks, compares with the reference."""

    def __init__(self, kit: Kit, box, wall: str, temp: Path, timeout: float, running, hidden, workers: int):
        self.kit, self.box, self.wall, self.temp, self.timeout, self.running = kit, box, wall, temp, timeout, running
        self.hidden = (kit.course.root.resolve(), temp, kit.root.resolve(), *(Path(h).resolve() for h in hidden))
        self.workers = workers
        self.keep = False  # keep each run's folder (--keep-temp)
        self.tool = tool_folder()  # where a student's run imports tito from
        self.scrubber = Scrubber(kit.secrets)
        # module id -> the starter's own lines and the package's hand-written files' (the given spatial engine):
        # a guard refusal caused by one of them is not the student's doing
        given = hand_written_lines(kit.course)
        self.given_lines = {
            m.id: ({line.strip() for line in kit.starters.get(m.id, "").splitlines()} | given) - {""}
            for m in kit.modules
        }
        self.uid_lock = threading.Lock()
        self.shared = graded_run.shared_folders() if wall == "user" else ()  # where a run's files may outlive it
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
        pending: list[Pending] = []
        for name, key, folder in students:
            grade = StudentGrade(name=name, folder=folder, key=key)
            for module in self.kit.modules:
                item = Pending(grade, len(grade.modules), module)
                grade.modules.append(self._isolated(item, self._find))
                if not grade.modules[-1].results:
                    pending.append(item)
            grades.append(grade)
        waiting = {grade.key: sum(1 for p in pending if p.grade is grade) for grade in grades}
        for grade in grades:
            if waiting[grade.key] == 0 and on_graded:
                on_graded(grade)

        def finished(item: Pending, result: ModuleGrade) -> None:
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

    def _isolated(self, item: Pending, step, *args) -> ModuleGrade:
        """`step(item, *args)`, with any exception turned into this (student, module)'s grader error."""
        try:
            return step(item, *args)
        except Exception as exc:  # noqa: BLE001 - one row's failure never stops the class
            why = str(exc) if isinstance(exc, (InfrastructureError, GradingError)) else type(exc).__name__
            return grader_error(item.module, self.kit.checks[item.module.id], why, **self._details(item.module))
        finally:
            if step is self._run and item.work is not None and not self.keep:
                shutil.rmtree(item.work, ignore_errors=True)

    def _find(self, item: Pending) -> ModuleGrade:
        """The grade of a module that needs no run (no file, two files, a line too long), or an empty
        ModuleGrade (no results yet) when it goes on to be prepared."""
        module, checks, details = item.module, self.kit.checks[item.module.id], self._details(item.module)
        try:
            path = find_module_file(item.grade.folder, module)
        except TwoCopies as exc:
            return all_failed(module, checks, f"not graded: {exc}", **details)
        data = read_regular(path, MAX_MODULE_FILE) if path is not None else None
        if path is None:
            return all_failed(module, checks, f"not graded: no {module.slug}.py was found in the submission", **details)
        if data is None:
            shown = path.relative_to(item.grade.folder).as_posix()
            return all_failed(module, checks, f"not graded: {shown} could not be read", **details)
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

    def _prepare(self, item: Pending) -> ModuleGrade:
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

    def _export_note(self, message: str, item: Pending) -> str:
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

    def _reference_batches(self, runs: list[Pending]) -> dict[str, dict[int, channel.Stream | str]]:
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
            self._python(job, tool_folder()),
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

    def _run(self, item: Pending, reference: channel.Stream | str) -> ModuleGrade:
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
                memory=MEMORY_BYTES,  # the run's processes together, as each one alone (RLIMIT_AS)
                members=(lambda pid: graded_run.pids_of(uid)) if self.wall == "user" else None,
            )
        finally:
            if self.wall == "user":
                graded_run.kill_user(uid)
                graded_run.remove_files_of(uid, self.shared)
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

    def _command(self, item: Pending, work: Path, uid: int):
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
            give_to_user(work, uid)
        job.update(
            package=package,
            checks=str(checks),
            workdir=scratch,
            guard={
                "writable": (scratch,),
                "hidden": tuple(str(h) for h in self.hidden),
                "readable": (
                    *python_folders(),
                    str(Path(self.tool) / "tito"),
                    package,
                    str(checks),
                ),
                "package": str(work / "package" / "tinytorch"),
            },
        )
        env = {**sandbox_environment(), "HOME": scratch, "TMPDIR": scratch}
        return self._python(job, self.tool), env, scratch

    @staticmethod
    def _python(job: dict, tool: str) -> list[str]:
        return [sys.executable, "-I", "-c", BOOTSTRAP.format(tool=tool, job=job)]

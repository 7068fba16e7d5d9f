"""The progress store: `.tito/progress.yaml` at the course root.

It records what a student has done: per module its status (started / completed), timestamps, the
source file's hash and test counts when completed; per milestone the best achieved run and the last
run; and a bounded history of events. Everything in it can be rebuilt by re-running the checks, so it
is a record, never a reason to lose work:

- every write happens under a file lock, goes to a temporary file and is renamed into place, so a
  reader sees the old file or the new one and two tito processes never lose each other's entries;
- before each write the current (valid) file is copied to `progress.yaml.bak`, the last good copy;
- a file that cannot be parsed or does not follow PROGRESS (tito/progress_record.py: every field's type) is never
  overwritten: ProgressError says which file, what is wrong and how to recover. So is anything
  in the way of the next write (the file, its lock or its backup not being a regular file, or the
  file or `.tito/` being read-only), which every command reports before it does any work.

The lock is `filelock.FileLock`: a small, well-kept, cross-platform package (fcntl on POSIX, msvcrt
on Windows) with timeouts, so tito does not carry its own platform branches it cannot test.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from tito import files, schema
from tito.course import Course
from tito.plain_data import plain_data
from tito.progress_record import (
    add_event,
    better_run,
    completed_ids,
    dump,
    empty_progress,
    now,
    shape_problem,
    trim_history,
)

FILE_NAME = "progress.yaml"
LOCK_TIMEOUT_S = 30.0
READ_LIMIT = 1024**2  # bytes; a record of 200 history events is tens of KB, and YAML parses ~0.3 MB/s


class ProgressError(Exception):
    """The progress file cannot be used; the message says which file, what is wrong and how to recover."""


def file_hash(path: Path) -> str:
    """The sha256 of a file's bytes, written as "sha256:<hex>" (OSError for anything but a regular file)."""
    return "sha256:" + hashlib.sha256(files.read_bytes(path)).hexdigest()


class ProgressStore:
    """Read and update one course's progress file. Safe to use from several processes at once."""

    def __init__(self, course: Course):
        self.course = course
        self.path: Path = course.state_dir / FILE_NAME
        self.backup_path: Path = self.path.with_name(FILE_NAME + ".bak")
        self.lock_path: Path = self.path.with_name(FILE_NAME + ".lock")
        self.held_path: Path = self.path.with_name(FILE_NAME + ".held")
        self.held: dict | None = None  # the record as this store first read it (or last wrote it)
        self.held_existed = False  # ... and whether the file was there then

    # --- reading ---------------------------------------------------------------------------------

    def read(self) -> dict:
        """The whole progress record (a fresh empty one if the file does not exist yet).

        Raises ProgressError, having changed nothing, when the record cannot be read or could not
        be written next time.
        """
        self._check_state_files()
        data, existed = self._load(self.path)
        if self.held is None:  # what this command started from: update() will not lose it
            self.held, self.held_existed = copy.deepcopy(data), existed
        return data

    def _load(self, path: Path) -> tuple[dict, bool]:
        """The record in `path` and whether the file exists; ProgressError when it cannot be used."""
        try:
            text = files.read_text(path, READ_LIMIT)
        except FileNotFoundError:
            return empty_progress(), False
        except OSError as exc:
            raise self._error(files.problem(exc)) from None
        try:
            data = schema.load_yaml(text)
        except schema.SchemaError as exc:
            raise self._error(f"is {exc}" + (f" at line {exc.line}" if exc.line else "")) from None
        problem = shape_problem(data)
        if problem:
            raise self._error(problem)
        return data, True

    def module_entry(self, module_id: str) -> dict | None:
        """The record of one module (by any name course.module accepts), or None if never started."""
        return self.read()["modules"].get(self._module_id(module_id))

    def milestone_entry(self, milestone_id: str) -> dict | None:
        return self.read()["milestones"].get(str(milestone_id))

    def completed_ids(self) -> set[str]:
        return completed_ids(self.read())

    # --- writing ---------------------------------------------------------------------------------

    def update(self, fn: Callable[[dict], None]) -> dict:
        """Lock, read, let `fn` mutate the record in place, check its shape, write it atomically.

        Returns the record as written. If the file on disk is unusable, raises ProgressError and
        writes nothing; if `fn` raises, nothing is written either.
        """
        from filelock import FileLock, Timeout

        self._check_state_files()  # before the lock, which a read-only .tito/ would stall
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_S):
                data, existed = self._load(self.path)
                self._refuse_lost_record(data, existed)
                fn(data)
                if isinstance(data.get("modules"), dict):
                    data["modules"] = dict(sorted(data["modules"].items(), key=lambda item: str(item[0])))
                trim_history(data)
                problem = shape_problem(data)
                if problem:  # a bug in the caller; refuse to write a file we could not read back
                    raise ValueError(f"refusing to write a progress record that {problem}")
                text = dump(data)
                if existed:
                    files.atomic_copy(self.path, self.backup_path)
                files.atomic_write(self.path, text)
                self.held, self.held_existed = copy.deepcopy(data), True
                return data
        except Timeout:
            raise ProgressError(
                f"{self.course.shown(self.path)}: another tito process has held its lock ({self.course.shown(self.lock_path)}) "
                f"for {LOCK_TIMEOUT_S:.0f} s. If no other tito is running, delete the lock file and "
                "run `tito module status`."
            ) from None
        except OSError as exc:  # a folder or file in the way, a full disk: nothing was recorded
            where = self.course.shown(Path(exc.filename)) if exc.filename else self.course.shown(self.path.parent)
            raise ProgressError(
                f"{where} {files.problem(exc, 'written')}, so nothing was recorded and {self.course.shown(self.path)} is "
                "unchanged. Fix that, then run `tito module status`."
            ) from None

    def _refuse_lost_record(self, data: dict, existed: bool) -> None:
        """The record is merged, never rebuilt from nothing: if the file this command read has vanished,
        or lost a module or milestone entry tito never removes, something else changed it mid-run.
        Put back the record this command read and refuse to record anything."""
        lost = self._lost(data, existed)
        if lost:
            self._put_back()
            raise ProgressError(
                f"{self.course.shown(self.path)} {lost} while this command ran (a test or another program changed it), so tito "
                "recorded nothing; it put back the record it read at the start. Run the command again."
            )

    def _lost(self, data: dict, existed: bool) -> str | None:
        """How the record on disk lost what this store held ("vanished", "lost module 01"), or None."""
        held = self.held
        if held is None or not self.held_existed:
            return None
        if not existed:
            return "vanished"
        lost = [f"module {key}" for key in held["modules"] if key not in data["modules"]]
        lost += [f"milestone {key}" for key in held["milestones"] if key not in data["milestones"]]
        return f"lost the record of {', '.join(lost[:3])}" if lost else None

    def _put_back(self) -> None:
        assert self.held is not None
        files.atomic_write(self.path, dump(self.held))

    def keep_held(self) -> str | None:
        """After a test run: if the record lost what this store read before it (a test deleted or
        rewrote it), put that back and say so in words; None when nothing was lost."""
        from filelock import FileLock, Timeout

        if self.held is None:
            return None
        try:
            with FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_S):
                try:
                    data, existed = self._load(self.path)
                    lost = self._lost(data, existed)
                except ProgressError:  # a test left something unreadable in its place
                    lost = "became unreadable" if self.held_existed else None
                if not lost:
                    return None
                self._put_back()
        except (Timeout, OSError):
            return f"a test changed {self.course.shown(self.path)} and tito could not put it back; run `tito module status`"
        return f"a test changed {self.course.shown(self.path)} (it {lost}); tito put back the record it held"

    def record_module_started(self, module_id: str) -> dict:
        key = self._module_id(module_id)

        def change(data):
            entry = data["modules"].setdefault(key, {"status": "started"})
            entry.setdefault("started_at", now())
            add_event(data, "module_started", module=key)

        return self.update(change)

    def record_module_completed(
        self, module_id: str, *, passed: int, failed: int, skipped: int, seconds: float, source_hash: str
    ) -> dict:
        key = self._module_id(module_id)

        def change(data):
            stamp = now()
            entry = data["modules"].setdefault(key, {})
            entry["status"] = "completed"
            entry.setdefault("started_at", stamp)
            entry["completed_at"] = stamp
            entry["source_hash"] = source_hash
            entry["tests"] = {"passed": int(passed), "failed": int(failed), "skipped": int(skipped)}
            entry["seconds"] = round(float(seconds), 2)
            add_event(data, "module_completed", module=key, passed=int(passed))

        return self.update(change)

    def reset_module(self, module_id: str) -> dict:
        """Mark a module not completed (it stays started); its test record is dropped."""
        key = self._module_id(module_id)

        def change(data):
            entry = data["modules"].setdefault(key, {"started_at": now()})
            entry["status"] = "started"
            for field in ("completed_at", "source_hash", "tests", "seconds"):
                entry.pop(field, None)
            add_event(data, "module_reset", module=key)

        return self.update(change)

    def record_milestone_run(
        self, milestone_id: str, *, metrics: dict, seconds: float, achieved: bool, run_dir: str
    ) -> dict:
        """Keep the last run, and the best achieved run (judged by the milestone's target metric)."""
        key = str(milestone_id)
        try:
            metric = self.course.milestone(key).target.metric
        except KeyError:
            metric = None

        def change(data):
            run = {
                "at": now(),
                "achieved": bool(achieved),
                "metrics": plain_data(metrics),
                "seconds": round(float(seconds), 2),
                "run_dir": str(run_dir),
            }
            entry = data["milestones"].setdefault(key, {"runs": 0})
            entry["runs"] = int(entry.get("runs", 0)) + 1
            entry["last"] = run
            if achieved and better_run(run, entry.get("best"), metric):
                entry["best"] = run
            add_event(data, "milestone_run", milestone=key, achieved=bool(achieved))

        return self.update(change)

    # --- helpers ---------------------------------------------------------------------------------

    def _module_id(self, key: str) -> str:
        try:
            return self.course.module(key).id
        except KeyError:
            raise KeyError(f"no module {key!r} in {self.course.manifest}") from None

    def _check_state_files(self) -> None:
        """Refuse, before anything is opened, what would make the next write fail or lose data."""
        folder = self.path.parent
        if os.path.lexists(folder) and not folder.is_dir():
            raise self._in_the_way(folder, "is not a folder, so tito cannot keep its state in it")
        for path in (self.path, self.lock_path, self.backup_path):
            problem = files.not_regular(path)
            if problem:
                raise self._in_the_way(path, problem)
        if files.read_only(folder):
            raise self._in_the_way(folder, "is read-only, so tito cannot record progress in it", chmod=True)
        if files.read_only(self.path):
            raise self._in_the_way(self.path, "is read-only, so tito will not replace it", chmod=True)

    def _in_the_way(self, path: Path, problem: str, chmod: bool = False) -> ProgressError:
        shown = self.course.shown(path)
        if chmod:
            fix = f"Make it writable with `chmod u+w {shown}`"
        else:
            fix = f"Move it away with `mv {shown} {shown}.broken`"
        return ProgressError(f"{shown} {problem}; tito has not changed anything. {fix}, then run `tito module status`.")

    def _backup_usable(self) -> bool:
        """True when progress.yaml.bak is a record tito could read (the advice to restore it works)."""
        try:
            text = files.read_text(self.backup_path, READ_LIMIT)
            return shape_problem(schema.load_yaml(text)) is None
        except (OSError, schema.SchemaError):
            return False

    def _error(self, problem: str) -> ProgressError:
        if self._backup_usable():
            recover = (
                f"tito has not changed it. To recover, restore the last good copy with "
                f"`cp {self.course.shown(self.backup_path)} {self.course.shown(self.path)}`, or move the file away to start "
                "a fresh record; then run `tito module status`."
            )
        else:
            recover = (
                "tito has not changed it. To recover, fix it by hand or move it away to start a fresh "
                "record (re-run `tito module complete NN` for the modules you finished); then run "
                "`tito module status`."
            )
        return ProgressError(f"{self.course.shown(self.path)} {problem}. {recover}")

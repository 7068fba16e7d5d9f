"""The progress store: `.tito/progress.yaml` at the course root.

It records what a student has done: per module its status (started / completed), timestamps, the
source file's hash and test counts when completed; per milestone the best achieved run and the last
run; and a bounded history of events. Everything in it can be rebuilt by re-running the checks, so it
is a record, never a reason to lose work:

- every write happens under a file lock, goes to a temporary file and is renamed into place, so a
  reader sees the old file or the new one and two tito processes never lose each other's entries;
- before each write the current (valid) file is copied to `progress.yaml.bak`, the last good copy;
- a file that cannot be parsed or has the wrong shape is never overwritten: ProgressError says
  which file, what is wrong and how to recover.

The lock is `filelock.FileLock`: a small, well-kept, cross-platform package (fcntl on POSIX, msvcrt
on Windows) with timeouts, so tito does not carry its own platform branches it cannot test.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import yaml

from tito.course import Course
from tito.exporter import relative
from tito.files import atomic_copy, atomic_write

SCHEMA = 1
FILE_NAME = "progress.yaml"
HISTORY_LIMIT = 200
LOCK_TIMEOUT_S = 30.0
MODULE_STATUSES = ("started", "completed")


class ProgressError(Exception):
    """The progress file cannot be used; the message says which file, what is wrong and how to recover."""


def now() -> str:
    """The current UTC time as an ISO 8601 string with seconds, such as 2025-01-31T09:30:00Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_hash(path: Path) -> str:
    """The sha256 of a file's bytes, written as "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def empty_progress() -> dict:
    return {"schema": SCHEMA, "modules": {}, "milestones": {}, "history": []}


class ProgressStore:
    """Read and update one course's progress file. Safe to use from several processes at once."""

    def __init__(self, course: Course):
        self.course = course
        self.path: Path = course.state_dir / FILE_NAME
        self.backup_path: Path = self.path.with_name(FILE_NAME + ".bak")
        self.lock_path: Path = self.path.with_name(FILE_NAME + ".lock")

    # --- reading ---------------------------------------------------------------------------------

    def read(self) -> dict:
        """The whole progress record (a fresh empty one if the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return empty_progress()
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "unparsable text"
            raise self._error(f"is not valid YAML{where} ({problem})") from None
        problem = shape_problem(data)
        if problem:
            raise self._error(problem)
        return data

    def module_state(self, module_id: str) -> dict | None:
        """The record of one module (by any name course.module accepts), or None if never started."""
        return self.read()["modules"].get(self._module_id(module_id))

    def milestone_state(self, milestone_id: str) -> dict | None:
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

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_S):
                data = self.read()
                existed = self.path.exists()
                fn(data)
                if isinstance(data.get("modules"), dict):
                    data["modules"] = dict(sorted(data["modules"].items(), key=lambda item: str(item[0])))
                _trim_history(data)
                problem = shape_problem(data)
                if problem:  # a bug in the caller; refuse to write a file we could not read back
                    raise ValueError(f"refusing to write a progress record that {problem}")
                text = "# TinyTorch progress, written by tito. Edit with care; see `tito module status`.\n"
                text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
                if existed:
                    atomic_copy(self.path, self.backup_path)
                atomic_write(self.path, text)
                return data
        except Timeout:
            raise ProgressError(
                f"{self._shown()}: another tito process has held its lock ({self._shown(self.lock_path)}) "
                f"for {LOCK_TIMEOUT_S:.0f} s. If no other tito is running, delete the lock file and "
                "run `tito module status`."
            ) from None

    def record_module_started(self, module_id: str) -> dict:
        key = self._module_id(module_id)

        def change(data):
            entry = data["modules"].setdefault(key, {"status": "started"})
            entry.setdefault("started_at", now())
            _event(data, "module_started", module=key)

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
            _event(data, "module_completed", module=key, passed=int(passed))

        return self.update(change)

    def reset_module(self, module_id: str) -> dict:
        """Mark a module not completed (it stays started); its test record is dropped."""
        key = self._module_id(module_id)

        def change(data):
            entry = data["modules"].setdefault(key, {"started_at": now()})
            entry["status"] = "started"
            for field in ("completed_at", "source_hash", "tests", "seconds"):
                entry.pop(field, None)
            _event(data, "module_reset", module=key)

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
                "metrics": _plain(metrics),
                "seconds": round(float(seconds), 2),
                "run_dir": str(run_dir),
            }
            entry = data["milestones"].setdefault(key, {"runs": 0})
            entry["runs"] = int(entry.get("runs", 0)) + 1
            entry["last"] = run
            if achieved and _better(run, entry.get("best"), metric):
                entry["best"] = run
            _event(data, "milestone_run", milestone=key, achieved=bool(achieved))

        return self.update(change)

    # --- helpers ---------------------------------------------------------------------------------

    def _module_id(self, key: str) -> str:
        try:
            return self.course.module(key).id
        except KeyError:
            raise KeyError(f"no module {key!r} in {self.course.manifest}") from None

    def _shown(self, path: Path | None = None) -> str:
        return relative(path or self.path, self.course.root)

    def _error(self, problem: str) -> ProgressError:
        if self.backup_path.exists():
            recover = (
                f"tito has not changed it. To recover, restore the last good copy with "
                f"`cp {self._shown(self.backup_path)} {self._shown()}`, or move the file away to start "
                "a fresh record; then run `tito module status`."
            )
        else:
            recover = (
                "tito has not changed it. To recover, fix it by hand or move it away to start a fresh "
                "record (re-run `tito module complete NN` for the modules you finished); then run "
                "`tito module status`."
            )
        return ProgressError(f"{self._shown()} {problem}. {recover}")


def completed_ids(data: dict) -> set[str]:
    return {key for key, entry in data["modules"].items() if entry.get("status") == "completed"}


def shape_problem(data) -> str | None:
    """What is wrong with a loaded progress record, or None if it has the expected shape."""
    if not isinstance(data, dict):
        return f"does not hold a mapping (found {type(data).__name__})"
    schema = data.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, int) and schema > SCHEMA:
            return f"has schema {schema}, newer than this tito understands ({SCHEMA}); upgrade tito"
        return f"has schema {schema!r}; this tito reads schema {SCHEMA}"
    for section, kind in (("modules", dict), ("milestones", dict), ("history", list)):
        if not isinstance(data.get(section), kind):
            return f"has no '{section}' {kind.__name__} (found {type(data.get(section)).__name__})"
    for key, entry in data["modules"].items():
        if not isinstance(key, str):
            return f"has module key {key!r}, which should be a quoted id like '01'"
        if not isinstance(entry, dict):
            return f"has module '{key}' as {type(entry).__name__}, not a mapping"
        if entry.get("status") not in MODULE_STATUSES:
            return f"has module '{key}' with status {entry.get('status')!r}, not one of {', '.join(MODULE_STATUSES)}"
        tests = entry.get("tests", {})
        if not isinstance(tests, dict) or not all(isinstance(v, int) for v in tests.values()):
            return f"has module '{key}' with tests {tests!r}, not counts"
    for key, entry in data["milestones"].items():
        if not isinstance(entry, dict):
            return f"has milestone '{key}' as {type(entry).__name__}, not a mapping"
        for run in ("best", "last"):
            if run in entry and not (isinstance(entry[run], dict) and isinstance(entry[run].get("metrics"), dict)):
                return f"has milestone '{key}' with a '{run}' run that has no metrics mapping"
    return None


def _event(data: dict, event: str, **fields) -> None:
    data["history"].append({"at": now(), "event": event, **fields})


def _trim_history(data: dict) -> None:
    excess = len(data["history"]) - HISTORY_LIMIT
    if excess > 0:
        del data["history"][:excess]


def _better(run: dict, best: dict | None, metric: str | None) -> bool:
    if best is None:
        return True
    new, old = run["metrics"].get(metric), best["metrics"].get(metric)
    if not isinstance(new, (int, float)):
        return False
    return not isinstance(old, (int, float)) or new >= old  # a tie goes to the newer run (its pictures)


def _plain(value):
    """Metrics as plain YAML values: numpy scalars become Python numbers, tuples become lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)

"""One module's grade, made from the records of a run and of the reference, in the grader's words."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from tito.course import Module
from tito.grading.channel import Stream
from tito.grading.compare import exception_name, judge
from tito.grading.declare import Check
from tito.grading.graded_run import MAX_CHANNEL_BYTES, Outcome
from tito.linemap import source_location


@dataclass
class CheckResult:
    check: Check
    passed: bool
    reason: str = ""
    where: str = ""  # the student's file and line a failing check raised at, when it raised in their code


@dataclass
class ModuleGrade:
    """One student's result for one module."""

    module: Module
    results: list[CheckResult]
    source: str | None = None  # the student's file that was graded, relative to their folder
    prerequisites: list[str] = field(default_factory=list)  # graded on the reference implementation
    notes: list[str] = field(default_factory=list)
    refusals: int = 0  # without bubblewrap only: how many of the student's own operations the guard stopped
    seconds: float = 0.0
    error: str | None = None  # "grader error": grading this module failed on the grader's side (one line)

    @property
    def points(self) -> tuple[float, float]:
        """(points earned, points possible): the weights of the checks passed, and of all its checks."""
        return sum(r.check.weight for r in self.results if r.passed), sum(r.check.weight for r in self.results)

    @property
    def score(self) -> float:
        earned, possible = self.points
        return earned / possible if possible else 0.0

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


class GradeDetails(TypedDict, total=False):
    """The ModuleGrade fields known before its checks run (keyword arguments of ModuleGrade and all_failed)."""

    source: str | None
    prerequisites: list[str]
    notes: list[str]


@dataclass
class StudentGrade:
    name: str  # the folder's own name, as the student or the instructor wrote it
    folder: Path
    modules: list[ModuleGrade] = field(default_factory=list)
    key: str = ""  # unique and filesystem-safe: names the student's report and stored result


def all_failed(module: Module, checks: list[Check], reason: str, **details) -> ModuleGrade:
    """A module graded without a run: every check failed for the same reason."""
    return ModuleGrade(module, [CheckResult(c, False, reason) for c in checks], **details)


def grader_error(module: Module, checks: list[Check], why: str, **details) -> ModuleGrade:
    """The row of a module the grader could not grade: every check failed, `why` in one line."""
    line = " ".join(str(why).split())[:300]
    grade = all_failed(module, checks, "not graded: grader error", **details)
    grade.error = line
    return grade


PACKAGE_FRAME = re.compile(r"(tinytorch/[A-Za-z0-9_/]{1,200}\.py):(\d{1,7})")
MAX_FRAMES_READ = 8


def student_line(frames: object, package: Path, module: Module, shown: str) -> str:
    """Where in the student's own file a check raised, as "calc.py:12"; "" when it raised elsewhere.

    `frames` is what the run sent: its package frames, innermost first ("tinytorch/calc.py:40;...").
    The first one whose line map points into the student's module file wins, named as the report
    names that file.

    The frames come from the student's process, so each must look like a package path (no "..") and is
    read through the line map of the grader's own copy of that package file.
    """
    own = f"modules/{module.name}/{module.source.name}"
    for frame in frames.split(";", MAX_FRAMES_READ)[:MAX_FRAMES_READ] if isinstance(frames, str) else []:
        match = PACKAGE_FRAME.fullmatch(frame)
        if match is None or not (package / match[1]).is_file():  # never open a FIFO the run left behind
            continue
        source, line = source_location(package / match[1], int(match[2]))
        if source == own and line is not None:
            return f"{shown}:{line}"
    return ""


class InfrastructureError(Exception):
    """The run never started its checks (the sandbox itself failed): the grader's problem, not the student's."""


MAX_REFUSALS_READ = 1000


def assess(
    grade: ModuleGrade,
    checks: list[Check],
    student: Stream,
    reference: Stream,
    outcome: Outcome,
    given_lines: set[str],
    locate: Callable[[object], str] = lambda frames: "",
) -> ModuleGrade:
    """Fill `grade.results` by comparing each check's student record with its reference record.

    Only verdicts come of the run's records: pass or fail, an exception type from a fixed list, a line
    of the student's own file, and (without bubblewrap) a count of the guard's refusals. No text the
    run sent is copied into the grade."""
    if not student.records or student.records[0].kind != "hello":
        raise InfrastructureError(f"the graded process did not start (exit code {outcome.returncode})")
    by_name: dict[str, list] = {}
    refusals = 0
    for record in student.records:
        if record.kind == "check":
            by_name.setdefault(record.check, []).append(record)
        elif record.kind == "refusal" and refusals < MAX_REFUSALS_READ:
            # only what a line the student wrote caused: the course's given code and the grader's own
            # imports are never counted as the student's doing
            line = record.extra.get("line")
            refusals += bool(line) and line not in given_lines
    grade.refusals = refusals
    expected = {r.check: r for r in reference.records if r.kind == "check"}
    missing_reason = _missing_reason(student, outcome)
    for item in checks:
        records = by_name.get(item.name, [])
        if not records:
            grade.results.append(CheckResult(item, False, missing_reason))
        elif len(records) > 1:
            grade.results.append(CheckResult(item, False, "reported twice: something besides the grader wrote results"))
        elif records[0].extra.get("timeout") is not None:
            grade.results.append(CheckResult(item, False, f"did not finish within {item.seconds:g} s"))
        elif records[0].error is not None:
            where = locate(records[0].extra.get("where"))
            grade.results.append(CheckResult(item, False, f"raised {exception_name(records[0].error)}", where))
        else:
            reason = judge(item, records[0].values(), expected[item.name].values())
            grade.results.append(CheckResult(item, reason is None, reason or ""))
    if outcome.over_memory:
        grade.notes.append("the run was stopped when its processes together passed its memory limit")
    if outcome.timed_out:
        grade.notes.append("the run was stopped at its time limit; checks not reached count as failed")
    return grade


def _missing_reason(student: Stream, outcome: Outcome) -> str:
    if outcome.timed_out:
        return "not reached: the run was stopped at its time limit"
    if outcome.over_memory:
        return "not reached: the run's processes together passed its memory limit"
    if outcome.overflowed:
        return f"not reached: the run sent more than {MAX_CHANNEL_BYTES // 2**20} MB of results"
    if student.malformed:
        return "not reached: something besides the grader wrote into the results, which were cut there"
    if not any(r.kind == "end" for r in student.records):
        # how it ended, not its exit code: the code is the student's to choose, 8 bits a module
        how = "killed by a signal" if (outcome.returncode or 0) < 0 else "it exited"
        return f"not reached: the run ended early ({how})"
    return "not reported"

"""Failures a person can read: grouped by the student's function that holds the bug, a screenful at a time.

A wrong output-size formula in module 09 fails hundreds of tests, inline and package, with assertion
messages and shape errors deep in NumPy. Each failing test is pointed at one student function (the
test plugin works it out from the functions the test called, tito/pytest_plugins/calls.py), so one
bug is one group, headed by the function and its line in the student's file, and two bugs in two
functions are two groups. A group shows its most telling message: an inline test's, or an assertion
that explains itself. Failures that point to no function (collection errors, a missing marker) are
grouped by test. Groups are ordered: errors outside the tests, then by how many tests they fail.
Only a screenful is shown unless all are asked for; the caller prints the lines, then the summary and
one next step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tito.testing import Failure

SCREEN_LINES = 24  # failure lines shown by default
MESSAGE_LINES = 4  # message lines per group by default


@dataclass
class FailureGroup:
    failures: list[Failure] = field(default_factory=list)

    @property
    def first(self) -> Failure:
        """The failure whose message the group shows: the most telling one."""
        return min(self.failures, key=_telling)

    @property
    def function(self) -> str:
        return self.failures[0].function

    @property
    def where(self) -> str:
        """Where to look: the function's line the failures passed through most, else the first's place."""
        if not self.function:
            return self.first.where
        places = [f.where for f in self.failures if f.where]
        return max(_unique(places), key=places.count) if places else ""

    def rank(self) -> tuple:
        """Errors outside the tests first, then groups of a function, the largest first, then the rest."""
        if not self.failures[0].kind:
            return (0, 0)
        if self.function:
            return (1, -len(self.failures))
        return (2, _telling(self.first))

    def title(self) -> str:
        label = "ERROR" if self.first.outcome == "error" else "FAILED"
        count = f"{len(self.failures)} test{'s' if len(self.failures) != 1 else ''}"
        if self.function and not self.first.kind:
            return f"{label} {self.function} at {self.where}: while importing {self.first.test_id}"
        if self.function:
            return f"{label} {self.function} at {self.where}: {count}"
        if len(self.failures) == 1:
            return f"{label} {self.first.test_id}"
        return f"{label} {count}: {self.tests()}"

    def tests(self, shown: int | None = 2) -> str:
        """The failing tests' ids, parameters included: the first `shown`, or all for None."""
        ids = _unique(f.test_id for f in self.failures)
        if shown is None or len(ids) <= shown:
            return ", ".join(ids)
        return ", ".join(ids[:shown]) + f" and {len(ids) - shown} more"

    def lines(self, message_lines: int | None) -> list[str]:
        first = self.first
        message = first.message.strip().splitlines() or ["(no message)"]
        if first.exception:
            message[0] = f"{first.exception}: {message[0]}"
        if message_lines is not None and len(message) > message_lines:
            message = message[:message_lines] + ["..."]
        out = [self.title()]
        if self.function and first.kind:
            out.append(f"    {self.tests(None if message_lines is None else 2)}")
        out += [f"    {line}" for line in message]
        if first.where and first.where != self.where:
            out.append(f"    at {first.where}")
        return out

    def place(self) -> str:
        """ "Tensor.mean at modules/01_tensor/tensor.py:239", or the place alone."""
        return f"{self.function} at {self.where}" if self.function and self.where else self.where


def _telling(failure: Failure) -> int:
    """Lower tells more: an assertion that explains itself (an inline test's first), an unwritten
    stub, a bare `assert` (an inline test's first), then any other exception (usually a symptom)."""
    inline = failure.kind == "inline"
    if failure.exception == "AssertionError" and not failure.message.startswith("assert "):
        return 1 if inline else 2
    if failure.exception == "NotImplementedError":
        return 3
    if failure.exception == "AssertionError":
        return 4 if inline else 5
    return 6


def _function_id(test_id: str) -> str:
    """tests/09_spatial/test_conv.py::test_forward[3-1] -> tests/09_spatial/test_conv.py::test_forward"""
    return test_id.split("[", 1)[0]


def _unique(items) -> list:
    seen: list = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _key(failure: Failure) -> tuple:
    if failure.function and failure.kind:
        return ("function", failure.where.split(":", 1)[0], failure.function)
    if failure.where.startswith("modules/") and failure.kind != "inline":
        head = (failure.message.strip().splitlines() or [""])[0]
        return ("at", failure.where, failure.exception, head)
    return ("test", _function_id(failure.test_id))


def group_failures(failures: list[Failure]) -> list[FailureGroup]:
    """Failures grouped by cause, in the order of FailureGroup.rank (ties keep the order tests ran in)."""
    groups: dict[tuple, FailureGroup] = {}
    for failure in failures:
        groups.setdefault(_key(failure), FailureGroup()).failures.append(failure)
    return sorted(groups.values(), key=FailureGroup.rank)


def render(failures: list[Failure], *, show_all: bool = False, again: str = "") -> list[str]:
    """The lines to print: every group when `show_all`, else those that fit a screen, then what was left out."""
    groups = group_failures(failures)
    lines: list[str] = []
    for index, group in enumerate(groups):
        block = group.lines(None if show_all else MESSAGE_LINES)
        if not show_all and lines and len(lines) + len(block) > SCREEN_LINES:
            hidden = groups[index:]
            count = sum(len(g.failures) for g in hidden)
            lines.append(
                f"... and {len(hidden)} more group{'s' if len(hidden) != 1 else ''} ({count} failure"
                f"{'s' if count != 1 else ''}): run `{again} --all-failures` to see them all."
                if again
                else f"... and {len(hidden)} more groups ({count} failures)."
            )
            break
        lines.extend(block)
    return lines


def first_place(failures: list[Failure]) -> str | None:
    """Where to start: the function and place of the first group, if it has one."""
    for group in group_failures(failures):
        if group.where:
            return group.place()
    return None

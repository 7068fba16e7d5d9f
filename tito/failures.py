"""Failures a person can read: the most specific first, grouped by cause, a screenful at a time.

A wrong output-size formula in module 09 fails 338 tests; the one that says what is wrong ("3x3 with
padding 1 keeps the size; assert 31 == 32") is an inline test, and the rest are symptoms (matmul shape
errors deep in NumPy). So failures are grouped (one test over many parameters, or one exception at one
line of the student's file), the groups are ordered most specific first, and only a screenful is shown
unless all are asked for. The caller prints the lines, then the summary and one next step.
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
        return self.failures[0]

    def rank(self) -> int:
        """Lower is more specific: collection errors, inline tests, assertions that explain themselves,
        unwritten stubs, other assertions, then any other exception (usually a symptom)."""
        first = self.first
        if not first.kind:
            return 0
        if first.kind == "inline":
            return 1
        if first.exception == "AssertionError" and not first.message.startswith("assert "):
            return 2
        if first.exception == "NotImplementedError":
            return 3
        if first.exception == "AssertionError":
            return 4
        return 5

    def title(self) -> str:
        tests = _unique(_function_id(f.test_id) for f in self.failures)
        label = "ERROR" if self.first.outcome == "error" else "FAILED"
        if len(self.failures) == 1:
            return f"{label} {self.first.test_id}"
        shown = ", ".join(tests[:2]) + (f" and {len(tests) - 2} more" if len(tests) > 2 else "")
        return f"{label} {len(self.failures)} tests: {shown}"

    def lines(self, message_lines: int | None) -> list[str]:
        first = self.first
        message = first.message.strip().splitlines() or ["(no message)"]
        if first.exception:
            message[0] = f"{first.exception}: {message[0]}"
        if message_lines is not None and len(message) > message_lines:
            message = message[:message_lines] + ["..."]
        out = [self.title()] + [f"    {line}" for line in message]
        if first.where:
            out.append(f"    at {first.where}")
        return out


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
    if failure.where.startswith("modules/") and failure.kind != "inline":
        head = (failure.message.strip().splitlines() or [""])[0]
        return ("at", failure.where, failure.exception, head)
    return ("test", _function_id(failure.test_id))


def group_failures(failures: list[Failure]) -> list[FailureGroup]:
    """Failures grouped by cause, most specific group first (ties keep the order tests ran in)."""
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
    """Where to start: the location of the most specific failure, if it has one."""
    groups = group_failures(failures)
    for group in groups:
        if group.first.where:
            return group.first.where
    return None

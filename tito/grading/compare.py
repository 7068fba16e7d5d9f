"""Verdicts, made in the grader's own process: a student's results against the reference's.

Every reason is written here, in the grader's words. The only text that comes from the student's
process is one exception line, and `Scrubber` removes it when it quotes the course's solutions.
"""

from __future__ import annotations

import numpy as np

from tito.grading.declare import Check

WINDOW = 24  # characters: a message sharing this many in a row with a solution line is withheld
SHOWN_ERROR_CHARS = 200


def same_values(student: dict, reference: dict, rtol: float, atol: float) -> str | None:
    """None when `student` has every value of `reference`, equal within tolerance; else the reason."""
    for key, expected in reference.items():
        if key not in student:
            return f"returned no `{key}`"
        got = student[key]
        if isinstance(expected, (str, list)):
            if got != expected:
                return f"`{key}` is not what the reference gives"
            continue
        if isinstance(got, (str, list)):
            return f"`{key}` is text where the reference has numbers"
        reason = _compare_arrays(key, np.asarray(got), np.asarray(expected), rtol, atol)
        if reason:
            return reason
    return None


def _compare_arrays(key: str, got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if got.shape != expected.shape:
        return f"`{key}` has shape {tuple(got.shape)} where the reference has {tuple(expected.shape)}"
    if expected.dtype.kind == "b" or got.dtype.kind == "b":
        wrong = got.astype(bool) != expected.astype(bool)
    elif expected.dtype.kind in "iu" and got.dtype.kind in "iu":
        wrong = got.astype(np.int64) != expected.astype(np.int64)
    else:
        g, e = got.astype(np.float64), expected.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        wrong = ~close
    if not wrong.any():
        return None
    if expected.size == 1:
        return f"`{key}` differs from the reference"
    # How many entries, not their values: a run's numbers are a channel out of the sandbox (it can read
    # the prerequisites' reference package), and a count carries a few bits at most.
    return f"`{key}` differs from the reference in {int(wrong.sum())} of {expected.size} entries"


def judge(check: Check, student: dict, reference: dict) -> str | None:
    """The check's own judge, or the default comparison; a judge that crashes fails the check."""
    if check.judge is None:
        return same_values(student, reference, check.rtol, check.atol)
    try:
        verdict = check.judge(student, reference)
    except Exception as exc:  # the student's values can be any shape; a judge may trip on them
        return f"its results could not be judged ({type(exc).__name__})"
    return None if verdict is None else str(verdict)


class Scrubber:
    """Withholds student-process text that quotes a line of the course's solutions."""

    def __init__(self, secret_lines):
        self.windows: set[str] = set()
        for line in secret_lines:
            text = " ".join(str(line).split())
            if len(text) <= WINDOW:
                self.windows.add(text)
            for start in range(len(text) - WINDOW + 1):
                self.windows.add(text[start : start + WINDOW])
        self.sizes = sorted({WINDOW} | {len(w) for w in self.windows if len(w) < WINDOW})  # window lengths to try

    def clean(self, message: str) -> str:
        text = " ".join(str(message).split())
        for size in self.sizes:
            for start in range(max(0, len(text) - size + 1)):
                if text[start : start + size] in self.windows:
                    return "(the message quoted the course's code and is not shown)"
        if len(text) > SHOWN_ERROR_CHARS:
            text = text[: SHOWN_ERROR_CHARS - 3] + "..."
        return text

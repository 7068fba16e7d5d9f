"""Verdicts, made in the grader's own process: a student's results against the reference's.

Every reason is written here, in the grader's words. Nothing a graded run wrote is quoted: of an
exception it raised, only the type is named, and only when it is one of `EXCEPTIONS` (a fixed list).
`Scrubber` withholds an export message that quotes the course's solutions.
"""

from __future__ import annotations

import numpy as np

from tito.grading.declare import Check

WINDOW = 24  # characters: a message sharing this many in a row with a solution line is withheld
SHOWN_ERROR_CHARS = 200


EXCEPTIONS = frozenset(
    {
        "ArithmeticError", "AssertionError", "AttributeError", "FileNotFoundError", "FloatingPointError",
        "ImportError", "IndexError", "KeyError", "KeyboardInterrupt", "LinAlgError", "LookupError",
        "MemoryError", "ModuleNotFoundError", "NameError", "NotImplementedError", "OSError", "OverflowError",
        "PermissionError", "RecursionError", "RuntimeError", "StopIteration", "SystemExit", "TypeError",
        "UnboundLocalError", "ValueError", "ZeroDivisionError",
    }
)  # fmt: skip
KINDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats"}


def same_values(student: dict, reference: dict, rtol: float, atol: float) -> str | None:
    """None when `student` has every value of `reference`, the same in kind, dtype kind, shape and
    values; else the reason. Strict and total: nothing is cast between kinds (booleans are not
    numbers, integers not floats), NaN matches only NaN and infinity only the same infinity, and any
    value of the wrong sort (text for numbers, an object) is a failure, never an exception."""
    for key, expected in reference.items():
        if key not in student:
            return f"returned no `{key}`"
        got = student[key]
        if isinstance(expected, str) or isinstance(expected, list):
            if type(got) is not type(expected) or (
                isinstance(got, list) and not all(isinstance(item, str) for item in got)
            ):
                return f"`{key}` is not text where the reference has text"
            if got != expected:
                return f"`{key}` is not what the reference gives"
            continue
        if not isinstance(got, np.ndarray):
            return f"`{key}` is text where the reference has numbers"
        reason = _compare_arrays(key, got, np.asarray(expected), rtol, atol)
        if reason:
            return reason
    return None


def same_form(student: dict, reference: dict) -> str | None:
    """None when `student` has every key of `reference` in the same form: text where it has text, and
    arrays of the same dtype kind and shape, finite wherever the reference is finite throughout; else
    the reason. A check's own judge sees the values only after this: a judge written as arithmetic
    on the values (a maximum, a mean, `>`) passes NaN, which compares False with everything, and
    casts booleans to numbers."""
    for key, expected in reference.items():
        if key not in student:
            return f"returned no `{key}`"
        got = student[key]
        if isinstance(expected, (str, list)):
            if type(got) is not type(expected) or (isinstance(got, list) and not all(isinstance(i, str) for i in got)):
                return f"`{key}` is not text where the reference has text"
            continue
        if not isinstance(got, np.ndarray):
            return f"`{key}` is text where the reference has numbers"
        reason = _compare_form(key, got, np.asarray(expected))
        if reason:
            return reason
    return None


def _compare_form(key: str, got: np.ndarray, expected: np.ndarray) -> str | None:
    reason = _kind_and_shape(key, got, expected)
    if reason is None and got.dtype.kind == "f" and np.isfinite(expected).all() and not np.isfinite(got).all():
        return f"`{key}` holds NaN or infinity where the reference holds none"
    return reason


def _kind_and_shape(key: str, got: np.ndarray, expected: np.ndarray) -> str | None:
    want, have = KINDS.get(expected.dtype.kind), KINDS.get(got.dtype.kind)
    if have is None or have != want:
        return f"`{key}` holds {have or 'something else'} where the reference holds {want}"
    if got.shape != expected.shape:
        # The run's own shape is not shown: up to 32 numbers of its choice (a shape with a 0 in it
        # holds no data) carried 8 bytes of the prerequisites' reference package out of each check.
        return f"`{key}` does not have the reference's shape {tuple(expected.shape)}"
    return None


def _compare_arrays(key: str, got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    reason = _kind_and_shape(key, got, expected)
    if reason:
        return reason
    wrong = _differ(got, expected, rtol, atol)
    if not wrong.any():
        return None
    if expected.size == 1:
        return f"`{key}` differs from the reference"
    # How many entries, not their values: a run's numbers are a channel out of the sandbox (it can read
    # the prerequisites' reference package), and a count carries a few bits at most.
    return f"`{key}` differs from the reference in {int(wrong.sum())} of {expected.size} entries"


def _differ(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Where two arrays of the same kind and shape differ (booleans and integers exactly)."""
    if expected.dtype.kind == "b":
        return got != expected
    if expected.dtype.kind in "iu":
        if got.dtype.kind == expected.dtype.kind:
            return got != expected  # NumPy widens within one kind exactly
        signed, unsigned = (got, expected) if got.dtype.kind == "i" else (expected, got)
        # int64 against uint64 would meet in float64 and lose digits: compare the bits where both are >= 0
        return (signed < 0) | (signed.astype(np.uint64) != unsigned.astype(np.uint64))
    g, e = got.astype(np.float64), expected.astype(np.float64)  # exact for float16/32
    with np.errstate(invalid="ignore", over="ignore"):
        both_nan = np.isnan(g) & np.isnan(e)
        same_infinity = np.isinf(e) & (g == e)
        finite = np.isfinite(g) & np.isfinite(e)
        close = finite & (np.abs(g - e) <= atol + rtol * np.abs(e))
    return ~(both_nan | same_infinity | close)


def exception_name(error: object) -> str:
    """The exception a run said a check raised, as the report names it: a type from `EXCEPTIONS`, or
    "an exception". The run's message is never shown (it could carry anything, the reference included)."""
    name = str(error).split(":", 1)[0].strip() if error is not None else ""
    return name if name in EXCEPTIONS else "an exception"


def judge(check: Check, student: dict, reference: dict) -> str | None:
    """The check's own judge, or the default comparison; a judge that crashes fails the check. A judge
    only sees values of the reference's form (`same_form`)."""
    if check.judge is None:
        try:
            return same_values(student, reference, check.rtol, check.atol)
        except Exception as exc:  # noqa: BLE001 - never expected; a failed check, never a stopped class
            return f"its results could not be compared ({type(exc).__name__})"
    try:
        reason = same_form(student, reference)
        if reason:
            return reason
    except Exception as exc:  # noqa: BLE001 - as above
        return f"its results could not be compared ({type(exc).__name__})"
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

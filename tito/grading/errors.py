"""The grader's own exceptions: grading cannot go on, and the message says what to fix."""

from __future__ import annotations


class GradingError(Exception):
    """Grading cannot go on; the message says what to fix."""


class SubmissionsError(GradingError):
    """The folders given to grade are unusable (a usage error)."""


class SandboxUnavailable(GradingError):
    """bubblewrap is missing or cannot start a sandbox here; the message says what to do."""

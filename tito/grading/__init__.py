"""`tito grade`: run each student's submission against the course's tests, each in a guarded process.

runner.py grades a folder of submissions and writes grades.csv and one report per student;
harness.py is what each grading process runs; sandbox.py is the guard it puts up first.
"""

from tito.grading.runner import (
    DEFAULT_TIMEOUT,
    GradingError,
    ModuleGrade,
    StudentGrade,
    SubmissionsError,
    find_module_file,
    find_students,
    grade_submissions,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "GradingError",
    "ModuleGrade",
    "StudentGrade",
    "SubmissionsError",
    "find_module_file",
    "find_students",
    "grade_submissions",
]

"""What a grade says, to the instructor (grades.csv) and to the student (one report each).

A report speaks only of the student's own work: each failed check with the grader's one-line reason,
what was graded, and that the module was graded on the reference implementation of the modules it
builds on. Nothing in it is text the student's code chose, beyond one scrubbed exception line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tito.files import atomic_write
from tito.grading.verdict import ModuleGrade, StudentGrade

FAIRNESS = (
    "Each module is graded on the reference implementation of the modules it builds on, so a mistake "
    "costs marks only in the module where it is."
)


def write_grades(out: Path, grades: list[StudentGrade]) -> Path:
    """grades.csv: one row per student and module (student, module, score, checks passed, checks failed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "module", "score", "passed", "failed"])
    for grade in grades:
        for item in grade.modules:
            writer.writerow([grade.name, item.module.name, f"{item.score:.3f}", item.passed, item.failed])
    path = Path(out) / "grades.csv"
    atomic_write(path, buffer.getvalue())
    return path


def module_section(item: ModuleGrade) -> list[str]:
    """The lines about one module: what was graded, notes and every failed check with its reason."""
    graded = f"Graded file: {item.source or '(none)'}"
    if item.prerequisites:
        graded += f"; graded on the reference {', '.join(item.prerequisites)}"
    lines = [graded + (f"; {item.seconds:g} s." if item.seconds else ".")]
    if item.notes:
        lines += [""] + [f"- Note: {note.rstrip('.')}." for note in item.notes]
    failed = [r for r in item.results if not r.passed]
    if failed:
        lines += ["", "Failed checks:", ""]
        lines += [
            f"- `{r.check.name}`, {r.check.weight:g} point{'s' if r.check.weight != 1 else ''} "
            f"({r.check.description.rstrip('.')}): {r.reason.rstrip('.')}."
            + (f" Raised at {r.where}." if r.where else "")
            for r in failed
        ]
    if item.refusals:
        lines += ["", "The guard refused (your code's own attempts):", ""] + [f"- {line}" for line in item.refusals]
    return lines


def write_report(out: Path, grade: StudentGrade) -> Path:
    """reports/<student>.md: the score of each module and why it is not higher."""
    total = sum(item.score for item in grade.modules)
    lines = [f"# {grade.name}", "", f"Score: {total:.2f} of {len(grade.modules)} modules.", "", FAIRNESS, ""]
    for item in grade.modules:
        earned, possible = item.points
        lines += [
            f"## {item.module.name}: {item.score:.3f} ({earned:g} of {possible:g} points, "
            f"{item.passed} of {len(item.results)} checks passed)",
            "",
        ]
        lines += module_section(item)
        lines.append("")
    path = Path(out) / "reports" / f"{grade.name}.md"
    atomic_write(path, "\n".join(lines))
    return path

"""What a grade says, to the instructor (grades.csv) and to the student (one report each).

A report speaks only of the student's own work: each failed check with the grader's one-line reason,
what was graded, and that the module was graded on the reference implementation of the modules it
builds on. Nothing in it is text a graded run chose: reasons are the grader's words, an exception
is named only by a type from a fixed list, and a place only as a line of the student's own file.

Each student's result is stored as it finishes (results/<id>.json, written atomically), so a grading
stopped half-way can be resumed; grades.csv is made from those stored results.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path

from tito.files import atomic_write
from tito.grading.verdict import ModuleGrade, StudentGrade

FAIRNESS = (
    "Each module is graded on the reference implementation of the modules it builds on, so a mistake "
    "costs marks only in the module where it is."
)
COLUMNS = ["student", "id", "module", "score", "passed", "failed", "status"]


def plain(text: str) -> str:
    """`text` without control, format (bidi overrides, zero-width) or line-breaking characters."""
    return "".join(c if unicodedata.category(c)[0] != "C" else "?" for c in " ".join(str(text).split()))


def stored_result(grade: StudentGrade, fingerprint: str) -> dict:
    """What results/<id>.json holds for one student: enough to write their grades.csv rows."""
    return {
        "name": grade.name,
        "id": grade.key,
        "fingerprint": fingerprint,
        "rows": [
            {
                "module": item.module.name,
                "score": round(item.score, 3),
                "passed": item.passed,
                "failed": item.failed,
                "status": "grader error" if item.error else "graded",
            }
            for item in grade.modules
        ],
    }


def store_result(out: Path, result: dict) -> Path:
    path = Path(out) / "results" / f"{result['id']}.json"
    atomic_write(path, json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    return path


def load_result(out: Path, key: str) -> dict | None:
    """A stored result, or None when there is none or it is unreadable (then the student is graded again)."""
    try:
        data = json.loads((Path(out) / "results" / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


def _cell(text: str) -> str:
    """A name as a spreadsheet shows it: one that would start a formula (=, +, -, @) is quoted."""
    text = plain(text)
    return "'" + text if text.startswith(("=", "+", "-", "@")) else text


def write_grades(out: Path, results: list[dict]) -> Path:
    """grades.csv: one row per student and module. `student` is the folder's own name (UTF-8), `id`
    the unique safe name of the student's report; `status` is "graded" or "grader error". A name
    that would start a spreadsheet formula is quoted with a leading apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for result in results:
        for row in result["rows"]:
            writer.writerow(
                [
                    _cell(result["name"]),
                    result["id"],
                    row["module"],
                    f"{row['score']:.3f}",
                    row["passed"],
                    row["failed"],
                ]
                + [row["status"]]
            )
    path = Path(out) / "grades.csv"
    atomic_write(path, buffer.getvalue())
    return path


def module_section(item: ModuleGrade) -> list[str]:
    """The lines about one module: what was graded, notes and every failed check with its reason."""
    graded = f"Graded file: {plain(item.source) if item.source else '(none)'}"
    if item.prerequisites:
        graded += f"; graded on the reference {', '.join(item.prerequisites)}"
    # whole seconds: the run's time is the student's to choose, so it carries as few bits as it can
    lines = [graded + (f"; about {max(1, round(item.seconds))} s." if item.seconds else ".")]
    if item.error:
        lines += ["", f"- Grader error: {plain(item.error).rstrip('.')}. This is the grader's fault, not yours."]
    if item.notes:
        lines += [""] + [f"- Note: {plain(note).rstrip('.')}." for note in item.notes]
    failed = [r for r in item.results if not r.passed]
    if failed:
        lines += ["", "Failed checks:", ""]
        lines += [
            f"- `{r.check.name}`, {r.check.weight:g} point{'s' if r.check.weight != 1 else ''} "
            f"({r.check.description.rstrip('.')}): {r.reason.rstrip('.')}."
            + (f" Raised at {plain(r.where)}." if r.where else "")
            for r in failed
        ]
    if item.refusals:
        lines += [
            "",
            f"- The guard refused {item.refusals} of your code's own attempts to reach outside its run "
            "(files, processes, the network).",
        ]
    return lines


def write_report(out: Path, grade: StudentGrade) -> Path:
    """reports/<id>.md: the score of each module and why it is not higher."""
    total = sum(item.score for item in grade.modules)
    lines = [f"# {plain(grade.name)}", "", f"Score: {total:.2f} of {len(grade.modules)} modules.", "", FAIRNESS, ""]
    for item in grade.modules:
        earned, possible = item.points
        lines += [
            f"## {item.module.name}: {item.score:.3f} ({earned:g} of {possible:g} points, "
            f"{item.passed} of {len(item.results)} checks passed)",
            "",
        ]
        lines += module_section(item)
        lines.append("")
    path = Path(out) / "reports" / f"{grade.key or grade.name}.md"
    atomic_write(path, "\n".join(lines))
    return path

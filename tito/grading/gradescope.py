"""Grading where classes are graded: the same checks as a Gradescope autograder.

`tito release gradescope OUT` writes OUT/autograder.zip, laid out as Gradescope's autograder
specification asks: `setup.sh` (run once, as root, when Gradescope builds the image: installs
bubblewrap and this course's package in /autograder/venv), `run_autograder` (run for every
submission), `gradescope.json` (which modules, how many points each) and `course/`, the reference
course tito grades with (module files, checks, tito itself). Like otter-grader's zip, it carries its
own grader, so what runs in Gradescope is what `tito grade` runs here.

For each submission, `python -m tito.grading.gradescope ROOT` grades ROOT/submission (the student's
module files, flat or in a course copy) exactly as `tito grade` does, in the bubblewrap sandbox, and
writes ROOT/results/results.json: one test per module, scored points x the module's score, whose
output is the module's section of the report. ROOT is /autograder, or $AUTOGRADER_ROOT when set.
Where the container cannot start bubblewrap, it grades behind the in-process guard and says so.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from tito.course import Course, Module, load_course
from tito.files import atomic_write
from tito.grading.declare import CHECKS_FILE
from tito.grading.report import FAIRNESS, module_section
from tito.grading.runner import DEFAULT_TIMEOUT, GradingError, SandboxUnavailable, grade_students
from tito.release import course_files

CONFIG = "gradescope.json"
SHIPPED = ("course.yaml", "pyproject.toml", "README.md", "modules/", "tito/", "tinytorch/")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
set -euo pipefail
packages="bubblewrap python3 python3-venv python3-pip"
apt-get install -y $packages || { apt-get update && apt-get install -y $packages; }
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet /autograder/source/course
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission with tito's checks and write
# /autograder/results/results.json. AUTOGRADER_ROOT replaces /autograder (to try it anywhere tito is installed).
set -u
root="${AUTOGRADER_ROOT:-/autograder}"
python="$root/venv/bin/python"
[ -x "$python" ] || python="python3"
exec "$python" -m tito.grading.gradescope "$root"
"""


class GradescopeError(Exception):
    """The autograder cannot be built; the message says why."""


def build_autograder(
    course: Course,
    out: Path,
    modules: list[Module],
    points: float,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
) -> Path:
    """Write OUT/autograder.zip for `modules`; see the module docstring."""
    if course.edition != "reference":
        raise GradescopeError(
            f"{course.manifest} says edition: {course.edition}; build the autograder from the reference edition."
        )
    missing = [m.name for m in modules if not (m.tests / CHECKS_FILE).is_file()]
    if missing:
        raise GradescopeError(f"no graded checks for {', '.join(missing)}: write tests/<module>/{CHECKS_FILE} first.")
    out = Path(out).resolve()
    target = out / "autograder.zip"
    if target.exists() and not force:
        raise GradescopeError(f"{target} exists; pass --force to replace it.")
    out.mkdir(parents=True, exist_ok=True)
    names = [name for name in course_files(course.root, skip=(out,)) if name.startswith(SHIPPED) or name in SHIPPED]
    names += [(m.tests / CHECKS_FILE).relative_to(course.root).as_posix() for m in modules]
    config = {"modules": [m.id for m in modules], "points_per_module": points, "timeout": timeout}
    partial = target.with_name(".autograder.zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
        archive.writestr(CONFIG, json.dumps(config, indent=2) + "\n")
        for name in sorted(set(names)):
            archive.write(course.root / name, f"course/{name}")
    os.replace(partial, target)
    return target


def results(course: Course, root: Path) -> dict:
    """Grade root/submission and return Gradescope's results.json contents."""
    config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    modules = [course.module(key) for key in config["modules"]]
    points = float(config["points_per_module"])
    timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
    submission = [("submission", root / "submission")]
    started, notes = time.monotonic(), []
    try:
        grades = grade_students(course, submission, modules=modules, timeout=timeout, hidden=(root,))
    except SandboxUnavailable as exc:
        wall = "as an unprivileged user of its own" if os.geteuid() == 0 else "behind the in-process guard"
        print(f"tito: {exc}; grading {wall} instead.", flush=True)
        notes.append(
            "This submission was graded without the bubblewrap sandbox, which this container cannot start; "
            "your instructor has been told."
        )
        grades = grade_students(course, submission, modules=modules, timeout=timeout, hidden=(root,), sandbox=False)
    tests: list[dict[str, Any]] = []  # results.json's "tests", as Gradescope's specification names them
    for item in grades[0].modules:
        tests.append(
            {
                "name": f"Module {item.module.id}: {item.module.title}",
                "number": item.module.id,
                "score": round(points * item.score, 2),
                "max_score": points,
                "status": "passed" if item.score == 1.0 else "failed",
                "output": "\n".join(module_section(item)).strip(),
                "visibility": "visible",
            }
        )
    return {
        "score": round(sum(test["score"] for test in tests), 2),
        "execution_time": round(time.monotonic() - started),
        "output": "\n\n".join([FAIRNESS, *notes]),
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def main(argv: list[str] | None = None) -> int:
    root = Path((argv or sys.argv[1:] or [os.environ.get("AUTOGRADER_ROOT", "/autograder")])[0]).resolve()
    target = root / "results" / "results.json"
    try:
        data = results(load_course(root / "source" / "course"), root)
    except GradingError as exc:
        print(f"tito: could not grade: {exc}", flush=True)
        data = {
            "score": 0.0,
            "output": "The autograder could not grade this submission; your instructor has been "
            "told (the error is in the autograder's output).",
            "tests": [],
        }
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, json.dumps(data, indent=2) + "\n")
    print(f"tito: wrote {target} (score {data['score']}).", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
Where the container cannot start bubblewrap (many Docker containers), it grades as an unprivileged
user of each run's own (as root: see grader.py), with the course, the kit, the submission and the
results made readable by root alone, and says so. setup.sh builds the grading kit once, into
/autograder/kit, so a submission's grading starts with its own runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from tito.course import Course, Module, load_course
from tito.files import atomic_write
from tito.grading.declare import CHECKS_FILE
from tito.grading.errors import GradingError, SandboxUnavailable
from tito.grading.grade_reports import FAIRNESS, module_section
from tito.grading.grader import DEFAULT_TIMEOUT, grade_students
from tito.grading.kit import KIT_FILE, Kit, KitError, build_kit, load_kit
from tito.grading.sandbox import installed_packages
from tito.grading.walls import wall_without_bubblewrap
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
# The grading kit (student edition, reference packages, checks) once, not once per submission.
/autograder/venv/bin/python -m tito.grading.gradescope --build-kit /autograder
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
    names += [course.shown(m.tests / CHECKS_FILE) for m in modules]
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


KIT_FOLDER = "kit"  # ROOT/kit: built once by setup.sh


def build_shared_kit(root: Path) -> Path:
    """ROOT/kit for every submission to share (setup.sh runs this once); readable by root alone."""
    course = load_course(root / "source" / "course")
    config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    target = root / KIT_FOLDER
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(mode=0o700, parents=True)
    build_kit(course, target, [course.module(key) for key in config["modules"]])
    return target


def _shared_kit(course: Course, root: Path, modules: list[Module]) -> Kit | None:
    """The kit setup.sh built, when it is there and was built for these modules; else None (built per run)."""
    if not (root / KIT_FOLDER / KIT_FILE).is_file():
        return None
    try:
        kit = load_kit(course, root / KIT_FOLDER)
    except KitError as exc:
        print(f"tito: {exc}", flush=True)
        return None
    if [m.id for m in kit.modules] != [m.id for m in modules]:
        return None
    print(f"tito: using the grading kit setup.sh built in {root / KIT_FOLDER}.", flush=True)
    return kit


def _close_to_others(root: Path) -> None:
    """Without bubblewrap, as root: what the runs' users must not read, readable by root alone (this
    container is the autograder's own: the course, the kit, the submission, the results, and the
    reference package setup.sh installed beside Python)."""
    (root / "results").mkdir(mode=0o700, exist_ok=True)
    for path in [root / name for name in ("source", KIT_FOLDER, "submission", "results")] + [
        Path(p) for p in installed_packages()
    ]:
        if path.exists():
            os.chmod(path, 0o700)


def results(course: Course, root: Path) -> dict:
    """Grade root/submission and return Gradescope's results.json contents."""
    config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    modules = [course.module(key) for key in config["modules"]]
    points = float(config["points_per_module"])
    timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
    submission = [("submission", root / "submission")]
    started, notes = time.monotonic(), []
    kit = _shared_kit(course, root, modules)
    # hidden from the runs: everything of the autograder but the venv the runs' Python lives in
    hidden = tuple(root / name for name in ("source", KIT_FOLDER, "submission", "results"))
    options: dict[str, Any] = {"modules": modules, "timeout": timeout, "hidden": hidden, "kit": kit}
    try:
        grades = grade_students(course, submission, **options)
    except SandboxUnavailable as exc:
        user = wall_without_bubblewrap() == "user"
        wall = "as an unprivileged user of its own" if user else "behind the in-process guard"
        print(f"tito: {exc}; grading {wall} instead.", flush=True)
        notes.append(
            "This submission was graded without the bubblewrap sandbox, which this container cannot start; "
            "your instructor has been told."
        )
        if user:
            _close_to_others(root)
        grades = grade_students(course, submission, sandbox=False, **options)
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
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--build-kit"]:
        target = build_shared_kit(Path((args[1:] or ["/autograder"])[0]).resolve())
        print(f"tito: built the grading kit in {target}.", flush=True)
        return 0
    root = Path((args or [os.environ.get("AUTOGRADER_ROOT", "/autograder")])[0]).resolve()
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

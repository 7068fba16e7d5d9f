"""What grading needs from the instructor's course, prepared once in the grader's temporary folder.

- `edition/`: the student edition (the starters every submission is compared against).
- `templates/NN_slug/`: a skeleton course (course.yaml, module files, tinytorch/) in which the
  prerequisites of module NN are the reference files, exported, and every other module is the
  starter. A student's run copies it, drops in their file for module NN and exports that alone:
  module NN is graded on the reference implementation of everything it builds on, so one bug costs
  marks in one module only.
- `reference/NN_slug/`: a copy of the template with the reference module NN exported into it, made by
  `export_copy` as a student's package is; the grader runs the checks on it in its own, unsandboxed
  process.
- `checks/NN_slug.py`: the module's checks (tests/NN_slug/grading.py of the instructor's course).

Only `tinytorch/` of a run's copy and its checks file are ever shown to the sandbox: the reference
module files and everything else here stay on the grader's side.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tito import exporter
from tito.course import MANIFEST_NAME, Course, CourseError, Module, load_course
from tito.grading.declare import CHECKS_FILE, Check, load_checks
from tito.release import ReleaseError, build_student_edition

KIT_FILE = "kit.json"  # which modules a kit was built for, and the solution lines reports must not quote


class KitError(Exception):
    """The instructor's course cannot be graded as it is; the message says what to fix."""


@dataclass
class Kit:
    course: Course
    root: Path
    modules: list[Module]
    checks: dict[str, list[Check]] = field(default_factory=dict)  # module id -> its checks
    starters: dict[str, str] = field(default_factory=dict)  # module id -> the starter file's text
    secrets: list[str] = field(default_factory=list)  # solution lines reports must never quote

    def template(self, module: Module) -> Path:
        return self.root / "templates" / module.name

    def reference(self, module: Module) -> Path:
        return self.root / "reference" / module.name

    def checks_file(self, module: Module) -> Path:
        return self.root / "checks" / f"{module.name}.py"

    def prerequisites(self, module: Module) -> list[Module]:
        """Every module `module` builds on, directly or not, in course order."""
        wanted, queue = set(), list(module.requires)
        while queue:
            current = queue.pop()
            if current not in wanted:
                wanted.add(current)
                queue.extend(self.course.module(current).requires)
        return [m for m in self.course.modules if m.id in wanted]


def build_kit(course: Course, root: Path, modules: list[Module]) -> Kit:
    """Prepare everything in the module docstring for `modules`; KitError if the course is unfit."""
    missing = [m.name for m in modules if not (m.tests / CHECKS_FILE).is_file()]
    if missing:
        raise KitError(
            f"no graded checks for {', '.join(missing)}: write tests/<module>/{CHECKS_FILE} (see "
            "tito/grading/declare.py), or grade other modules with --module."
        )
    kit = Kit(course, root, list(modules))
    try:
        release = build_student_edition(course, root / "edition", check_leaks=False)
    except ReleaseError as exc:
        raise KitError(f"cannot make the student edition to compare submissions with: {exc}") from None
    edition = root / "edition"
    for module in course.modules:
        starter = edition / "modules" / module.name / f"{module.slug}.py"
        kit.starters[module.id] = starter.read_text(encoding="utf-8") if starter.is_file() else ""
    for module in modules:
        kit.checks_file(module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module.tests / CHECKS_FILE, kit.checks_file(module))
        os.chmod(kit.checks_file(module), 0o644)
        try:
            kit.checks[module.id] = load_checks(kit.checks_file(module))
        except Exception as exc:  # the instructor's file: say which and why
            raise KitError(f"{module.tests / CHECKS_FILE} does not load: {type(exc).__name__}: {exc}") from None
        if not kit.checks[module.id]:
            raise KitError(f"{module.tests / CHECKS_FILE} declares no checks: mark check functions with @check.")
        _skeleton(kit, module, kit.template(module), kit.prerequisites(module))
        try:
            export_copy(kit.template(module), module, module.source.read_bytes(), kit.reference(module))
        except (OSError, CourseError, exporter.ExportError) as exc:
            raise KitError(f"the reference edition does not export for grading {module.name}: {exc}") from None
        readable_by_all(kit.reference(module))
    kit.secrets = sorted(release.secrets)  # the solution lines as the release's leak check sees them
    (root / KIT_FILE).write_text(
        json.dumps({"modules": [m.id for m in modules], "secrets": kit.secrets}) + "\n", encoding="utf-8"
    )
    return kit


def load_kit(course: Course, root: Path) -> Kit:
    """A kit build_kit wrote into `root` earlier (Gradescope's setup.sh builds one for every submission
    to share); KitError when there is none or it does not load."""
    try:
        data = json.loads((root / KIT_FILE).read_text(encoding="utf-8"))
        kit = Kit(course, root, [course.module(key) for key in data["modules"]], secrets=list(data["secrets"]))
        for module in course.modules:
            starter = root / "edition" / "modules" / module.name / f"{module.slug}.py"
            kit.starters[module.id] = starter.read_text(encoding="utf-8") if starter.is_file() else ""
        for module in kit.modules:
            kit.checks[module.id] = load_checks(kit.checks_file(module))
    except Exception as exc:  # noqa: BLE001 - any damage to the stored kit: build a new one
        raise KitError(f"the grading kit in {root} does not load ({type(exc).__name__}); build it again.") from None
    return kit


def _skeleton(kit: Kit, module: Module, target: Path, from_reference: list[Module]) -> None:
    """course.yaml, every module file (reference for `from_reference`, starter otherwise) and the
    package with `from_reference` exported."""
    edition = kit.root / "edition"
    target.mkdir(parents=True)
    shutil.copyfile(edition / MANIFEST_NAME, target / MANIFEST_NAME)
    shutil.copytree(edition / "tinytorch", target / "tinytorch")
    for other in kit.course.modules:
        source = other.source if other in from_reference else edition / "modules" / other.name / f"{other.slug}.py"
        if source.is_file():
            (target / "modules" / other.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / "modules" / other.name / f"{other.slug}.py")
    try:
        skeleton = load_course(target)
        chosen = [skeleton.module(m.id) for m in from_reference]
        if chosen:
            exporter.write_plans(skeleton, exporter.plan_export(skeleton, chosen))
    except (CourseError, exporter.ExportError) as exc:
        raise KitError(f"the reference edition does not export for grading {module.name}: {exc}") from None
    readable_by_all(target)


def export_copy(template: Path, module: Module, text: bytes, target: Path) -> None:
    """Copy `template` to `target`, make `text` its file of `module` and export that module alone into
    its tinytorch/: the one way a student's package and the reference's are made, so they differ only
    in that file. ExportError (or CourseError) when it does not export."""
    shutil.copytree(template, target)
    path = target / "modules" / module.name / f"{module.slug}.py"
    path.write_bytes(text)
    os.chmod(path, 0o644)
    staged = load_course(target)
    exporter.write_plans(staged, exporter.plan_export(staged, [staged.module(module.id)]))


def readable_by_all(folder: Path) -> None:
    """Folders 0755, files 0644: readable by the sandbox's own user when grading as root."""
    for parent, _, files in os.walk(folder):
        os.chmod(parent, 0o755)
        for name in files:
            os.chmod(os.path.join(parent, name), 0o644)

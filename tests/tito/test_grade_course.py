"""`tito grade` on this course's nine modules: full marks for the reference, zero for the starter, a bug
costs marks in its own module only, and every solution block is seen by its module's checks.

One grading kit (the student edition, each module's reference prerequisites, the checks) is built
once for the file and shared by every test, as a class's grading shares it.
"""

from __future__ import annotations

import ast
import shutil

import pytest
from grading_helpers import REPO, needs_bwrap, reasons

from tito.course import load_course
from tito.grading import grader
from tito.grading.grader import grade_students
from tito.grading.kit import build_kit
from tito.release import find_blocks, stub_line, what_to_implement

LINEAR_RETURN = "        return out + self.bias if self.bias is not None else out"


@pytest.fixture(scope="module")
def course():
    return load_course(REPO)


@pytest.fixture(scope="module")
def kit(course, tmp_path_factory):
    return build_kit(course, tmp_path_factory.mktemp("kit") / "kit", list(course.modules))


def _files(folder, course, change=None):
    folder.mkdir(parents=True)
    for module in course.modules:
        text = module.source.read_text(encoding="utf-8")
        (folder / module.source.name).write_text(change(module, text) if change else text, encoding="utf-8")
    return folder


@needs_bwrap
def test_reference_scores_one_starter_zero_and_a_bug_costs_its_own_module(course, kit, tmp_path):
    def forget_the_bias(module, text):
        if module.id != "03":
            return text
        assert LINEAR_RETURN in text
        return text.replace(LINEAR_RETURN, "        return out")

    reference = _files(tmp_path / "reference", course)
    buggy = _files(tmp_path / "buggy", course, forget_the_bias)
    starter = tmp_path / "starter"
    shutil.copytree(kit.root / "edition" / "modules", starter)

    graded = grade_students(
        course, [("reference", reference), ("buggy", buggy), ("starter", starter)], kit=kit, workers=2
    )

    scores = {grade.name: {item.module.id: round(item.score, 3) for item in grade.modules} for grade in graded}
    assert scores["reference"] == {m.id: 1.0 for m in course.modules}
    assert scores["starter"] == {m.id: 0.0 for m in course.modules}
    assert {k: v for k, v in scores["buggy"].items() if k != "03"} == {
        m.id: 1.0 for m in course.modules if m.id != "03"
    }
    assert scores["buggy"]["03"] < 1.0
    failed = {name for name, why in reasons(graded[1].modules[2]).items() if why}
    assert failed == {"linear_forward", "sequential"}
    assert graded[1].modules[4].prerequisites == ["01_tensor", "02_activations", "03_layers", "04_losses"]


def test_students_never_get_the_graded_checks(course, kit):
    edition = kit.root / "edition"  # made by `tito release student`'s own code
    assert (edition / "tests" / "03_layers" / "test_layers.py").is_file()
    assert sorted(edition.glob("tests/*/grading.py")) == []
    assert sorted(p.parent.name for p in REPO.glob("tests/*/grading.py")) == [m.name for m in course.modules]


def _blanked(module):
    """The module file with each solution block, in turn, replaced by its starter stub."""
    text = module.source.read_text(encoding="utf-8")
    tree, lines = ast.parse(text), text.splitlines(keepends=True)
    for number, block in enumerate(find_blocks(text, str(module.source))):
        stub = stub_line(block, module.id, what_to_implement(tree, block)) + "\n"
        yield number, block, "".join(lines[: block.begin - 1] + [stub] + lines[block.end :])


@needs_bwrap
def test_blanking_any_solution_block_lowers_its_module_score(course, kit, tmp_path):
    students, blanked = [], {}
    for module in course.modules:
        for number, block, text in _blanked(module):
            folder = tmp_path / f"{module.id}-{number:02d}"
            folder.mkdir()
            (folder / module.source.name).write_text(text, encoding="utf-8")
            students.append((folder.name, folder))
            blanked[folder.name] = (module.id, f"{module.source.name}:{block.begin}")
    assert len(students) >= 60  # every module's blocks, not a sample

    graded = grade_students(course, students, kit=kit, workers=2)

    missed = []
    for grade in graded:
        module_id, where = blanked[grade.name]
        (item,) = [item for item in grade.modules if item.module.id == module_id]
        if item.score >= 1.0:
            missed.append(where)
    assert missed == [], f"no check notices these solution blocks being blanked: {missed}"


def test_no_sandbox_reports_never_blame_the_student_for_the_course_own_code(course, kit, tmp_path, monkeypatch):
    # behind the guard, whoever runs this: as root with a Python others can read, the unprivileged-user
    # path would (rightly) refuse to grade this checkout's course, which other users can read
    monkeypatch.setattr(grader, "wall_without_bubblewrap", lambda: "guard")
    reference = _files(tmp_path / "reference", course)
    (graded,) = grade_students(
        course, [("reference", reference)], modules=[course.module("09")], kit=kit, sandbox=False
    )
    (spatial,) = graded.modules
    assert spatial.score == 1.0
    assert spatial.refusals == 0  # module 09's own ctypes call is given code
    assert any("WITHOUT the bubblewrap sandbox" in note for note in spatial.notes)

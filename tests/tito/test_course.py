"""course.yaml: loaded into typed objects, validated with file:line errors, and in step with the tree."""

from __future__ import annotations

import re

import pytest
from course_builder import REPO

from tito.course import CourseError, NotInCourseError, find_root, load_course, tree_problems


def test_the_real_manifest_lists_the_course_in_order():
    course = load_course(REPO)
    assert course.edition == "reference"
    assert [m.name for m in course.modules] == [
        "01_tensor",
        "02_activations",
        "03_layers",
        "04_losses",
        "05_autograd",
        "06_optimizers",
        "07_training",
        "08_dataloader",
        "09_spatial",
    ]
    assert [(ms.id, ms.year) for ms in course.milestones][:4] == [
        ("perceptron", 1957),
        ("xor", 1969),
        ("mlp", 1986),
        ("lenet", 1998),
    ]
    assert course.milestones[-1].id == "cifar10"
    assert all(0 < ms.target.at_least <= 1 for ms in course.milestones)


@pytest.mark.parametrize("key", ["09", "9", 9, "spatial", "09_spatial", " Spatial "])
def test_a_module_is_found_by_any_of_its_names(key):
    module = load_course(REPO).module(key)
    assert module.name == "09_spatial"
    assert module.source == REPO / "modules" / "09_spatial" / "spatial.py"
    assert module.tests == REPO / "tests" / "09_spatial"
    assert module.marker == "m09"


@pytest.mark.parametrize("key", ["99", "10", "spatia", "9_spatial", ""])
def test_an_unknown_module_name_is_a_key_error(key):
    with pytest.raises(KeyError):
        load_course(REPO).module(key)


def test_markers_come_from_the_manifest_alone(request):
    """pyproject.toml keeps no second list of modules: the course plugin registers one marker per module."""
    assert not re.findall(r'"(m\d\d):', (REPO / "pyproject.toml").read_text())
    registered = {line.split(":")[0] for line in request.config.getini("markers")}
    assert {m.marker for m in load_course(REPO).modules} <= registered


def test_the_manifest_and_the_tree_agree_both_ways():
    """Every listed module has its file, README and tests; every milestone its folder; nothing extra."""
    assert tree_problems(load_course(REPO)) == []


def test_tree_problems_are_found_in_both_directions(fixture_course):
    (fixture_course.root / "modules" / "01_alpha" / "README.md").unlink()
    (fixture_course.root / "modules" / "07_extra").mkdir()
    (fixture_course.root / "tests" / "07_extra").mkdir()
    (fixture_course.root / "milestones" / "second").mkdir()
    (fixture_course.root / "tests" / "integration").mkdir()  # not a module test folder: fine
    assert tree_problems(fixture_course.course) == [
        "01_alpha: its README modules/01_alpha/README.md is missing",
        "modules/07_extra/ is not listed in course.yaml",
        "tests/07_extra/ looks like a module test folder but is not listed in course.yaml",
        "milestones/second/ is not listed in course.yaml",
    ]


def test_the_root_is_found_by_walking_up(fixture_course, monkeypatch):
    monkeypatch.chdir(fixture_course.root / "modules" / "01_alpha")
    assert find_root() == fixture_course.root


def test_outside_a_course_the_error_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    with pytest.raises(NotInCourseError, match="run tito from inside the course"):
        find_root()


BAD_MANIFESTS = {
    "invalid yaml": (
        "schema: 1\nedition: reference\nmodules: x: y\n",
        ":3: not valid YAML (mapping values are not allowed here)",
    ),
    "missing slug": ("edition: reference\nmodules:\n  - id: '01'\n    title: T\n", ":3: modules[0] is missing 'slug'"),
    "unquoted id": (
        "edition: reference\nmodules:\n  - id: 1\n    slug: a\n    title: A\n",
        ':3: modules[0].id must be two digits in quotes, like "01", not 1',
    ),
    "bad edition": ("edition: teacher\nmodules: []\n", ":1: edition must be one of reference, student"),
    "unknown requirement": (
        "edition: reference\nmodules:\n  - {id: '01', slug: a, title: A, requires: ['02']}\n",
        "requires '02', which is not a module listed before it",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_malformed_manifest_names_the_file_and_line(tmp_path, case):
    text, expected = BAD_MANIFESTS[case]
    (tmp_path / "course.yaml").write_text(text)
    with pytest.raises(CourseError) as error:
        load_course(tmp_path)
    assert str(error.value).startswith("course.yaml")
    assert expected in str(error.value)


def test_test_file_names_are_unique_across_the_suite():
    """pytest's default import mode keys test modules by file name: two test_layers.py files in
    different folders stop a plain `pytest` at collection, so every test file name must be unique."""
    seen: dict[str, str] = {}
    clashes = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if "fixtures" in path.parts:
            continue
        where = path.relative_to(REPO).as_posix()
        if path.name in seen:
            clashes.append(f"{seen[path.name]} and {where}")
        seen[path.name] = where
    assert clashes == [], f"rename one of each pair: {clashes}"


def test_targets_read_as_people_write_them():
    from tito.course import Target

    accuracy = Target(metric="test_accuracy", at_least=0.97)
    assert accuracy.describe() == "test accuracy >= 97%"
    assert accuracy.format(0.9917) == "99.17%"
    assert Target(metric="loss", at_least=0.25).describe() == "loss >= 0.25"

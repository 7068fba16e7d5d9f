"""`tito module list` on the real course's nine modules: it fits 80 columns and names the right next step."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito.cli import app
from tito.course import compact_ids, load_course
from tito.progress_store import ProgressStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A scratch copy of this course (course.yaml and modules/), so the real .tito/ is untouched."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copyfile(REPO / "course.yaml", root / "course.yaml")
    shutil.copytree(REPO / "modules", root / "modules", ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    monkeypatch.chdir(root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    return load_course(root)


def module_list(columns: int = 80) -> str:
    result = CliRunner().invoke(app, ["module", "list"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def complete(course, *ids):
    store = ProgressStore(course)
    for module_id in ids:
        store.record_module_completed(module_id, passed=1, failed=0, skipped=0, seconds=0.1, source_hash="sha256:0")


def test_at_80_columns_every_file_is_shown_whole(course):
    output = module_list(80)
    assert all(len(line) <= 80 for line in output.splitlines())
    for module in course.modules:
        assert f"modules/{module.name}/{module.source.name}" in output
    assert "Activations" in output and "(convolutional" in output  # titles wrap at words, never cut
    assert "01-04" in output  # autograd's four prerequisites, compacted


def test_a_fresh_course_says_start_the_first_one(course):
    assert module_list().rstrip().endswith("Start the first one with `tito module start 01`.")


def test_part_way_through_it_names_the_next_module(course):
    complete(course, "01", "02")
    assert module_list().rstrip().endswith("Next: run `tito module start 03`.")
    ProgressStore(course).record_module_started("03")
    assert module_list().rstrip().endswith("Next: finish 03_layers, then run `tito module complete 03`.")


def test_with_every_module_done_it_points_at_the_milestones_not_the_first_module(course):
    complete(course, *(module.id for module in course.modules))
    output = module_list()
    assert "Start the first one" not in output
    assert output.rstrip().endswith(f"Every module is completed: run `tito milestone run {course.milestones[0].id}`.")


@pytest.mark.parametrize(
    "ids, shown",
    [(["01", "02", "03", "04"], "01-04"), (["01", "02"], "01, 02"), (["01", "03", "04"], "01, 03, 04"), ([], "")],
)
def test_prerequisites_are_compacted_only_where_they_run_in_a_row(ids, shown):
    assert compact_ids(ids) == shown

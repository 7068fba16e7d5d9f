"""Every milestone's `--quick` run, through `tito milestone run`, on the real tinytorch package.

Each runs in a few seconds inside a scratch course (course.yaml copied; modules/, tinytorch/,
milestones/ and datasets/ linked from this checkout), so the repository's own .tito/ is untouched.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito.cli import app
from tito.course import load_course
from tito.progress import ProgressStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import CIFAR10_FOLDER, cifar_fixture, gz, idx_bytes  # noqa: E402,F401  (used as milestones land)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path, monkeypatch):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copyfile(REPO / "course.yaml", root / "course.yaml")
    for name in ("modules", "tinytorch", "milestones", "datasets"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    monkeypatch.chdir(root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    monkeypatch.setenv("TITO_NO_TUNING", "1")  # leave this test process's malloc and environment alone
    return load_course(root)


def quick_run(course, milestone_id, *options):
    result = CliRunner().invoke(app, ["milestone", "run", milestone_id, "--quick", "--no-live", *options])
    assert result.exit_code == 0, result.output
    (folder,) = (course.state_dir / "runs" / milestone_id).iterdir()
    record = json.loads((folder / "metrics.json").read_text())
    assert record["quick"] is True and record["stopped"] is None
    assert record["history"], "a quick run still trains at least one epoch"
    assert milestone_id not in ProgressStore(course).read()["milestones"]  # quick runs are never recorded
    return record


def test_perceptron_quick(course):
    record = quick_run(course, "perceptron")
    assert 0.5 < record["metrics"]["test_accuracy"] <= 1.0


def test_xor_quick_shows_the_single_layer_failing(course):
    record = quick_run(course, "xor")
    assert record["metrics"]["single_layer_test_accuracy"] < 0.8
    assert any("One layer" in note for note in record["notes"])

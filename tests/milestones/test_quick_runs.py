"""Every milestone's `--quick` run, through `tito milestone run`, on the real tinytorch package.

Each runs in a few seconds inside a scratch course (course.yaml copied; modules/, tinytorch/,
milestones/ and datasets/ linked from this checkout), so the repository's own .tito/ is untouched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tito.cli import app
from tito.milestones import plots
from tito.milestones.events import Progress
from tito.milestones.milestone_run import load_script
from tito.progress_store import ProgressStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import CIFAR10_FOLDER, cifar_fixture, gz, idx_bytes  # noqa: E402
from png_checks import assert_picture  # noqa: E402

pytestmark = pytest.mark.slow


CNN_PICTURES = ["confusion.png", "curves.png", "feature_maps.png", "filters.png", "predictions.png"]
PICTURES = {  # exactly what each milestone's run folder gets
    "perceptron": ["boundary.png", "curves.png"],
    "xor": ["boundary.png", "curves.png"],
    "mlp": ["confusion.png", "curves.png", "predictions.png"],
    "lenet": CNN_PICTURES,
    "cifar10": CNN_PICTURES,
}
BOUNDARY_PANELS = {"perceptron": 1, "xor": 2}  # xor shows the single layer beside the hidden layer


def picture_size(milestone_id: str, name: str) -> tuple[int, int]:
    if name == "boundary.png":
        width, height = plots.BOUNDARY_PANEL
        return width * BOUNDARY_PANELS[milestone_id], height
    return plots.SIZES[name.removesuffix(".png")]


def quick_run(course, milestone_id, *options):
    result = CliRunner().invoke(app, ["milestone", "run", milestone_id, "--quick", "--no-live", *options])
    assert result.exit_code == 0, result.output
    (folder,) = (course.state_dir / "runs" / milestone_id).iterdir()
    record = json.loads((folder / "metrics.json").read_text())
    assert record["quick"] is True and record["stopped"] is None
    assert record["history"], "a quick run still trains at least one epoch"
    assert milestone_id not in ProgressStore(course).read()["milestones"]  # quick runs are never recorded
    pictures = sorted(path.name for path in folder.glob("*.png"))
    assert pictures == PICTURES[milestone_id], result.output
    for name in pictures:
        assert_picture(folder / name, picture_size(milestone_id, name))
    assert f"Pictures in .tito/runs/{milestone_id}/{folder.name}/:\n" in result.output
    assert all(name in result.output for name in pictures)
    assert record["config"]["quick"] is True and {"epochs", "batch_size", "lr", "seed", "dataset"} <= set(
        record["config"]
    )
    return record


@pytest.mark.milestone("perceptron")
def test_perceptron_quick(course):
    record = quick_run(course, "perceptron")
    assert 0.5 < record["metrics"]["test_accuracy"] <= 1.0
    assert record["config"] == {
        "dataset": "points",
        "epochs": 1,
        "batch_size": 1,
        "lr": 0.1,
        "seed": 1957,
        "quick": True,
    }


@pytest.mark.milestone("xor")
def test_xor_quick_shows_the_single_layer_failing(course):
    record = quick_run(course, "xor")
    assert record["metrics"]["single_layer_test_accuracy"] < 0.8
    assert any("One layer" in note for note in record["notes"])


@pytest.mark.milestone("mlp")
def test_mlp_quick(course):
    record = quick_run(course, "mlp")
    assert record["metrics"]["epochs"] == 2 and len(record["history"]) == 2
    assert record["history"][-1]["test_accuracy"] > 0.5  # two epochs already read most digits


@pytest.mark.milestone("lenet")
def test_lenet_quick_on_tinydigits(course):
    record = quick_run(course, "lenet")
    assert record["metrics"]["test_accuracy"] > 0.3
    assert any("tinydigits" in note for note in record["notes"])


@pytest.mark.milestone("lenet")
def test_lenet_quick_on_mnist_t10k_files_alone(course, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gz(idx_bytes(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    )
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gz(idx_bytes(rng.integers(0, 10, 50, dtype=np.uint8))))
    record = quick_run(course, "lenet", "--dataset", "mnist", "--data-dir", str(folder))
    assert record["config"]["dataset"] == "mnist"
    assert record["config"]["data_dir"] == str(folder) and record["config"]["batch_size"] == 64  # MNIST's own defaults
    assert any("40 of its images train and the other 10 test" in note for note in record["notes"])


@pytest.mark.milestone("mlp")
@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
def test_a_diverging_trainer_stops_the_run_and_records_nothing(course):
    result = CliRunner().invoke(app, ["milestone", "run", "mlp", "--lr", "1e39", "--no-live"])
    assert result.exit_code == 1
    assert "epoch 1, batch" in result.output and "lower learning rate" in result.output
    assert "mlp" not in ProgressStore(course).read()["milestones"]


@pytest.mark.milestone("cifar10")
def test_cifar10_quick_on_a_small_copy_in_the_official_layout(course, tmp_path):
    fixture = cifar_fixture(per_batch=40, n_test=40)
    for member, data in fixture.members.items():
        path = tmp_path / "cifar" / member
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    record = quick_run(course, "cifar10", "--data-dir", str(tmp_path / "cifar"))
    assert record["metrics"]["epochs"] == 1
    assert any("200 training and 40 test photos" in note for note in record["notes"])
    assert (tmp_path / "cifar" / CIFAR10_FOLDER / "test_batch").is_file()


@pytest.mark.milestone("lenet")
def test_missing_data_is_one_clear_line_and_leaves_no_run_folder(course, tmp_path):
    result = CliRunner().invoke(app, ["milestone", "run", "lenet", "--dataset", "mnist", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path} holds no MNIST files" in result.output and "tito data download mnist" in result.output
    assert not (course.state_dir / "runs" / "lenet").exists()


class EpochLosses:
    """A display that notes, at each epoch's end, the bar's running loss beside the epoch's own loss."""

    def __init__(self):
        self.pairs, self.running = [], None

    def start(self, **_):
        pass

    def note(self, **_):
        pass

    def batch(self, *, running_loss, **_):
        self.running = running_loss

    def epoch(self, *, loss, **_):
        self.pairs.append((self.running, loss))


@pytest.mark.parametrize(
    "milestone_id", [pytest.param(m, marks=pytest.mark.milestone(m)) for m in ("perceptron", "xor", "mlp", "lenet")]
)
def test_the_bars_loss_at_an_epochs_end_is_the_epochs_loss(course, milestone_id):
    display = EpochLosses()
    load_script(course.milestone(milestone_id)).run({"quick": True, "progress": Progress(display)})
    assert display.pairs, "the script reported no epoch"
    for running, epoch_loss in display.pairs:
        assert running == pytest.approx(epoch_loss, rel=1e-6)

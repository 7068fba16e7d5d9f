"""The pictures of a run, drawn from small synthetic inputs with matplotlib's Agg backend.

Each is checked as a PNG (its signature), of the size in pixels it promises (its IHDR header), with
content that varies (decoded: pixels that differ, more than a handful of colours).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tito.milestones import plots
from tito.milestones.plots.classes import confusion_counts
from tito.milestones.plots.curves import moving_mean
from tito.milestones.plots.images import MOST_MISTAKES, choose_examples, kernel_colours

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from png_checks import assert_picture, png_size  # noqa: E402

TITLE = "lenet (1998): LeNet, the convolutional network"
RNG = np.random.default_rng(0)


def history(epochs: int) -> list[dict]:
    return [
        {"epoch": e, "loss": 1 / e, "test_loss": 1.1 / e, "train_accuracy": 1 - 0.5 / e, "test_accuracy": 1 - 0.6 / e}
        for e in range(1, epochs + 1)
    ]


def test_matplotlib_is_there_for_the_tests():
    assert plots.available()  # the dev extra installs it: none of these tests may skip


def test_curves_place_batches_at_fractional_epochs(tmp_path):
    batch_epochs = [e + b / 10 for e in range(3) for b in range(1, 11)]
    losses = list(np.exp(-np.array(batch_epochs)) + RNG.uniform(0, 0.2, len(batch_epochs)))
    path = plots.training_curves(tmp_path / "curves.png", TITLE, batch_epochs, losses, history(3))
    assert path == tmp_path / "curves.png"
    assert_picture(path, plots.SIZES["curves"])


def test_curves_of_a_perceptron_whose_losses_are_zeros_and_ones(tmp_path):
    losses = [float(x) for x in RNG.integers(0, 2, 400)]
    epochs = [(b + 1) / 400 for b in range(400)]
    rows = [{"epoch": 1, "loss": 0.1, "test_loss": float("nan"), "train_accuracy": 0.9, "test_accuracy": None}]
    assert_picture(plots.training_curves(tmp_path / "curves.png", TITLE, epochs, losses, rows), plots.SIZES["curves"])


def test_a_moving_mean_averages_the_last_values_only():
    assert moving_mean([1.0, 0.0, 1.0, 1.0], 2) == [1.0, 0.5, 0.5, 1.0]
    assert moving_mean([3.0, 1.0], 1) == [3.0, 1.0]


@pytest.mark.parametrize("shape", [(16, 1, 3, 3), (32, 3, 3, 3), (6, 1, 5, 5)])
def test_filters(tmp_path, shape):
    path = plots.first_layer_filters(tmp_path / "filters.png", TITLE, RNG.normal(size=shape))
    assert_picture(path, plots.SIZES["filters"])


@pytest.mark.parametrize("channels, zero", [(1, None), (3, 0.5)])
def test_every_kernel_shares_one_colour_scale(channels, zero):
    weights = np.zeros((2, channels, 3, 3))
    weights[0, :, 0, 0] = 0.01  # a weak kernel
    weights[1, :, 0, 0] = 1.0  # a strong one
    pictures, scale = kernel_colours(weights)
    assert scale == 1.0 and pictures.shape == (2, 3, 3, 3)
    background = pictures[0, 1, 1]  # a zero weight: white (one channel) or mid-grey (RGB)
    if zero is not None:
        assert np.allclose(background, zero)
    weak, strong = (np.abs(pictures[k, 0, 0] - background).sum() for k in (0, 1))
    assert weak < 0.05 < strong  # drawn on its own scale, the weak kernel would look as strong


def test_feature_maps(tmp_path):
    blocks = [RNG.uniform(size=(16, 4, 4)), RNG.uniform(size=(32, 2, 2))]
    path = plots.feature_maps(tmp_path / "feature_maps.png", TITLE, RNG.uniform(size=(1, 8, 8)), blocks)
    assert_picture(path, plots.SIZES["feature_maps"])


def test_predictions_of_colour_images_with_class_names(tmp_path):
    labels = RNG.integers(0, 10, 200)
    predicted = np.where(np.arange(200) % 7 == 0, (labels + 1) % 10, labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    path = plots.predictions(
        tmp_path / "predictions.png", TITLE, RNG.uniform(size=(200, 3, 32, 32)), predicted, labels, names
    )
    assert_picture(path, plots.SIZES["predictions"])


def test_predictions_of_fewer_digits_than_the_grid_holds(tmp_path):
    labels = np.arange(10)
    path = plots.predictions(tmp_path / "predictions.png", TITLE, RNG.uniform(size=(10, 8, 8)), labels, labels)
    assert_picture(path, plots.SIZES["predictions"])


def test_the_grid_shows_mistakes_first_then_right_answers():
    labels = np.zeros(100, dtype=int)
    predicted = labels.copy()
    predicted[[5, 50, 70]] = 1
    assert choose_examples(predicted, labels, 6) == [5, 50, 70, 0, 1, 2]
    predicted[:20] = 1  # more mistakes than the grid shows of them
    assert len([i for i in choose_examples(predicted, labels, 32) if predicted[i] != labels[i]]) == MOST_MISTAKES


def test_confusion_counts_rows_true_columns_answers():
    counts = confusion_counts(predicted=[0, 1, 1, 2, 2], labels=[0, 1, 2, 2, 2], classes=3)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 2]]


def test_confusion_matrix(tmp_path):
    labels = RNG.integers(0, 10, 360)
    predicted = np.where(RNG.uniform(size=360) < 0.1, RNG.integers(0, 10, 360), labels)
    path = plots.confusion_matrix(tmp_path / "confusion.png", TITLE, predicted, labels, [str(d) for d in range(10)])
    assert_picture(path, plots.SIZES["confusion"])


def boundary_panel(flip: bool = False) -> dict:
    xs, ys = np.linspace(-1, 1, 50), np.linspace(-1, 1, 40)
    classes = (xs[None, :] + ys[:, None] > 0).astype(int)
    points = RNG.uniform(-1, 1, (60, 2))
    labels = (points.sum(axis=1) > 0).astype(int)
    return {
        "xs": xs,
        "ys": ys,
        "classes": 1 - classes if flip else classes,
        "points": points,
        "labels": labels,
        "title": "a line",
    }


def test_a_decision_boundary_of_one_panel(tmp_path):
    path = plots.decision_boundary(tmp_path / "boundary.png", TITLE, boundary_panel())
    assert_picture(path, plots.BOUNDARY_PANEL)


def test_decision_boundaries_side_by_side(tmp_path):
    path = plots.decision_boundary(tmp_path / "boundary.png", TITLE, [boundary_panel(), boundary_panel(flip=True)])
    width, height = plots.BOUNDARY_PANEL
    assert png_size(path) == (2 * width, height)
    assert_picture(path, (2 * width, height))


def test_a_boundary_where_the_model_answers_one_class_everywhere(tmp_path):
    panel = boundary_panel()
    panel["classes"] = np.zeros_like(panel["classes"])  # no line to draw
    assert_picture(plots.decision_boundary(tmp_path / "boundary.png", TITLE, panel), plots.BOUNDARY_PANEL)

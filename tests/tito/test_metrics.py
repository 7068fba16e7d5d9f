"""tito/metrics.py: the one way a metric is shown, and every place that shows one uses it."""

from __future__ import annotations

import numpy as np
import pytest

from tito.course import Target
from tito.metrics import metric_text, metrics_text
from tito.milestones.display import epoch_line, figures_line
from tito.milestones.events import print_progress, print_result


@pytest.mark.parametrize(
    "metric, value, shown",
    [
        ("test_accuracy", 0.9917, "99.17%"),
        ("test_accuracy", 0.95, "95%"),
        ("test_accuracy", 1.0, "100%"),
        ("train_accuracy", 0.98765, "98.77%"),
        ("test_accuracy", 0.0012, "0.12%"),
        ("test_accuracy", np.float32(0.5), "50%"),
        ("loss", 0.123456, "0.1235"),
        ("loss", 2.0, "2"),
        ("epochs", 10, "10"),
        ("seed", np.int64(1998), "1998"),
        ("loss", None, "-"),
        ("dataset", "mnist", "mnist"),
    ],
)
def test_a_metric_reads_as_a_person_expects(metric, value, shown):
    assert metric_text(metric, value) == shown


def test_fixed_columns_keep_their_width_and_decimals():
    assert metric_text("test_accuracy", 0.976, decimals=1, width=6) == " 97.6%"
    assert metric_text("test_accuracy", 1.0, decimals=1, width=6) == "100.0%"
    assert metric_text("loss", 0.5, decimals=4) == "0.5000"


def test_a_runs_figures_are_named_and_arrays_left_out():
    metrics = {"test_accuracy": 0.9917, "epochs": 10, "filters": np.zeros((2, 2)), "loss": 0.04321}
    assert metrics_text(metrics) == "test accuracy 99.17%, epochs 10, loss 0.04321"


def test_the_target_the_display_and_the_script_log_say_the_same_figure(capsys):
    assert Target("test_accuracy", 0.97).describe() == "test accuracy >= 97%"
    assert Target("test_accuracy", 0.97).format(0.9917) == "99.17%"
    assert "test  99.2%" in epoch_line(10, 1, {"loss": 0.1, "test_accuracy": 0.9917}, 1.0, None)
    assert "test 99.2%" in figures_line(0.1, {"train_accuracy": 0.98, "test_accuracy": 0.9917}, 80)
    print_progress("epoch", epoch=1, loss=0.25, train_accuracy=0.98, test_accuracy=0.9917)
    print_result({"test_accuracy": 0.9917})
    assert capsys.readouterr().out.splitlines() == [
        "epoch 1  loss 0.2500  train 98%  test 99.17%",
        "test accuracy 99.17%",
    ]

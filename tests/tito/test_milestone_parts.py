"""The milestone runner's parts: Trainer events, the display's lines, run folders, speed settings."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from rich.console import Console

from tito.course import load_course
from tito.milestones import rundir, tuning
from tito.milestones.display import PlainDisplay, epoch_line
from tito.milestones.progress import NonFiniteLoss, Progress


def train_event(kind, epoch, batch, samples, loss, metrics=None):
    """Shaped like tinytorch.core.training.TrainEvent (module 07), without importing it."""
    return SimpleNamespace(kind=kind, epoch=epoch, epochs=2, batch=batch, batches=3, loss=loss, mean_loss=loss,
                           samples=samples, seconds=0.1, lr=0.01, metrics=metrics or {})


def test_progress_understands_trainer_events():
    progress = Progress()
    for batch, seen in ((1, 32), (2, 64), (3, 80)):
        progress(train_event("batch", 1, batch, seen, 1.0 / batch))
    row = {"train_loss": 0.6, "train_accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.75, "lr": 0.01, "seconds": 1.0}
    progress(train_event("epoch", 1, 3, 80, 0.6, row))
    progress(train_event("batch", 2, 1, 32, 0.5))

    assert (progress.epochs, progress.batches) == (2, 3)  # taken from the first event: a Trainer sends no "start"
    assert progress.samples == 80 + 32  # per-batch counts recovered from the Trainer's running count
    assert progress.batch_losses == [1.0, 0.5, 1.0 / 3, 0.5]
    (epoch,) = progress.history
    assert epoch["test_accuracy"] == 0.75 and epoch["train_accuracy"] == 0.8 and epoch["loss"] == 0.6
    assert "epochs" not in epoch and "batches" not in epoch


def test_nan_from_a_trainer_event_names_epoch_batch_and_a_lower_rate():
    progress = Progress()
    with pytest.raises(NonFiniteLoss) as caught:
        progress(train_event("batch", 2, 3, 96, float("nan")))
    message = str(caught.value)
    assert "epoch 2, batch 3" in message and "--lr 0.001" in message


def test_an_epoch_line_reads_as_a_sentence_of_figures():
    line = epoch_line(12, 3, {"loss": 0.1234, "train_accuracy": 0.9, "test_accuracy": 0.955}, 4.25, 1500.0)
    assert line == "epoch  3/12  loss 0.1234  train  90.0%  test  95.5%     1500 img/s     4.2 s"
    assert "test    -  " in epoch_line(1, 1, {"loss": 0.5}, 1.0, None)


def test_plain_display_prints_one_line_per_epoch_and_notes():
    console = Console(record=True, width=120, force_terminal=False)
    display = PlainDisplay(console)
    progress = Progress(display)
    progress("start", epochs=2, batches=1, batch_size=4)
    progress("batch", epoch=1, batch=1, loss=0.5, samples=4)
    progress("epoch", epoch=1, loss=0.5, test_accuracy=0.5)
    progress("note", text="[not markup] halfway")
    lines = console.export_text().splitlines()
    assert lines[0] == "Training for 2 epochs of 1 batches of 4."
    assert lines[1].startswith("epoch 1/2  loss 0.5000")
    assert lines[2] == "[not markup] halfway"


def test_run_folders_never_collide(make_course):
    course = load_course(make_course().root)
    moment = datetime(2025, 1, 31, 9, 30, tzinfo=timezone.utc)
    first = rundir.new_run_dir(course, "first", now=moment)
    second = rundir.new_run_dir(course, "first", now=moment)
    assert first.name == "20250131-093000" and second.name == "20250131-093000-2"
    assert first.parent == course.state_dir / "runs" / "first"


def test_metrics_json_holds_plain_values(tmp_path):
    path = rundir.write_metrics(tmp_path, {"loss": float("nan"), "history": [{"epoch": 1}], "shape": (2, 3)})
    assert json.loads(path.read_text()) == {"loss": "nan", "history": [{"epoch": 1}], "shape": [2, 3]}


@pytest.mark.parametrize(
    "vendor, flags, environ, expected",
    [
        ("AuthenticAMD", "fpu avx2 avx512f avx512bw", {}, "SkylakeX"),  # Zen 4/5: name the AVX-512 kernels
        ("AuthenticAMD", "fpu avx2", {}, None),  # no AVX-512: nothing to gain
        ("GenuineIntel", "fpu avx2 avx512f", {}, None),  # OpenBLAS recognises Intel's AVX-512 cores itself
        ("AuthenticAMD", "fpu avx512f", {"OPENBLAS_CORETYPE": "Haswell"}, None),  # the user's choice wins
    ],
)
def test_openblas_coretype_only_where_it_helps(tmp_path, vendor, flags, environ, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert tuning.openblas_coretype(environ, cpuinfo, modules={}) == expected  # numpy not imported yet


def test_openblas_coretype_is_left_alone_once_numpy_is_loaded(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: avx512f\n")
    assert tuning.openblas_coretype({}, cpuinfo, modules={"numpy": object()}) is None  # OpenBLAS has read it


def test_tuning_can_be_switched_off():
    environ = {"TITO_NO_TUNING": "1"}
    assert tuning.apply(environ) == [] and environ == {"TITO_NO_TUNING": "1"}


@pytest.mark.parametrize(
    "argv, training",
    [
        (["tito", "milestone", "run", "lenet"], True),
        (["tito", "--no-color", "milestone", "run", "cifar10", "--quick"], True),
        (["tito", "milestone", "list"], False),
        (["tito", "test", "09"], False),
    ],
)
def test_only_a_training_command_gets_the_openblas_setting(argv, training):
    assert tuning.is_training_command(argv) is training


def test_importing_the_tuning_module_does_not_load_numpy():
    import subprocess
    import sys

    code = "import sys, tito.milestones.tuning; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"  # else OPENBLAS_CORETYPE would be set too late to count


def live_screen(width: int) -> str:
    """What a LiveDisplay draws for one finished epoch and one batch of the next, escape codes removed."""
    import io
    import re

    from tito.milestones.display import LiveDisplay

    screen = io.StringIO()
    with LiveDisplay(Console(file=screen, force_terminal=True, width=width)) as display:
        progress = Progress(display)
        progress("start", epochs=2, batches=4, batch_size=8)
        for batch in (1, 2, 3, 4):
            progress("batch", epoch=1, batch=batch, loss=1.0 / batch, samples=8)
        progress("epoch", epoch=1, loss=0.5, train_accuracy=0.8, test_accuracy=0.75)
        progress("batch", epoch=2, batch=1, loss=0.125, samples=8)
        display.bar.refresh()
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())


def test_live_display_shows_bar_loss_accuracy_speed_and_time_left():
    text = live_screen(width=120)
    bar = [line for line in text.replace("\r", "\n").splitlines() if "1/4" in line][-1]
    assert bar.startswith("epoch 2/2 ") and "loss 0.1250" in bar and "train 80.0% test 75.0%" in bar
    assert "img/s" in bar and "left 0:0" in bar
    assert "epoch 1/2  loss 0.5000  train  80.0%  test  75.0%" in text  # the finished epoch, above the bar


def test_a_narrow_terminal_keeps_the_counts_whole_and_leaves_accuracy_to_the_epoch_lines():
    text = live_screen(width=80)
    bar = [line for line in text.replace("\r", "\n").splitlines() if "1/4" in line][-1]
    assert " 1/4 loss 0.1250 " in bar and "left 0:0" in bar and "train" not in bar

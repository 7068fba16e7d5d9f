"""The milestone runner's parts: Trainer events, run folders, speed settings (the display: test_milestone_display.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from tito.course import load_course
from tito.milestones import rundir, tuning
from tito.milestones.events import NonFiniteLoss, Progress


def train_event(kind, epoch, batch, samples, loss, metrics=None):
    """Shaped like tinytorch.training.TrainEvent (module 07), without importing it."""
    return SimpleNamespace(
        kind=kind,
        epoch=epoch,
        epochs=2,
        batch=batch,
        batches=3,
        loss=loss,
        mean_loss=loss,
        samples=samples,
        seconds=0.1,
        lr=0.01,
        metrics=metrics or {},
    )


def test_progress_understands_trainer_events():
    progress = Progress()
    for batch, seen in ((1, 32), (2, 64), (3, 80)):
        progress(train_event("batch", 1, batch, seen, 1.0 / batch))
    row = {"train_loss": 0.6, "train_accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.75, "lr": 0.01, "seconds": 1.0}
    running_at_the_last_batch = progress.running_loss
    progress(train_event("epoch", 1, 3, 80, 0.6, row))
    progress(train_event("batch", 2, 1, 32, 0.5))

    assert (progress.epochs, progress.batches) == (2, 3)  # taken from the first event: a Trainer sends no "start"
    assert progress.samples == 80 + 32  # per-batch counts recovered from the Trainer's running count
    assert progress.batch_losses == [1.0, 0.5, 1.0 / 3, 0.5]
    (epoch,) = progress.history
    assert epoch["test_accuracy"] == 0.75 and epoch["train_accuracy"] == 0.8 and epoch["loss"] == 0.6
    assert "epochs" not in epoch and "batches" not in epoch
    # The running loss weighs each batch by its samples, as the Trainer's epoch loss does.
    assert running_at_the_last_batch == pytest.approx((1.0 * 32 + 0.5 * 32 + 16 / 3) / 80)
    assert progress.running_loss == 0.5  # a new epoch starts a new mean
    assert progress.batch_epochs == pytest.approx([1 / 3, 2 / 3, 1.0, 4 / 3])  # where each batch lies on the epoch axis


def test_a_script_without_an_epoch_loss_gets_its_batches_mean():
    progress = Progress()
    progress("start", epochs=1, batches=2)
    progress("batch", epoch=1, batch=1, loss=1.0, samples=3)
    progress("batch", epoch=1, batch=2, loss=0.0, samples=1)
    progress("epoch", epoch=1, test_accuracy=0.5)
    assert progress.history[0]["loss"] == 0.75


def test_the_settings_a_script_reports_are_kept_without_its_progress_callable():
    progress = Progress()
    progress("settings", epochs=3, lr=0.1, dataset="easy", progress=progress)
    assert progress.settings == {"epochs": 3, "lr": 0.1, "dataset": "easy"}


def test_nan_from_a_trainer_event_names_epoch_batch_and_a_lower_rate():
    progress = Progress()
    with pytest.raises(NonFiniteLoss) as caught:
        progress(train_event("batch", 2, 3, 96, float("nan")))
    message = str(caught.value)
    assert "epoch 2, batch 3" in message and "--lr 0.001" in message


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


def test_switched_off_tuning_leaves_the_blas_threads_alone():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    assert tuning.set_blas_threads(before[0] + 1 if before else 2, {"TITO_NO_TUNING": "1"}) is False
    assert blas_threads() == before


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

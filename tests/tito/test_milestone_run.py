"""`tito milestone`: requirement gating, the run record, the NaN stop, and what gets recorded.

These run a fixture milestone whose script needs no numpy: it reports a few batches and returns the
accuracy its dataset option asks for, so each test checks the runner, not a network.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from course_builder import build_course
from typer.testing import CliRunner

from tito.cli import app
from tito.milestones import plots, tuning
from tito.milestones.events import NonFiniteLoss, Progress
from tito.progress_store import ProgressStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from png_checks import assert_picture  # noqa: E402

SCRIPT = textwrap.dedent(
    '''
    """A fixture milestone: pretends to train for CONFIG["epochs"] epochs of two batches."""

    DATASETS = ("easy", "hard", "ctrl-c")
    CONFIG = {"dataset": "easy", "epochs": 2, "lr": 0.1, "seed": 0}
    ACCURACY = {"easy": 0.95, "hard": 0.5, "ctrl-c": 0.95}
    SAMPLE_UNIT = "points"


    def run(config):
        settings = {**CONFIG, **config}
        if settings.get("quick"):
            settings["epochs"] = 1
        progress = settings["progress"]
        progress("settings", **settings)
        epochs = settings["epochs"]
        progress("start", epochs=epochs, batches=2, batch_size=4)
        for epoch in range(1, epochs + 1):
            for batch in (1, 2):
                loss = float("nan") if settings["lr"] > 10 and batch == 2 else 1.0 / (epoch + batch)
                progress("batch", epoch=epoch, batch=batch, loss=loss, samples=4)
            accuracy = ACCURACY[settings["dataset"]]
            progress("epoch", epoch=epoch, loss=0.5 / epoch, train_accuracy=accuracy, test_accuracy=accuracy)
            if settings["dataset"] == "ctrl-c":
                raise KeyboardInterrupt
        filters = [[[[0.0, 1.0], [1.0, 0.0]]]]  # one 2x2 kernel: drawn when matplotlib is there, never recorded
        return {"test_accuracy": ACCURACY[settings["dataset"]], "epochs": epochs, "seed": settings["seed"], "filters": filters}
    '''
).lstrip()


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A reference-edition fixture course with module 01 exported and the milestone script written."""
    fixture = build_course(tmp_path / "course")
    fixture.write("milestones/first/first.py", SCRIPT)
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    monkeypatch.setenv("TITO_NO_TUNING", "1")  # keep this test process's environment and malloc as they are
    return fixture


def run_tito(*args):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def export_first_module():
    code, output = run_tito("export", "01")
    assert code == 0, output


def progress_record(fixture) -> dict:
    return ProgressStore(fixture.course).read()


def run_dirs(fixture):
    folder = fixture.root / ".tito" / "runs" / "first"
    return sorted(folder.iterdir()) if folder.exists() else []


# --- requirement gating -------------------------------------------------------------------------


def test_reference_edition_refuses_until_required_modules_are_exported(course):
    code, output = run_tito("milestone", "run", "first")
    assert code == 1
    assert "01 alpha" in output and "tito export" in output
    assert run_dirs(course) == []


def test_reference_edition_runs_once_exported(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output


def test_student_edition_refuses_and_lists_modules_to_complete(tmp_path, monkeypatch):
    fixture = build_course(tmp_path / "student", edition="student")
    fixture.write("milestones/first/first.py", SCRIPT)
    monkeypatch.chdir(fixture.root)
    monkeypatch.setenv("TITO_NO_TUNING", "1")
    code, output = run_tito("milestone", "run", "first")
    assert code == 1
    assert "01 alpha" in output and "tito module complete 01" in output
    assert run_dirs(fixture) == []

    code, output = run_tito("export", "01")
    ProgressStore(fixture.course).record_module_completed(
        "01", passed=1, failed=0, skipped=0, seconds=0.1, source_hash="sha256:0"
    )
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output


# --- the record of a run ------------------------------------------------------------------------


def test_reaching_the_target_records_metrics_and_writes_the_run_folder(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first", "--epochs", "3", "--seed", "7", "--no-live")
    assert code == 0, output
    assert "Target reached" in output
    assert "epoch 3/3" in output  # the plain display's per-epoch lines
    assert "points/s" in output and "img/s" not in output  # the script's SAMPLE_UNIT

    (folder,) = run_dirs(course)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["achieved"] is True
    assert metrics["metrics"] == {"test_accuracy": 0.95, "epochs": 3, "seed": 7}
    assert metrics["config"] == {"dataset": "easy", "epochs": 3, "lr": 0.1, "seed": 7}  # defaults merged with options
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][2]["loss"] == pytest.approx(0.5 / 3)
    assert len(metrics["batch_losses"]) == 6

    entry = progress_record(course)["milestones"]["first"]
    assert entry["runs"] == 1
    assert entry["best"]["metrics"]["test_accuracy"] == 0.95
    assert entry["best"]["run_dir"] == f".tito/runs/first/{folder.name}"


def test_missing_the_target_exits_1_and_records_nothing(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first", "--dataset", "hard")
    assert code == 1
    assert "Target not reached (50%, needs test accuracy >= 90%)" in output
    assert "first" not in progress_record(course)["milestones"]
    (folder,) = run_dirs(course)
    assert json.loads((folder / "metrics.json").read_text())["achieved"] is False


def test_a_worse_run_keeps_the_best_record(course):
    export_first_module()
    assert run_tito("milestone", "run", "first")[0] == 0
    best = progress_record(course)["milestones"]["first"]["best"]
    assert run_tito("milestone", "run", "first", "--dataset", "hard")[0] == 1
    assert progress_record(course)["milestones"]["first"]["best"] == best


def test_quick_run_exits_0_and_is_not_recorded(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first", "--quick")
    assert code == 0, output
    assert "Quick run" in output
    assert "first" not in progress_record(course)["milestones"]
    (folder,) = run_dirs(course)
    record = json.loads((folder / "metrics.json").read_text())
    assert record["quick"] is True and record["achieved"] is False and len(record["history"]) == 1


# --- the NaN stop -------------------------------------------------------------------------------


def test_nan_loss_stops_the_run_naming_epoch_and_batch(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first", "--lr", "100")
    assert code == 1
    assert "epoch 1, batch 2" in output and "lower learning rate" in output
    assert "first" not in progress_record(course)["milestones"]
    (folder,) = run_dirs(course)
    record = json.loads((folder / "metrics.json").read_text())
    assert record["achieved"] is False and "epoch 1, batch 2" in record["stopped"]


def test_progress_raises_on_an_infinite_loss_and_keeps_finite_ones():
    progress = Progress()
    progress("start", epochs=1, batches=3)
    progress("batch", epoch=1, batch=1, loss=0.5, samples=8)
    with pytest.raises(NonFiniteLoss) as caught:
        progress("batch", epoch=1, batch=2, loss=float("inf"), samples=8)
    assert (caught.value.epoch, caught.value.batch) == (1, 2)
    assert progress.batch_losses == [0.5] and progress.samples == 8


def test_progress_rejects_an_unknown_event():
    with pytest.raises(ValueError, match="unknown progress event 'finish'"):
        Progress()("finish")


# --- usage errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "nope"], "Valid milestones: first"),
        (["run", "first", "--dataset", "imagenet"], "choose from: easy, hard, ctrl-c"),
        (["run", "first", "--epochs", "0"], "--epochs must be a whole number from 1"),
        (["run", "first", "--lr", "-1"], "--lr must be a finite number above 0"),
        (["run", "first", "--data-dir", "no/such/dir"], "is not a folder"),
        (["info", "nope"], "Valid milestones: first"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(course, args, words):
    export_first_module()
    code, output = run_tito("milestone", *args)
    assert code == 2
    assert words in output
    assert run_dirs(course) == []


# --- list, info, status -------------------------------------------------------------------------


def test_list_shows_each_milestone_with_its_state(course):
    code, output = run_tito("milestone", "list")
    assert code == 0
    assert "first" in output and "1957" in output and "locked: needs 01" in output
    export_first_module()
    assert "ready" in run_tito("milestone", "list")[1]
    run_tito("milestone", "run", "first")
    assert "achieved 95%" in run_tito("milestone", "list")[1]


def test_info_tells_the_story_target_and_defaults(course):
    code, output = run_tito("milestone", "info", "first")
    assert code == 0
    assert "The first milestone (1957)" in output
    assert "Run `tito module status`." in output  # the README's first paragraph
    assert "test accuracy >= 90%" in output
    assert "01 alpha (not done)" in output
    assert "dataset=easy" in output and "Datasets: easy, hard, ctrl-c" in output


def test_status_shows_the_best_run(course):
    export_first_module()
    run_tito("milestone", "run", "first")
    code, output = run_tito("milestone", "status")
    assert code == 0
    assert (
        "achieved 95%" in output and "test accuracy 95%, epochs 2, seed 0" in output and "1 recorded run(s)" in output
    )


def test_a_progress_file_with_bad_yaml_is_reported_not_overwritten(course):
    export_first_module()
    state = course.root / ".tito" / "progress.yaml"
    state.parent.mkdir(exist_ok=True)
    state.write_text("schema: [unclosed\n")
    code, output = run_tito("milestone", "run", "first")
    assert code == 1
    assert "progress.yaml" in output
    assert state.read_text() == "schema: [unclosed\n"


# --- pictures -----------------------------------------------------------------------------------


def test_without_matplotlib_a_run_draws_nothing_and_still_succeeds(course, monkeypatch):
    export_first_module()
    monkeypatch.setattr(plots, "available", lambda: False)
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output
    (folder,) = run_dirs(course)
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json"]


def test_with_matplotlib_the_runner_draws_curves_and_first_layer_filters(course, monkeypatch):
    export_first_module()
    drawn = {}

    def curves(path, title, batch_epochs, batch_losses, history):
        drawn["curves"] = (path.name, title, batch_epochs, len(batch_losses), [h["epoch"] for h in history])
        return path

    def filters(path, title, weights):
        drawn["filters"] = (path.name, weights)
        return path

    monkeypatch.setattr(plots, "available", lambda: True)
    monkeypatch.setattr(plots, "training_curves", curves)
    monkeypatch.setattr(plots, "first_layer_filters", filters)
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output
    assert drawn["curves"] == ("curves.png", "first (1957): The first milestone", [0.5, 1.0, 1.5, 2.0], 4, [1, 2])
    assert drawn["filters"] == ("filters.png", [[[[0.0, 1.0], [1.0, 0.0]]]])
    (folder,) = run_dirs(course)
    assert f"Pictures in .tito/runs/first/{folder.name}/:\n  curves.png, filters.png.\n" in output


def test_the_pictures_are_real_pngs_listed_at_the_end(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output
    (folder,) = run_dirs(course)
    assert sorted(p.name for p in folder.iterdir()) == ["curves.png", "filters.png", "metrics.json"]
    assert "curves.png, filters.png." in output
    assert_picture(folder / "curves.png", plots.SIZES["curves"])


def test_a_failing_picture_is_a_note_and_the_others_are_still_drawn(course, monkeypatch):
    export_first_module()

    def broken(*args):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(plots, "training_curves", broken)
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output
    assert "Could not draw curves.png (RuntimeError: no fonts)." in output
    (folder,) = run_dirs(course)
    assert (folder / "filters.png").is_file() and not (folder / "curves.png").exists()
    assert "first" in progress_record(course)["milestones"]


def test_without_matplotlib_the_end_of_the_run_says_how_to_get_pictures(course, monkeypatch):
    export_first_module()
    monkeypatch.setattr(plots, "available", lambda: False)
    code, output = run_tito("milestone", "run", "first")
    assert code == 0, output
    assert "No pictures: matplotlib is not installed. Run `pip install matplotlib`" in output


# --- speed settings: recorded, and shown only with -v ---------------------------------------------


@pytest.mark.parametrize("flag", [None, "-v", "--verbose"])
def test_speed_settings_go_to_metrics_json_and_to_the_screen_only_with_verbose(course, monkeypatch, flag):
    export_first_module()
    monkeypatch.setattr(tuning, "apply", lambda: ["malloc keeps freed memory (mallopt)"])
    code, output = run_tito("milestone", "run", "first", *([flag] if flag else []))
    assert code == 0, output
    assert ("Speed settings for this process: malloc keeps freed memory (mallopt)." in output) is (flag is not None)
    (folder,) = run_dirs(course)
    assert json.loads((folder / "metrics.json").read_text())["speed_settings"] == [
        "malloc keeps freed memory (mallopt)"
    ]


# --- the best run -------------------------------------------------------------------------------


def test_a_tied_run_becomes_the_best_so_the_best_has_the_newest_pictures(course):
    export_first_module()
    assert run_tito("milestone", "run", "first")[0] == 0
    assert run_tito("milestone", "run", "first", "--seed", "3")[0] == 0  # the same accuracy, 95%
    first, second = run_dirs(course)
    best = progress_record(course)["milestones"]["first"]["best"]
    assert best["run_dir"] == f".tito/runs/first/{second.name}"
    assert f"files in .tito/runs/first/{second.name}" in run_tito("milestone", "status")[1]


def test_info_ends_the_story_on_a_full_stop_not_a_dangling_colon(course):
    course.write(
        "milestones/first/README.md",
        "# First\n\nNeeds the data set (not shipped):\n\n```bash\ntito data download x\n```\n",
    )
    code, output = run_tito("milestone", "info", "first")
    assert code == 0
    assert "Needs the data set (not shipped)." in output and "shipped):" not in output


def test_ctrl_c_keeps_a_record_of_the_epochs_done_and_records_nothing(course):
    export_first_module()
    code, output = run_tito("milestone", "run", "first", "--dataset", "ctrl-c")
    assert code == 130  # the shell convention for Ctrl-C, which typer follows
    (folder,) = run_dirs(course)
    record = json.loads((folder / "metrics.json").read_text())
    assert record["stopped"] == "interrupted (Ctrl-C)" and record["achieved"] is False
    assert [h["epoch"] for h in record["history"]] == [1]
    assert "first" not in progress_record(course)["milestones"]

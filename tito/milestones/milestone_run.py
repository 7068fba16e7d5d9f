"""Run one milestone: check its requirements, train through its script, keep the record.

The steps of `tito milestone run ID`, each owned by a small module:
course_state (may it run?) -> settings (the script's declared settings, read without importing it:
are the options valid?) -> tuning (speed settings for this process) -> the script's `run(config)`
with a Progress watching every loss (events) -> rundir (metrics.json) -> plots (if matplotlib is
installed) -> ProgressStore (only when the target was reached).
"""

from __future__ import annotations

import contextlib
import importlib.util
import numbers
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, TypeGuard

from tito import files
from tito.course import Course, Milestone
from tito.course_state import CourseState
from tito.datasets.errors import DataError
from tito.milestones import plots, rundir, tuning
from tito.milestones.events import NonFiniteLoss, Progress
from tito.milestones.settings import ScriptSettings, SettingsError, read_settings, script_path
from tito.progress_store import ProgressStore

MAX_EPOCHS = 10_000
MAX_BATCH = 1_000_000
MAX_SEED = 2**32 - 1  # NumPy's seeds
MAX_LR = 1e300  # finite: a huge rate diverges and the run says so; infinity or NaN is not a rate


class MilestoneError(Exception):
    """A run could not start or finish; `code` is the exit code (1 failed, 2 usage error)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class RunOptions:
    """What the user asked for; None means "the script's default"."""

    dataset: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int | None = None
    data_dir: Path | None = None
    quick: bool = False
    depthwise: bool = False  # offered by a script whose CONFIG has a "depthwise" key (lenet)

    def config(self) -> dict:
        chosen = {
            "dataset": self.dataset,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
            "data_dir": str(self.data_dir) if self.data_dir is not None else None,
        }
        config = {key: value for key, value in chosen.items() if value is not None}
        if self.quick:
            config["quick"] = True
        if self.depthwise:
            config["depthwise"] = True
        return config


@dataclass
class RunResult:
    milestone: Milestone
    run_dir: Path
    seconds: float
    metrics: dict = field(default_factory=dict)  # numbers only: what progress.yaml records
    achieved: bool = False
    quick: bool = False
    stopped: str | None = None  # why training stopped early (a NaN loss)
    recorded: bool = False
    pictures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def target_value(self):
        return self.metrics.get(self.milestone.target.metric)


def load_script(milestone: Milestone):
    """Import a milestone script by its path (it is not part of any package)."""
    path = script_path(milestone)
    if not path.is_file():
        raise MilestoneError(f"Milestone {milestone.id} has no script at {path}: the course is incomplete.")
    spec = importlib.util.spec_from_file_location(f"milestone_{milestone.id}", path)
    assert spec is not None and spec.loader is not None  # a path ending in .py always has a source loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if not callable(getattr(script, "run", None)):
        raise MilestoneError(f"{path} defines no run(config) function.")
    return script


def use_course_package(course: Course) -> None:
    """Put the course root first on the import path, so the script's `import tinytorch` is the course's."""
    root = str(course.root)
    if root not in sys.path:
        sys.path.insert(0, root)


def check_script_package(course: Course, script) -> None:
    """The script must train on this course's tinytorch, the student's own code, not another copy.

    A tinytorch imported earlier from elsewhere (an installed checkout) stays in the process, so what
    the script imported from tinytorch is checked file by file.
    """
    package = course.package_root.resolve()
    for value in vars(script).values():
        name = getattr(value, "__module__", None) or ""
        if not name.startswith("tinytorch"):
            continue
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin and package not in Path(origin).resolve().parents:
            raise MilestoneError(
                f"This process would train on the tinytorch in {Path(origin).resolve().parent}, not the course's "
                f"{course.package_root}: run `pip install -e .` in {course.root}, then run the milestone again."
            )


def check_options(milestone: Milestone, settings: ScriptSettings, options: RunOptions) -> None:
    """Usage errors, found before the script is imported."""
    datasets = settings.datasets
    if options.dataset is not None and options.dataset not in datasets:
        choices = ", ".join(datasets) if datasets else "none (it has one fixed data set)"
        raise MilestoneError(
            f"Milestone {milestone.id} has no dataset {_short(options.dataset)!r}; choose from: {choices}.", 2
        )
    for name, value, low, high in (
        ("--epochs", options.epochs, 1, MAX_EPOCHS),
        ("--batch-size", options.batch_size, 1, MAX_BATCH),
        ("--seed", options.seed, 0, MAX_SEED),
    ):
        if value is not None and not low <= value <= high:
            raise MilestoneError(f"{name} must be a whole number from {low} to {high}, got {_short(value)}.", 2)
    if options.lr is not None and not 0 < options.lr <= MAX_LR:
        raise MilestoneError(f"--lr must be a finite number above 0, got {_short(options.lr)}.", 2)
    if options.data_dir is not None and not Path(options.data_dir).is_dir():
        raise MilestoneError(f"--data-dir {options.data_dir} is not a folder.", 2)
    if options.depthwise and "depthwise" not in settings.config:
        raise MilestoneError(f"Milestone {milestone.id} has no depthwise-separable variant: leave out --depthwise.", 2)


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:20] + "..."


def numeric_metrics(metrics: dict) -> dict:
    """The plain numbers of a script's result (arrays such as `filters` are drawn, not recorded)."""
    return {
        key: value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value
        for key, value in metrics.items()
        if isinstance(value, numbers.Number) or (hasattr(value, "item") and getattr(value, "ndim", None) == 0)
    }


def run_milestone(
    course: Course,
    milestone: Milestone,
    options: RunOptions,
    display=None,
    store: ProgressStore | None = None,
    verbose: bool = False,
) -> RunResult:
    """Train one milestone and keep its record. Raises MilestoneError when it cannot run at all."""
    store = store or ProgressStore(course)
    state = CourseState.read(course, store)
    if state.missing(milestone.requires):
        raise MilestoneError(state.why_locked(milestone))
    try:
        declared = read_settings(milestone, again=f"tito milestone run {milestone.id}")
    except SettingsError as exc:
        raise MilestoneError(str(exc)) from None
    check_options(milestone, declared, options)
    settings = tuning.apply()  # before the script imports numpy
    use_course_package(course)
    script = load_script(milestone)
    check_script_package(course, script)
    threads = declared.blas_threads
    if threads and tuning.set_blas_threads(threads):
        settings.append(f"BLAS threads: {threads}")
    if verbose and settings and display is not None:
        display.message("Speed settings for this process: " + "; ".join(settings) + ".")

    started = datetime.now(timezone.utc)  # names the run folder, made once there is something to keep
    progress = Progress(display, unit=declared.sample_unit)
    config = {**options.config(), "progress": progress}
    record = {
        "milestone": milestone.id,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": options.config(),  # what was asked; replaced by what the script says it used
        "target": {"metric": milestone.target.metric, "at_least": milestone.target.at_least},
        "quick": options.quick,
        "speed_settings": settings,
    }
    start = time.perf_counter()
    stopped: str | None = None
    raw: dict = {}
    try:
        raw = script.run(config) or {}
    except NonFiniteLoss as exc:
        stopped = str(exc)
    except DataError as exc:  # a missing or damaged data set: its message says what to do
        raise MilestoneError(str(exc)) from None
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):  # the record of an interrupted run is kept when it can be
            folder = rundir.new_run_dir(course, milestone.id, now=started)
            _write_record(folder, record, progress, time.perf_counter() - start, {}, "interrupted (Ctrl-C)", False)
        raise
    except Exception as exc:
        if not _diverged(exc):
            raise
        stopped = str(NonFiniteLoss(exc.epoch, exc.batch, exc.loss, getattr(exc, "lr", None)))
    seconds = time.perf_counter() - start

    metrics = numeric_metrics(raw)
    target = milestone.target
    if stopped is None and not options.quick and target.metric not in metrics:
        measured = ", ".join(sorted(metrics)) or "none"
        raise MilestoneError(
            f"course.yaml's target for milestone {milestone.id} is {target.metric}, which its script does not "
            f"measure (it returned: {measured}); nothing was recorded. Fix the target's metric in course.yaml."
        )
    try:
        folder = rundir.new_run_dir(course, milestone.id, now=started)
        result = RunResult(milestone, folder, seconds, metrics, quick=options.quick, stopped=stopped)
        value = result.target_value
        result.achieved = stopped is None and not options.quick and value is not None and value >= target.at_least
        _write_record(folder, record, progress, seconds, result.metrics, stopped, result.achieved)
    except OSError as exc:
        where = course.shown(Path(exc.filename)) if exc.filename else course.shown(course.state_dir)
        raise MilestoneError(
            f"{where} {files.problem(exc, 'written')}, so the run's record could not be kept and nothing was "
            f"recorded. Free some space or fix that, then run `tito milestone run {milestone.id}` again."
        ) from None
    result.pictures = _draw(milestone, folder, progress, raw, result.notes)
    if result.achieved:
        store.record_milestone_run(
            milestone.id,
            metrics=result.metrics,
            seconds=seconds,
            achieved=True,
            run_dir=course.shown(folder),
        )
        result.recorded = True
    return result


def _write_record(folder, record, progress, seconds, metrics, stopped, achieved) -> None:
    """metrics.json: the settings, the outcome, the final figures and the whole history.

    `config` is what the script reported through its "settings" event: its defaults merged with the
    options given, as it used them (the script owns that merge); a script that reports none gets the
    options that were given.
    """
    rundir.write_metrics(
        folder,
        {
            **record,
            "config": progress.settings or record["config"],
            "seconds": round(seconds, 3),
            "achieved": achieved,
            "stopped": stopped,
            "metrics": metrics,
            "notes": progress.notes,
            "history": progress.history,
            "batch_losses": progress.batch_losses,
        },
    )


def _pictures(title: str, progress: Progress, raw: dict) -> list[tuple[str, Callable[[Path], Path]]]:
    """The pictures this run can have: each file name with what draws it from the script's arrays."""

    def has(*keys):
        return all(raw.get(key) is not None for key in keys)

    wanted = []
    if progress.batch_losses:
        wanted.append(
            (
                "curves.png",
                lambda path: plots.training_curves(
                    path, title, progress.batch_epochs, progress.batch_losses, progress.history
                ),
            )
        )
    if has("filters"):
        wanted.append(("filters.png", lambda path: plots.first_layer_filters(path, title, raw["filters"])))
    if has("feature_maps"):  # the maps are those of the first test image
        wanted.append(
            (
                "feature_maps.png",
                lambda path: plots.feature_maps(
                    path, title, raw["test_images"][0] if has("test_images") else None, raw["feature_maps"]
                ),
            )
        )
    if has("test_images", "test_predictions", "test_labels"):
        wanted.append(
            (
                "predictions.png",
                lambda path: plots.predictions(
                    path, title, raw["test_images"], raw["test_predictions"], raw["test_labels"], raw.get("class_names")
                ),
            )
        )
    if has("test_predictions", "test_labels"):
        wanted.append(
            (
                "confusion.png",
                lambda path: plots.confusion_matrix(
                    path, title, raw["test_predictions"], raw["test_labels"], raw.get("class_names")
                ),
            )
        )
    if has("boundary"):
        wanted.append(("boundary.png", lambda path: plots.decision_boundary(path, title, raw["boundary"])))
    return wanted


def _draw(milestone: Milestone, folder: Path, progress: Progress, raw: dict, notes: list[str]) -> list[Path]:
    """Draw every picture the run can have; one that fails becomes a note (the record is written already)."""
    if not plots.available():
        return []
    title = f"{milestone.id} ({milestone.year}): {milestone.title}"
    drawn = []
    for name, draw in _pictures(title, progress, raw):
        try:
            drawn.append(draw(folder / name))
        except Exception as exc:  # a picture is a bonus, never a reason to lose the run
            notes.append(f"Could not draw {name} ({type(exc).__name__}: {exc}).")
    return drawn


class _Diverged(Protocol):
    """What the runner reads from module 07's TrainingDivergedError (`lr` too, where it has one)."""

    epoch: int
    batch: int
    loss: float


def _diverged(exc: Exception) -> TypeGuard[_Diverged]:
    """Is `exc` the Trainer's own NaN/inf stop (module 07's TrainingDivergedError, wherever it lives)?"""
    return any(
        kind.__name__ == "TrainingDivergedError" and kind.__module__.startswith("tinytorch.")
        for kind in type(exc).__mro__
    )

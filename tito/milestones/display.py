"""What a person sees while a milestone trains: a live rich display, or plain log lines.

Both displays take the events described in tito/milestones/events.py. The live one keeps two
lines for the epoch in flight under a growing list of finished epochs:

    epoch 2/10  loss 0.0596  train  97.6%  test  98.6%    2,290 images/s     1.3 s
    epoch 3/10 ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━         12/45  2,310 images/s  left 0:09
    loss (running, this epoch) 0.1453   last epoch: train 97.6% test 98.6%

The bar's loss is the mean of this epoch's batch losses so far, so at the epoch's last batch it is
the figure its finished line shows. The plain display prints the finished lines only, for logs and
terminals that cannot redraw. Every figure carries its label; speeds are in the milestone's own
unit (images, points).
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from tito.metrics import metric_text

LIVE_DECIMALS = 1  # accuracies while training: a tenth of a percent is all a person can follow


def _percent(value) -> str:
    """An accuracy in a fixed-width column: " 97.6%", "100.0%", "   -  "."""
    return "   -  " if value is None else metric_text("accuracy", value, decimals=LIVE_DECIMALS, width=6)


def _short_percent(value) -> str:
    return metric_text("accuracy", value, decimals=LIVE_DECIMALS)


def _loss(value) -> str:
    return metric_text("loss", value, decimals=4)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def speed_text(per_second: float | None, unit: str) -> str:
    """ "2,310 images/s", or "" before there is anything to measure."""
    return f"{per_second:,.0f} {unit}/s" if per_second else ""


class _Clock:
    """Samples per second and time left, from the events seen so far."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.epochs = self.batches = 0
        self.start_time = self.epoch_start = clock()
        self.epoch_samples = 0
        self.last_speed = None  # samples per second of the last finished epoch
        self.done = 0.0  # epochs completed, as a fraction

    def start(self, epochs, batches):
        self.epochs, self.batches = max(1, int(epochs)), max(1, int(batches))
        self.start_time = self.epoch_start = self.clock()

    def batch(self, epoch, batch, samples):
        self.epoch_samples += int(samples)
        self.done = (epoch - 1 + batch / self.batches) / self.epochs

    def epoch_end(self, epoch):
        """Speed is measured within an epoch; the next one starts now."""
        self.done = epoch / self.epochs
        self.last_speed = self.per_second()
        self.epoch_start, self.epoch_samples = self.clock(), 0

    def per_second(self) -> float | None:
        elapsed = self.clock() - self.epoch_start
        return self.epoch_samples / elapsed if self.epoch_samples and elapsed > 0 else None

    def elapsed(self) -> float:
        return self.clock() - self.start_time

    def time_left(self) -> float | None:
        if self.done <= 0:
            return None
        return self.elapsed() * (1 - self.done) / self.done


def epoch_line(
    epochs: int, epoch: int, metrics: dict, elapsed: float, per_second: float | None, unit: str = "samples"
) -> str:
    """One finished epoch as a line: the same words in the live list and in plain logs."""
    width = len(str(epochs))
    loss = metrics.get("loss")
    parts = [
        f"epoch {epoch:>{width}}/{epochs}",
        f"loss {_loss(loss)}" if loss is not None else "loss    -  ",
        f"train {_percent(metrics.get('train_accuracy'))}",
        f"test {_percent(metrics.get('test_accuracy'))}",
    ]
    if per_second:
        parts.append(f"{speed_text(per_second, unit):>{len(unit) + 9}}")
    parts.append(f"{elapsed:6.1f} s")
    return "  ".join(parts)


def figures_line(running_loss: float | None, last_epoch: dict | None, width: int) -> str:
    """The labelled figures under the bar, in the longest wording that fits `width` columns."""
    loss = _loss(running_loss)
    train = test = ""
    if last_epoch is not None:
        train, test = _short_percent(last_epoch.get("train_accuracy")), _short_percent(last_epoch.get("test_accuracy"))
    wordings = [
        (f"loss (running, this epoch) {loss}", f"last epoch: train {train} test {test}"),
        (f"loss (this epoch) {loss}", f"last epoch: train {train} test {test}"),
        (f"loss {loss}", f"last: train {train} test {test}"),
        (f"loss {loss}", f"{train}/{test}"),
    ]
    for loss_part, accuracy_part in wordings:
        line = f"{loss_part}   {accuracy_part}" if last_epoch is not None else loss_part
        if len(line) <= width:
            return line
    return line


class PlainDisplay:
    """One line per epoch, printed as soon as the epoch ends."""

    def __init__(self, console: Console):
        self.console = console
        self.clock = _Clock()
        self.epochs = 0
        self.unit = "samples"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def message(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, markup=False)

    def note(self, *, text: str) -> None:
        self.message(text)

    def start(self, *, epochs, batches, batch_size=0, unit="samples", **_):
        self.epochs, self.unit = int(epochs), unit
        self.clock.start(epochs, batches)
        size = f" of {batch_size} {unit}" if batch_size else ""
        self.message(f"Training for {epochs} epochs of {batches} batches{size}.")

    def batch(self, *, epoch, batch, samples=0, **_):
        self.clock.batch(epoch, batch, samples)

    def epoch(self, *, epoch, **metrics):
        self.clock.epoch_end(epoch)
        self.message(epoch_line(self.epochs, epoch, metrics, self.clock.elapsed(), self.clock.last_speed, self.unit))


class _BarWithFigures(Progress):
    """rich's progress bar with a line of labelled figures under it."""

    def __init__(self, *columns, figures, **options):
        self.figures = figures  # a callable: columns available -> the line under the bar
        super().__init__(*columns, **options)

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.tasks:
            yield Text(self.figures(self.console.width), no_wrap=True, overflow="ellipsis")


class LiveDisplay(PlainDisplay):
    """A redrawn progress bar for the epoch in flight, with finished epochs listed above it.

    The bar takes whatever width the labelled figures leave; the figures have a line of their own,
    so they fit an 80-column terminal whole.
    """

    REFRESHES_PER_SECOND = 8

    def __init__(self, console: Console):
        super().__init__(console)
        self.running_loss: float | None = None
        self.last_epoch: dict | None = None  # the last finished epoch's figures
        self.bar = _BarWithFigures(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TextColumn("left {task.fields[left]}"),
            figures=lambda width: figures_line(self.running_loss, self.last_epoch, width),
            console=console,
            transient=True,
            refresh_per_second=self.REFRESHES_PER_SECOND,
        )
        self.task: TaskID | None = None

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc_info):
        self.bar.stop()
        return False

    def message(self, text: str) -> None:
        self.bar.console.print(text, soft_wrap=True, markup=False)

    def start(self, *, epochs, batches, batch_size=0, unit="samples", **_):
        super().start(epochs=epochs, batches=batches, batch_size=batch_size, unit=unit)
        self.task = self.bar.add_task("train", total=int(batches), epoch=f"1/{epochs}", speed="", left="-:--")

    def batch(self, *, epoch, batch, samples=0, running_loss=None, **_):
        super().batch(epoch=epoch, batch=batch, samples=samples)
        self.running_loss = running_loss
        if self.task is None:
            return
        self.bar.update(
            self.task,
            completed=int(batch),
            epoch=f"{epoch}/{self.epochs}",
            speed=speed_text(self.clock.per_second(), self.unit),
            left=_duration(self.clock.time_left()),
        )

    def epoch(self, *, epoch, **metrics):
        if self.task is not None and epoch < self.epochs:  # the bar moves on first: printing redraws it
            self.running_loss, self.last_epoch = None, metrics
            self.bar.update(self.task, completed=0, epoch=f"{epoch + 1}/{self.epochs}", refresh=True)
        super().epoch(epoch=epoch, **metrics)


def make_display(console: Console, live: bool):
    """The live display on a terminal when `live` is asked for, plain lines otherwise."""
    return LiveDisplay(console) if live and console.is_terminal else PlainDisplay(console)

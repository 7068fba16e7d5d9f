"""What a person sees while a milestone trains: a live rich display, or plain log lines.

Both displays take the events described in tito/milestones/progress.py. The live one keeps a
progress bar for the current epoch (batches done, loss, images per second, time left for the whole
run) under a growing list of finished epochs; the plain one prints one line per epoch, for logs and
terminals that cannot redraw.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


def _percent(value) -> str:
    return "   -  " if value is None else f"{100 * float(value):5.1f}%"


def _short_percent(value) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class _Clock:
    """Images per second and time left, from the events seen so far."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.epochs = self.batches = 0
        self.start_time = self.epoch_start = clock()
        self.epoch_samples = 0
        self.last_speed = None  # images per second of the last finished epoch
        self.done = 0.0  # epochs completed, as a fraction

    def start(self, epochs, batches):
        self.epochs, self.batches = max(1, int(epochs)), max(1, int(batches))
        self.start_time = self.epoch_start = self.clock()

    def batch(self, epoch, batch, samples):
        self.epoch_samples += int(samples)
        self.done = (epoch - 1 + batch / self.batches) / self.epochs

    def epoch_end(self, epoch):
        """Images per second are measured within an epoch; the next one starts now."""
        self.done = epoch / self.epochs
        self.last_speed = self.images_per_second()
        self.epoch_start, self.epoch_samples = self.clock(), 0

    def images_per_second(self) -> float | None:
        elapsed = self.clock() - self.epoch_start
        return self.epoch_samples / elapsed if self.epoch_samples and elapsed > 0 else None

    def elapsed(self) -> float:
        return self.clock() - self.start_time

    def time_left(self) -> float | None:
        if self.done <= 0:
            return None
        return self.elapsed() * (1 - self.done) / self.done


def epoch_line(epochs: int, epoch: int, metrics: dict, elapsed: float, images_per_second: float | None) -> str:
    """One finished epoch as a line: the same words in the live list and in plain logs."""
    width = len(str(epochs))
    loss = metrics.get("loss")
    parts = [
        f"epoch {epoch:>{width}}/{epochs}",
        f"loss {loss:.4f}" if loss is not None else "loss    -  ",
        f"train {_percent(metrics.get('train_accuracy'))}",
        f"test {_percent(metrics.get('test_accuracy'))}",
    ]
    if images_per_second:
        parts.append(f"{images_per_second:7.0f} img/s")
    parts.append(f"{elapsed:6.1f} s")
    return "  ".join(parts)


class PlainDisplay:
    """One line per epoch, printed as soon as the epoch ends."""

    def __init__(self, console: Console):
        self.console = console
        self.clock = _Clock()
        self.epochs = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def message(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, markup=False)

    def note(self, *, text: str) -> None:
        self.message(text)

    def start(self, *, epochs, batches, batch_size=0, **_):
        self.epochs = int(epochs)
        self.clock.start(epochs, batches)
        size = f" of {batch_size}" if batch_size else ""
        self.message(f"Training for {epochs} epochs of {batches} batches{size}.")

    def batch(self, *, epoch, batch, samples=0, **_):
        self.clock.batch(epoch, batch, samples)

    def epoch(self, *, epoch, **metrics):
        self.clock.epoch_end(epoch)
        self.message(epoch_line(self.epochs, epoch, metrics, self.clock.elapsed(), self.clock.last_speed))


class LiveDisplay(PlainDisplay):
    """A redrawn progress bar for the epoch in flight, with finished epochs listed above it."""

    REFRESHES_PER_SECOND = 8
    WIDE = 100  # columns needed to show the accuracy in the bar too

    def __init__(self, console: Console):
        super().__init__(console)
        columns = [
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(bar_width=None),  # whatever width the figures leave
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[accuracy]}"),  # the last epoch's; left out on narrow terminals
            TextColumn("{task.fields[speed]}"),
            TextColumn("left {task.fields[left]}"),
        ]
        if console.width < self.WIDE:
            del columns[4]  # the finished epochs' lines above the bar show it anyway
        self.bar = Progress(
            *columns,
            console=console,
            transient=True,
            refresh_per_second=self.REFRESHES_PER_SECOND,
        )
        self.task = None

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc_info):
        self.bar.stop()
        return False

    def message(self, text: str) -> None:
        self.bar.console.print(text, soft_wrap=True, markup=False)

    def start(self, *, epochs, batches, batch_size=0, **_):
        super().start(epochs=epochs, batches=batches, batch_size=batch_size)
        fields = {"epoch": f"1/{epochs}", "loss": "   -  ", "accuracy": "", "speed": "", "left": "-:--"}
        self.task = self.bar.add_task("train", total=int(batches), **fields)

    def batch(self, *, epoch, batch, loss=None, samples=0, **_):
        super().batch(epoch=epoch, batch=batch, samples=samples)
        if self.task is None:
            return
        speed = self.clock.images_per_second()
        self.bar.update(
            self.task,
            completed=int(batch),
            epoch=f"{epoch}/{self.epochs}",
            loss=f"{float(loss):.4f}" if loss is not None else "   -  ",
            speed=f"{speed:,.0f} img/s" if speed else "",
            left=_duration(self.clock.time_left()),
        )

    def epoch(self, *, epoch, **metrics):
        super().epoch(epoch=epoch, **metrics)
        if self.task is not None and epoch < self.epochs:
            accuracy = f"train {_short_percent(metrics.get('train_accuracy'))} test {_short_percent(metrics.get('test_accuracy'))}"
            self.bar.update(self.task, completed=0, epoch=f"{epoch + 1}/{self.epochs}", accuracy=accuracy)


def make_display(console: Console, live: bool):
    """The live display on a terminal when `live` is asked for, plain lines otherwise."""
    return LiveDisplay(console) if live and console.is_terminal else PlainDisplay(console)

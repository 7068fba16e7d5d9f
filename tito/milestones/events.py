"""The channel between a milestone script and whoever watches it train.

A script calls `progress(event, **values)` as it trains; these events exist:

    progress("settings", epochs=10, batch_size=128, lr=0.05, seed=1, dataset="mnist")  # what this run uses
    progress("start", epochs=10, batches=12, batch_size=128)   # batches per epoch
    progress("batch", epoch=1, batch=3, loss=0.71, samples=128)
    progress("epoch", epoch=1, loss=0.52, train_accuracy=0.84, test_accuracy=0.86, test_loss=0.4, lr=0.05)
    progress("note", text="A single layer cannot separate XOR: 75% at best.")  # a line of the story

A `Trainer` callback event (tinytorch.training.TrainEvent, with `.kind` "batch" or "epoch")
is understood too, so a script can hand `config["progress"]` straight to `Trainer.fit(callback=...)`;
its validation figures are the milestone's test figures.

`Progress` turns these into a history (for metrics.json and the plots), checks every loss (a NaN or
infinite loss raises NonFiniteLoss, which stops the run wherever the script is), and forwards each
event but "settings" to a display. It owns the epoch's running loss: the mean of this epoch's batch
losses so far, weighted by the samples in each batch, handed to the display with every batch as
`running_loss`. At an epoch's last batch it is the epoch's training loss, the same figure the
Trainer (and every milestone script) reports as the epoch's `loss`. Epochs and batches are counted
from 1, as a person would.
"""

from __future__ import annotations

import math
import time

from tito.metrics import metric_text, metrics_text
from tito.plain_data import plain_data


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite; the run stops and nothing is recorded as achieved."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float | None = None):
        self.epoch, self.batch, self.loss, self.lr = epoch, batch, loss, lr
        suggestion = f"`--lr {lr / 10:g}`" if lr else "a tenth of this run's `--lr`"
        super().__init__(
            f"The loss became {loss} at epoch {epoch}, batch {batch}: training diverged. "
            f"Run again with a lower learning rate, such as {suggestion}."
        )


def as_event(event, values: dict) -> tuple[str, dict]:
    """("batch", {...}) from either form: a name with keyword values, or a Trainer's TrainEvent."""
    if isinstance(event, str):
        return event, values
    if event.kind == "batch":
        return "batch", {
            "epoch": event.epoch,
            "batch": event.batch,
            "loss": event.loss,
            "epochs": event.epochs,
            "batches": event.batches,
            "seen": event.samples,
            "lr": event.lr,
        }
    row = dict(event.metrics)
    return "epoch", {
        "epoch": event.epoch,
        "epochs": event.epochs,
        "batches": event.batches,
        "loss": row.get("train_loss", event.loss),
        "train_accuracy": row.get("train_accuracy"),
        "test_loss": row.get("val_loss"),
        "test_accuracy": row.get("val_accuracy"),
        "lr": row.get("lr", event.lr),
    }


class Progress:
    """A callable for `config["progress"]` that records what a run reports and shows it."""

    DISPLAYED = ("start", "batch", "epoch", "note")

    def __init__(self, display=None, clock=time.perf_counter, unit: str = "samples"):
        self.display = display
        self.clock = clock
        self.unit = unit  # what one training example is called: "images", "points"
        self.epochs = 0
        self.batches = 0
        self.batch_size = 0
        self.settings: dict = {}  # what the script said it uses (its "settings" event)
        self.history: list[dict] = []  # one entry per finished epoch
        self.batch_losses: list[float] = []
        # where each batch loss lies on the epoch axis (2.5: halfway through epoch 3)
        self.batch_epochs: list[float] = []
        self.notes: list[str] = []
        self.samples = 0  # training samples seen, all epochs
        self.started: float | None = None
        self.running_loss: float | None = None  # this epoch's mean batch loss so far
        self._seen = 0
        self._running: tuple[int | None, float, int] = (None, 0.0, 0)  # (epoch, sum of loss x samples, samples)

    def __call__(self, event, **values) -> None:
        event, values = as_event(event, values)
        handler = getattr(self, f"_on_{event}", None)
        if handler is None:
            raise ValueError(f"unknown progress event {event!r}: use 'settings', 'start', 'batch', 'epoch' or 'note'")
        if event in ("batch", "epoch") and self.started is None and values.get("epochs"):
            self("start", epochs=values["epochs"], batches=values.get("batches") or 0)  # a Trainer never says "start"
        if event == "batch" and "samples" not in values:  # a TrainEvent counts samples since the epoch began
            values["samples"] = values["seen"] - (self._seen if values["batch"] > 1 else 0)
            self._seen = values["seen"]
        if event == "epoch" and values.get("loss") is None and self._running[0] == values["epoch"]:
            values["loss"] = self.running_loss  # a script that reports no epoch loss gets its batches' mean
        handler(**values)
        if event == "start":
            values["unit"] = self.unit
        elif event == "batch":
            values["running_loss"] = self.running_loss
        if self.display is not None and event in self.DISPLAYED:
            getattr(self.display, event)(**values)

    def _on_settings(self, **settings):
        self.settings = {key: plain_data(value) for key, value in settings.items() if key != "progress"}

    def _on_start(self, *, epochs: int, batches: int, batch_size: int = 0, **_):
        self.epochs, self.batches, self.batch_size = int(epochs), int(batches), int(batch_size)
        self.started = self.clock()

    def _on_batch(self, *, epoch: int, batch: int, loss: float, samples: int = 0, lr: float | None = None, **_):
        loss = float(loss)
        if not math.isfinite(loss):
            raise NonFiniteLoss(epoch, batch, loss, lr)
        self.batch_losses.append(loss)
        self.batch_epochs.append(epoch - 1 + batch / self.batches if self.batches else float(epoch))
        self.samples += int(samples)
        total, weight = self._running[1:] if self._running[0] == epoch else (0.0, 0)
        count = int(samples) or 1  # a script that does not count samples gets a plain mean
        total, weight = total + loss * count, weight + count
        self._running, self.running_loss = (epoch, total, weight), total / weight

    def _on_note(self, *, text: str):
        self.notes.append(str(text))

    def _on_epoch(self, *, epoch: int, **metrics):
        loss = metrics.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(epoch, self.batches, float(loss))
        seconds = None if self.started is None else round(self.clock() - self.started, 3)
        figures = {k: plain_data(v) for k, v in metrics.items() if k not in ("epochs", "batches")}
        self.history.append({"epoch": int(epoch), **figures, "seconds": seconds})


def print_progress(event, **values) -> None:
    """A plain progress callable for running a milestone script directly: one line per epoch."""
    event, values = as_event(event, values)
    if event == "note":
        print(values["text"], flush=True)
    elif event == "epoch":
        parts = [f"epoch {values['epoch']}"]
        if values.get("loss") is not None:
            parts.append(f"loss {metric_text('loss', values['loss'], decimals=4)}")
        for key in ("train_accuracy", "test_accuracy"):
            if values.get(key) is not None:
                parts.append(f"{key.split('_')[0]} {metric_text(key, values[key])}")
        print("  ".join(parts), flush=True)


def print_result(metrics: dict) -> None:
    """The figures a milestone script returned, for running it directly: "test accuracy 99.17%, ..."."""
    print(metrics_text(metrics), flush=True)

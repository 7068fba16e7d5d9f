"""The channel between a milestone script and whoever watches it train.

A script calls `progress(event, **values)` as it trains; three events exist:

    progress("start", epochs=10, batches=12, batch_size=128)   # batches per epoch
    progress("batch", epoch=1, batch=3, loss=0.71, samples=128)
    progress("epoch", epoch=1, loss=0.52, train_accuracy=0.84, test_accuracy=0.86, lr=0.05)
    progress("note", text="A single layer cannot separate XOR: 75% at best.")  # a line of the story

A `Trainer` callback event (tinytorch.core.training.TrainEvent, with `.kind` "batch" or "epoch")
is understood too, so a script can hand `config["progress"]` straight to `Trainer.fit(callback=...)`;
its validation figures are the milestone's test figures.

`Progress` turns these into a history (for metrics.json and the plots), checks every loss (a NaN or
infinite loss raises NonFiniteLoss, which stops the run wherever the script is), and forwards each
event to a display. Epochs and batches are counted from 1, as a person would.
"""

from __future__ import annotations

import math
import time


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
        return "batch", {"epoch": event.epoch, "batch": event.batch, "loss": event.loss,
                         "epochs": event.epochs, "batches": event.batches, "seen": event.samples, "lr": event.lr}
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

    def __init__(self, display=None, clock=time.perf_counter):
        self.display = display
        self.clock = clock
        self.epochs = 0
        self.batches = 0
        self.batch_size = 0
        self.history: list[dict] = []  # one entry per finished epoch
        self.batch_losses: list[float] = []
        self.notes: list[str] = []
        self.samples = 0  # training samples seen, all epochs
        self.started = None
        self._seen = 0

    def __call__(self, event, **values) -> None:
        event, values = as_event(event, values)
        handler = getattr(self, f"_on_{event}", None)
        if handler is None:
            raise ValueError(f"unknown progress event {event!r}: use 'start', 'batch', 'epoch' or 'note'")
        if event in ("batch", "epoch") and self.started is None and values.get("epochs"):
            self("start", epochs=values["epochs"], batches=values.get("batches") or 0)  # a Trainer never says "start"
        if event == "batch" and "samples" not in values:  # a TrainEvent counts samples since the epoch began
            values["samples"] = values["seen"] - (self._seen if values["batch"] > 1 else 0)
            self._seen = values["seen"]
        handler(**values)
        if self.display is not None:
            getattr(self.display, event)(**values)

    def _on_start(self, *, epochs: int, batches: int, batch_size: int = 0, **_):
        self.epochs, self.batches, self.batch_size = int(epochs), int(batches), int(batch_size)
        self.started = self.clock()

    def _on_batch(self, *, epoch: int, batch: int, loss: float, samples: int = 0, lr: float | None = None, **_):
        loss = float(loss)
        if not math.isfinite(loss):
            raise NonFiniteLoss(epoch, batch, loss, lr)
        self.batch_losses.append(loss)
        self.samples += int(samples)

    def _on_note(self, *, text: str):
        self.notes.append(str(text))

    def _on_epoch(self, *, epoch: int, **metrics):
        loss = metrics.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(epoch, self.batches, float(loss))
        seconds = None if self.started is None else round(self.clock() - self.started, 3)
        figures = {k: _plain(v) for k, v in metrics.items() if k not in ("epochs", "batches")}
        self.history.append({"epoch": int(epoch), **figures, "seconds": seconds})


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def print_progress(event, **values) -> None:
    """A plain progress callable for running a milestone script directly: one line per epoch."""
    event, values = as_event(event, values)
    if event == "note":
        print(values["text"], flush=True)
    elif event == "epoch":
        parts = [f"epoch {values['epoch']}"]
        for key in ("loss", "train_accuracy", "test_accuracy"):
            if values.get(key) is not None:
                value = values[key]
                parts.append(f"{key.replace('_', ' ')} {value:.4f}" if key == "loss" else f"{key.split('_')[0]} {value:.2%}")
        print("  ".join(parts), flush=True)

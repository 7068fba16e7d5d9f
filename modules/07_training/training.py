# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 07: Training
#
# You have every piece of a training step: a model (module 03), a loss (04), gradients (05) and an
# optimizer (06). Training is those pieces in a loop, and the loop is where the practical craft lives:
#
# - **Reproducible runs**: one seed, the same numbers every time.
# - **Gradient clipping**: one bad batch must not throw the weights across the landscape.
# - **Learning-rate schedules**: large steps to get somewhere, small steps to settle (step decay,
#   cosine annealing, one-cycle).
# - **A `Trainer`** with `fit`, `train_epoch` and `evaluate`, a history of loss and accuracy per epoch,
#   progress events for a live display, and a clear error when the loss blows up.
# - **Checkpoints**: the model and optimizer state in a NumPy `.npz` file, loaded back bit for bit.
#
# **The systems view.** A training step is forward, backward, update. Backward costs about twice the
# forward pass; the update costs a few passes over the parameters. The loop itself (Python calls,
# bookkeeping, progress events) must stay negligible next to them: one `loss.item()` per batch, no
# per-sample work. We measure that split at the end of the module.

# %%
#| default_exp training.trainer

# %%
#| export
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinytorch.autograd.function import no_grad
from tinytorch.tensor import Tensor
from tinytorch.nn.init import manual_seed

# %% [markdown]
# ## Seeded runs
#
# Every random number in TinyTorch comes from one of two places: NumPy's global generator (weight
# initialisation in `Linear`, dropout masks; `manual_seed` from module 03 seeds it) and the
# `Generator` a DataLoader owns for shuffling and augmentation (module 08). A DataLoader made without a
# seed draws its seed from NumPy's global generator, so one call seeds a whole run:

# %%
#| export training.utils
#| doc Training helpers: seed_everything and clip_grad_norm_
def seed_everything(seed: int) -> None:
    """Seed Python's `random` and NumPy's global generator (weight init, dropout, unseeded DataLoaders).

    Two runs that call seed_everything(s) first and do the same work produce the same numbers.
    """
    random.seed(seed)
    np.random.seed(seed)
    manual_seed(seed)


# %% [markdown]
# ## Gradient clipping
#
# Sometimes one batch produces a huge gradient (a steep cliff in the loss). A step along it can undo
# hours of training. `clip_grad_norm_` treats all gradients as one long vector; if its length (L2
# norm) exceeds `max_norm`, every gradient is scaled down by the same factor, keeping the direction.
# The trailing underscore is PyTorch's mark for "changes its argument in place". It returns the norm
# before clipping, a useful number to log.

# %%
#| export training.utils
def clip_grad_norm_(parameters, max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most max_norm; return the norm before."""
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_ needs max_norm > 0, got {max_norm!r}.")
    grads = [p.grad.data for p in parameters if p.grad is not None]
    # Hint: the joint norm is sqrt of the sum over all grads of (g * g).sum(); scale each g in place
    # by max_norm / (norm + 1e-6) only when that factor is below 1. Set `total` to the norm.
    ### BEGIN SOLUTION
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    scale = max_norm / (total + 1e-6)  # PyTorch's 1e-6 keeps a zero gradient from dividing by zero
    if scale < 1.0:
        for g in grads:
            g *= scale
    ### END SOLUTION
    return total


# %% [markdown]
# ## Learning-rate schedules
#
# A schedule owns an optimizer and sets its `lr` from a formula of how many times `step()` was
# called. As in PyTorch, creating the schedule sets the lr for step 0 and each `step()` moves to the
# next value; `last_epoch` (PyTorch's name) counts the calls. `interval` says when the Trainer calls
# `step()`: after every epoch, or after every batch (one-cycle). With lr_0 the optimizer's lr when
# the schedule is made:
#
# - `StepLR(step_size, gamma)`: lr_0 * gamma ** (t // step_size): drop by gamma every step_size epochs.
# - `CosineAnnealingLR(T_max, eta_min)`: eta_min + (lr_0 - eta_min) * (1 + cos(pi t / T_max)) / 2.
# - `OneCycleLR(max_lr, total_steps)`: warm up from max_lr / div_factor to max_lr over the first
#   pct_start of the steps, then anneal to max_lr / div_factor / final_div_factor (cosine by default),
#   while cycling momentum the opposite way (0.95 -> 0.85 -> 0.95). Stepped once per batch. Smith's
#   "super-convergence" recipe: high learning rates, reached gently, trained through fast.

# %%
#| export optim.lr_scheduler
#| doc Learning-rate schedules: StepLR, CosineAnnealingLR and OneCycleLR
class LRScheduler:
    """Sets optimizer.lr from the number of step() calls. Subclasses define lr_at(t)."""

    interval = "epoch"  # when the Trainer calls step(): "epoch" or "batch"

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"A schedule needs an optimizer with an lr attribute, got {type(optimizer).__name__}.")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._apply()

    def lr_at(self, t: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define lr_at(t).")

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def _apply(self) -> None:
        self.optimizer.lr = float(self.lr_at(self.last_epoch))

    def get_last_lr(self) -> list:
        return [self.optimizer.lr]

    def state_dict(self) -> dict:
        return {"last_epoch": np.array(self.last_epoch), "base_lr": np.array(self.base_lr)}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lr = float(state["base_lr"])
        self._apply()


class StepLR(LRScheduler):
    """Multiply the learning rate by gamma every step_size epochs."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if int(step_size) < 1:
            raise ValueError(f"StepLR step_size must be a positive number of epochs, got {step_size}.")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, t):
        # Hint: integer division t // step_size counts the drops so far.
        ### BEGIN SOLUTION
        return self.base_lr * self.gamma ** (t // self.step_size)
        ### END SOLUTION


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from the initial lr down to eta_min over T_max steps."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, interval: str = "epoch"):
        if int(T_max) < 1:
            raise ValueError(f"CosineAnnealingLR T_max must be a positive number of steps, got {T_max}.")
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}.")
        self.T_max, self.eta_min, self.interval = int(T_max), float(eta_min), interval
        super().__init__(optimizer)

    def lr_at(self, t):
        # Hint: the closed form above, with math.cos and math.pi.
        ### BEGIN SOLUTION
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        ### END SOLUTION


def _anneal(start: float, end: float, fraction: float, strategy: str) -> float:
    """From start (fraction 0) to end (fraction 1), along half a cosine or a straight line."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
    return start + (end - start) * fraction


class OneCycleLR(LRScheduler):
    """The one-cycle policy (Smith 2018), PyTorch's formulas; step() after every batch.

    Give total_steps, or epochs and steps_per_epoch. With cycle_momentum (the default), SGD's momentum
    or Adam's beta1 moves between max_momentum and base_momentum opposite to the learning rate.
    """

    interval = "batch"

    def __init__(
        self,
        optimizer,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch.")
            total_steps = int(epochs) * int(steps_per_epoch)
        if int(total_steps) < 2:
            raise ValueError(f"OneCycleLR needs total_steps >= 2, got {total_steps}.")
        if not 0 < pct_start < 1:
            raise ValueError(f"OneCycleLR pct_start must be between 0 and 1, got {pct_start}.")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}.")
        if cycle_momentum and not (getattr(optimizer, "momentum", 0) or hasattr(optimizer, "betas")):
            raise ValueError(
                "OneCycleLR cycles momentum, but this optimizer has none: create SGD with momentum=0.9, "
                "use Adam, or pass cycle_momentum=False."
            )
        self.total_steps, self.anneal_strategy, self.cycle_momentum = int(total_steps), anneal_strategy, cycle_momentum
        initial = max_lr / div_factor
        low, high = float(base_momentum), float(max_momentum)
        warm_end = float(pct_start * self.total_steps) - 1
        # (last step of the phase, lr at its start, lr at its end, momentum at its start, at its end)
        if three_phase:
            self.phases = [
                (warm_end, initial, max_lr, high, low),
                (2 * warm_end, max_lr, initial, low, high),
                (self.total_steps - 1, initial, initial / final_div_factor, high, high),
            ]
        else:
            self.phases = [
                (warm_end, initial, max_lr, high, low),
                (self.total_steps - 1, max_lr, initial / final_div_factor, low, high),
            ]
        super().__init__(optimizer)

    def _position(self, t):
        """(phase, fraction of the way through it) for step t."""
        if t > self.total_steps:
            raise ValueError(
                f"OneCycleLR stepped {t} times but total_steps is {self.total_steps}: make total_steps "
                "(or epochs * steps_per_epoch) cover the whole run."
            )
        start = 0.0
        for number, phase in enumerate(self.phases):
            end = phase[0]
            if t <= end or number == len(self.phases) - 1:
                return phase, (t - start) / (end - start)
            start = end

    def lr_at(self, t):
        # Hint: self._position(t) gives the phase (end step, lr start, lr end, ...) and the fraction;
        # _anneal does the interpolation.
        ### BEGIN SOLUTION
        (_, lr_start, lr_end, _, _), fraction = self._position(t)
        return _anneal(lr_start, lr_end, fraction, self.anneal_strategy)
        ### END SOLUTION

    def momentum_at(self, t) -> float:
        (_, _, _, start, end), fraction = self._position(t)
        return _anneal(start, end, fraction, self.anneal_strategy)

    def _apply(self):
        super()._apply()
        if self.cycle_momentum:
            momentum = float(self.momentum_at(self.last_epoch))
            if hasattr(self.optimizer, "betas"):
                self.optimizer.betas = (momentum, self.optimizer.betas[1])
            else:
                self.optimizer.momentum = momentum


# %% [markdown]
# ## When training blows up
#
# With too large a learning rate the loss grows, overflows to `inf` and then becomes `nan`, and from
# then on every weight is `nan`. Continuing is pointless, and a run that reports "accuracy 10%" after
# an hour hides the cause. The Trainer checks every batch's loss (it reads it anyway, for the history)
# and stops with an error that says where it happened and what to try.

# %%
#| export training.trainer
#| doc Trainer, the training loop: history, checkpoints, accuracy, and a stop when training diverges
class TrainingDivergedError(RuntimeError):
    """The loss became nan or inf; carries the epoch, batch, loss and learning rate."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float):
        self.epoch, self.batch, self.loss, self.lr = epoch, batch, loss, lr
        super().__init__(
            f"Training diverged: the loss became {loss} at epoch {epoch}, batch {batch} "
            f"(learning rate {lr:g}). Lower the learning rate (try {lr / 10:g}) or clip gradients "
            "(Trainer(..., grad_clip=1.0))."
        )


# %% [markdown]
# ## Progress events
#
# A live display (a progress bar, a loss curve) needs to hear from the loop without the loop knowing
# anything about displays. The Trainer calls one function you give it, `callback(event)`, after every
# batch (`event.kind == "batch"`) and after every epoch (`"epoch"`), with a small frozen record of
# where training is. Throughput is `event.samples / event.seconds`. Returning True from an "epoch"
# event stops `fit` after that epoch (for example, once a target accuracy is reached).

# %%
#| export training.trainer
@dataclass(frozen=True)
class TrainEvent:
    """Where training is, passed to the Trainer's callback after every batch and every epoch."""

    kind: str  # "batch" after each optimizer step, "epoch" after each epoch (and its validation)
    epoch: int  # 1-based, counting every epoch this Trainer has trained
    epochs: int  # the epoch at which this fit() call will stop
    batch: int  # batches trained so far in this epoch (the 1-based index of the batch just done)
    batches: int | None  # batches per epoch, len(loader), or None when the loader has no length
    loss: float  # this batch's loss ("batch") or the epoch's mean training loss ("epoch")
    mean_loss: float  # mean training loss over this epoch so far
    samples: int  # training examples (images) seen so far in this epoch
    seconds: float  # seconds since this epoch started
    lr: float  # the learning rate the (last) batch was trained with
    metrics: dict = field(default_factory=dict)  # "epoch" events: this epoch's row of the history


# %% [markdown]
# ## Accuracy
#
# For a classifier with C >= 2 outputs the prediction is the index of the largest score. A binary
# classifier with one output (trained with `BCEWithLogitsLoss`) predicts 1 where its logit is positive.
# A model that ends in a sigmoid (probabilities, `BCELoss`) should pass its own accuracy function.

# %%
#| export training.trainer
def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of correct predictions: argmax for (N, C>=2) scores, logit > 0 for one output.

    nan when the targets are not one label per example (a regression, say), so nothing is made up.
    """
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if targets.size != len(outputs):
        return math.nan
    # Hint: outputs.argmax(axis=1) for two or more columns; otherwise compare outputs > 0 with
    # targets > 0.5. The mean of a boolean array is the fraction that is True.
    ### BEGIN SOLUTION
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        predicted = outputs.argmax(axis=1)
        return float(np.mean(predicted == targets.reshape(-1)))
    predicted = outputs.reshape(-1) > 0
    return float(np.mean(predicted == (targets.reshape(-1) > 0.5)))
    ### END SOLUTION


# %% [markdown]
# ## The Trainer
#
# `train_epoch` is the five lines every PyTorch training loop has (zero the gradients, forward, loss,
# backward, step) plus the bookkeeping: clip if asked, step a per-batch schedule, stop on a `nan`
# loss, sum the loss and accuracy weighted by batch size, and report progress. `evaluate` runs the
# model in eval mode (dropout off) under `no_grad()` (no graph, so no saved activations). `fit` runs
# epochs, evaluates, steps a per-epoch schedule and appends a row to `history`, a dictionary of lists
# (one entry per epoch; `nan` where nothing was measured, such as validation without a val_loader).
#
# A loader is anything that yields `(inputs, targets)` batches: module 08's DataLoader, or simply a
# list of pairs of Tensors or arrays.

# %%
#| export training.trainer
def _as_tensor(batch_part):
    return batch_part if isinstance(batch_part, Tensor) else Tensor(batch_part)


HISTORY_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class Trainer:
    """Trains a model with an optimizer and loss; keeps a per-epoch history; saves checkpoints.

    trainer = Trainer(model, Adam(model.parameters(), lr=1e-3), CrossEntropyLoss())
    history = trainer.fit(train_loader, epochs=5, val_loader=test_loader, callback=print)
    """

    def __init__(self, model, optimizer, loss_fn, scheduler=None, grad_clip: float | None = None, accuracy_fn=accuracy):
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip must be a positive max norm (such as 1.0) or None, got {grad_clip!r}.")
        if scheduler is not None and scheduler.optimizer is not optimizer:
            raise ValueError("The scheduler was made for a different optimizer than the Trainer's.")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.grad_clip, self.accuracy_fn = scheduler, grad_clip, accuracy_fn
        self.epoch = 0  # epochs trained so far
        self.history = {key: [] for key in HISTORY_KEYS}

    def _scores(self, inputs, targets):
        """Forward pass and loss for one batch: (outputs, loss Tensor, batch size)."""
        inputs, targets = _as_tensor(inputs), _as_tensor(targets)
        outputs = self.model(inputs)
        return outputs, self.loss_fn(outputs, targets), len(targets), targets

    def train_epoch(self, loader, callback=None, epochs: int | None = None) -> dict:
        """One pass over loader, updating the model; returns {"loss", "accuracy", "samples", "batches",
        "seconds", "lr"} (lr: the learning rate of the last batch)."""
        self.model.train()
        epoch = self.epoch + 1
        batches = len(loader) if hasattr(loader, "__len__") else None
        start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0.0
        batch, lr = 0, self.optimizer.lr
        for batch, (inputs, targets) in enumerate(loader, start=1):
            # Hint: note the optimizer's current learning rate; zero the gradients; get outputs, loss,
            # size and targets from self._scores; turn the loss into a Python float and raise
            # TrainingDivergedError when it is not finite; backward; clip when self.grad_clip is set;
            # optimizer step; and step the scheduler here if its interval is "batch".
            ### BEGIN SOLUTION
            lr = self.optimizer.lr
            self.optimizer.zero_grad()
            outputs, loss, size, targets = self._scores(inputs, targets)
            value = float(loss.item())
            if not math.isfinite(value):
                raise TrainingDivergedError(epoch, batch, value, lr)
            loss.backward()
            if self.grad_clip is not None:
                clip_grad_norm_(self.optimizer.params, self.grad_clip)
            self.optimizer.step()
            if self.scheduler is not None and self.scheduler.interval == "batch":
                self.scheduler.step()
            ### END SOLUTION
            seen += size
            loss_sum += value * size
            if self.accuracy_fn is not None:
                correct += self.accuracy_fn(outputs.data, targets.data) * size
            if callback is not None:
                callback(
                    TrainEvent("batch", epoch, epochs or epoch, batch, batches, value, loss_sum / seen, seen,
                               time.perf_counter() - start, lr)
                )
        if seen == 0:
            raise ValueError("train_epoch got a loader with no batches: is the dataset empty?")
        self.epoch = epoch
        return {
            "loss": loss_sum / seen,
            "accuracy": correct / seen if self.accuracy_fn is not None else math.nan,
            "samples": seen,
            "batches": batch,
            "seconds": time.perf_counter() - start,
            "lr": lr,
        }

    def evaluate(self, loader) -> dict:
        """Mean loss and accuracy over loader, in eval mode and without building a graph."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        seen, loss_sum, correct = 0, 0.0, 0.0
        try:
            with no_grad():
                for inputs, targets in loader:
                    outputs, loss, size, targets = self._scores(inputs, targets)
                    seen += size
                    loss_sum += float(loss.item()) * size
                    if self.accuracy_fn is not None:
                        correct += self.accuracy_fn(outputs.data, targets.data) * size
        finally:
            self.model.train(was_training)
        if seen == 0:
            raise ValueError("evaluate got a loader with no batches: is the dataset empty?")
        return {"loss": loss_sum / seen, "accuracy": correct / seen if self.accuracy_fn is not None else math.nan}

    def fit(self, train_loader, epochs: int, val_loader=None, callback=None) -> dict:
        """Train for `epochs` more epochs; return the history {key: list with one value per epoch}."""
        if int(epochs) < 1:
            raise ValueError(f"fit needs epochs >= 1, got {epochs}.")
        last = self.epoch + int(epochs)
        while self.epoch < last:
            train = self.train_epoch(train_loader, callback=callback, epochs=last)
            val = self.evaluate(val_loader) if val_loader is not None else {"loss": math.nan, "accuracy": math.nan}
            if self.scheduler is not None and self.scheduler.interval == "epoch":
                self.scheduler.step()
            row = {
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "lr": train["lr"],
                "seconds": train["seconds"],
            }
            for key, value in row.items():
                self.history[key].append(value)
            if callback is not None:
                event = TrainEvent("epoch", self.epoch, last, train["batches"], train["batches"], train["loss"],
                                   train["loss"], train["samples"], train["seconds"], train["lr"], row)
                if callback(event) is True:
                    break
        return self.history

    def save_checkpoint(self, path, **metadata) -> Path:
        """Save model, optimizer, schedule, epoch and history (plus your metadata) to an .npz file."""
        return save_checkpoint(path, self.model, self.optimizer, self.scheduler,
                               epoch=self.epoch, history=self.history, **metadata)

    def load_checkpoint(self, path) -> dict:
        """Restore what save_checkpoint saved, including epoch and history; return the metadata."""
        metadata = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = int(metadata.get("epoch", 0))
        saved = metadata.get("history", {})
        self.history = {key: [float(v) for v in saved.get(key, [])] for key in HISTORY_KEYS}
        return metadata


# %% [markdown]
# ## Checkpoints as .npz, not pickle
#
# `pickle` can store anything, and loading a pickle can *run* anything: a checkpoint downloaded from
# the internet could execute code on your machine. A checkpoint only needs arrays and a few numbers
# and strings, so we store it as NumPy's `.npz` (a zip of `.npy` arrays) and load it with
# `allow_pickle=False`, which refuses object arrays outright.
#
# Layout: `model/<name>` for each entry of the model's state_dict, `optimizer/<key>` and
# `scheduler/<key>` for theirs, `meta/<key>` for metadata (numbers, strings, lists of numbers, and
# dictionaries of those, flattened with "/"), and `meta/format` to recognise the file. The file is
# written to a temporary name and renamed into place, so a crash never leaves half a checkpoint.

# %%
#| export training.trainer
_CHECKPOINT_FORMAT = 1


def _metadata_arrays(prefix: str, value) -> dict:
    """Flatten metadata into {key: array} entries that load without pickle."""
    if isinstance(value, dict):
        flat = {}
        for key, inner in value.items():
            flat.update(_metadata_arrays(f"{prefix}/{key}", inner))
        return flat
    array = np.asarray(value)
    if array.dtype.kind not in "biufU":
        raise TypeError(
            f"Checkpoint metadata {prefix[5:]!r} is a {type(value).__name__}: save numbers, strings, "
            "lists of numbers, or dictionaries of those."
        )
    return {prefix: array}


def save_checkpoint(path, model, optimizer=None, scheduler=None, **metadata) -> Path:
    """Write model (and optimizer, scheduler) state plus metadata to `path` as an .npz file."""
    path = Path(path)
    arrays = {f"model/{key}": value for key, value in model.state_dict().items()}
    for section, owner in (("optimizer", optimizer), ("scheduler", scheduler)):
        if owner is not None:
            arrays.update({f"{section}/{key}": np.asarray(value) for key, value in owner.state_dict().items()})
    arrays.update(_metadata_arrays("meta", metadata))
    arrays["meta/format"] = np.array(_CHECKPOINT_FORMAT)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _section(arrays: dict, name: str) -> dict:
    start = f"{name}/"
    return {key[len(start):]: value for key, value in arrays.items() if key.startswith(start)}


def load_checkpoint(path, model, optimizer=None, scheduler=None) -> dict:
    """Load a checkpoint saved by save_checkpoint into model (and optimizer, scheduler); return metadata."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"No checkpoint at {path}.") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} is not a TinyTorch checkpoint (.npz without pickles): {error}") from None
    if "meta/format" not in arrays:
        raise ValueError(f"{path} is not a TinyTorch checkpoint: it has no meta/format entry.")
    model.load_state_dict(_section(arrays, "model"))
    for name, owner in (("optimizer", optimizer), ("scheduler", scheduler)):
        if owner is None:
            continue
        state = _section(arrays, name)
        if not state:
            raise ValueError(f"{path} holds no {name} state: load it without the {name}, or save one with it.")
        owner.load_state_dict(state)
    metadata: dict = {}
    for key, value in _section(arrays, "meta").items():
        *parents, leaf = key.split("/")
        place = metadata
        for parent in parents:
            place = place.setdefault(parent, {})
        place[leaf] = value.item() if value.ndim == 0 else value.tolist()
    metadata.pop("format", None)
    return metadata


# %% [markdown]
# ## Putting it together, and where the time goes
#
# A two-class problem no straight line separates: points inside a circle against points outside it.
# A small MLP learns it in a few epochs; the callback prints one line per epoch.

# %%
def circle_data(n: int = 512, seed: int = 0):
    """Points in the square [-1, 1]^2; class 1 inside the circle of radius 0.6."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    labels = (np.sqrt((points**2).sum(axis=1)) < 0.6).astype(np.int64)
    return points, labels


def _batches(points, labels, batch_size=64):
    return [(Tensor(points[i : i + batch_size]), Tensor(labels[i : i + batch_size])) for i in range(0, len(points), batch_size)]


def demo_circle(epochs: int = 30) -> dict:
    from tinytorch.nn.activations import ReLU
    from tinytorch.nn.linear import Linear
    from tinytorch.nn.container import Sequential
    from tinytorch.nn.losses import CrossEntropyLoss
    from tinytorch.optim.adam import Adam

    seed_everything(0)
    model = Sequential(Linear(2, 32), ReLU(), Linear(32, 2))
    optimizer = Adam(model.parameters(), lr=0.02)
    schedule = CosineAnnealingLR(optimizer, T_max=epochs)
    trainer = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=schedule)
    points, labels = circle_data()

    def report(event):
        if event.kind == "epoch" and event.epoch % 10 == 0:
            print(f"epoch {event.epoch:>2}/{event.epochs}  loss {event.loss:.3f}  "
                  f"accuracy {event.metrics['train_accuracy']:.1%}  lr {event.lr:.4f}  "
                  f"{event.samples / event.seconds:,.0f} samples/s")

    return trainer.fit(_batches(points, labels), epochs=epochs, callback=report)


if __name__ == "__main__":
    from tito.chapter import demo

    demo(demo_circle)

# %% [markdown]
# Now the time split of one training step for the digits MLP, 784-256-10, batch 128, measured here.

# %%
def measure_step(repeats: int = 30) -> None:
    from tinytorch.nn.activations import ReLU
    from tinytorch.nn.linear import Linear
    from tinytorch.nn.container import Sequential
    from tinytorch.nn.losses import CrossEntropyLoss
    from tinytorch.optim.adam import Adam

    seed_everything(0)
    model = Sequential(Linear(784, 256), ReLU(), Linear(256, 10))
    loss_fn = CrossEntropyLoss()
    optimizer = Adam(model.parameters(), lr=1e-3)
    x = Tensor(np.random.standard_normal((128, 784)), dtype=np.float32)
    y = Tensor(np.random.randint(0, 10, size=128))
    parts = {"forward + loss": [], "backward": [], "optimizer step": []}
    for _ in range(repeats):
        optimizer.zero_grad()
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[key].append(seconds)
    medians = {key: float(np.median(values)) for key, values in parts.items()}
    total = sum(medians.values())
    for key, seconds in medians.items():
        print(f"{key:<15} {1e3 * seconds:6.2f} ms  {seconds / total:5.1%}")
    state = sum(a.nbytes for s in optimizer.state for a in s.values())
    weights = sum(p.data.nbytes for p in model.parameters())
    print(f"checkpoint: weights {weights / 1e3:,.0f} KB + Adam state {state / 1e3:,.0f} KB")


if __name__ == "__main__":
    from tito.chapter import demo

    demo(measure_step)

# %% [markdown]
# ## Unit tests

# %%
def test_unit_seed_everything():
    seed_everything(3)
    first = (np.random.random(), random.random())
    seed_everything(3)
    assert (np.random.random(), random.random()) == first
    print("seed_everything: NumPy's global generator and Python's random repeat after reseeding")


def test_unit_clip_grad_norm():
    a, b = Tensor([0.0], requires_grad=True), Tensor([0.0], requires_grad=True)
    a.grad, b.grad = Tensor([3.0]), Tensor([4.0])
    norm = clip_grad_norm_([a, b], max_norm=1.0)
    assert abs(norm - 5.0) < 1e-6, "returns the norm before clipping"
    assert np.allclose([a.grad.data[0], b.grad.data[0]], [0.6, 0.8], atol=1e-6), "same direction, length 1"
    assert clip_grad_norm_([a, b], max_norm=10.0) < 1.0 + 1e-5 and abs(a.grad.data[0] - 0.6) < 1e-6
    print("clip_grad_norm_: (3, 4) -> (0.6, 0.8) for max_norm 1; a small norm is left alone")


def _schedule_lrs(make, steps):
    w = Tensor([0.0], requires_grad=True)
    from tinytorch.optim.sgd import SGD

    optimizer = SGD([w], lr=1.0, momentum=0.9)
    schedule = make(optimizer)
    lrs = [optimizer.lr]
    for _ in range(steps):
        schedule.step()
        lrs.append(optimizer.lr)
    return lrs


def test_unit_schedules():
    assert _schedule_lrs(lambda o: StepLR(o, step_size=2, gamma=0.5), 4) == [1.0, 1.0, 0.5, 0.5, 0.25]
    cosine = _schedule_lrs(lambda o: CosineAnnealingLR(o, T_max=4), 4)
    assert np.allclose(cosine, [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0.0])
    one_cycle = _schedule_lrs(lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10), 9)
    assert abs(one_cycle[0] - 1 / 25) < 1e-12 and abs(one_cycle[2] - 1.0) < 1e-12, "warm up to max_lr in 30%"
    assert abs(one_cycle[9] - 1 / 25 / 1e4) < 1e-12, "end at max_lr / 25 / 1e4"
    print("schedules: StepLR halves every 2, cosine follows its closed form, one-cycle peaks at 30%")


def test_unit_trainer_learns():
    history = demo_circle(epochs=30)
    assert history["train_accuracy"][-1] > 0.95, f"circle accuracy {history['train_accuracy'][-1]:.3f}"
    assert history["train_loss"][-1] < history["train_loss"][0]
    print(f"Trainer: the circle MLP reaches {history['train_accuracy'][-1]:.1%} training accuracy")


def test_unit_divergence_is_reported():
    from tinytorch.nn.linear import Linear
    from tinytorch.optim.sgd import SGD

    model = Linear(2, 1)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), lambda out, y: (out * np.inf).sum())
    try:
        trainer.fit([(np.ones((2, 2)), np.ones((2, 1)))], epochs=1)
    except TrainingDivergedError as error:
        assert error.epoch == 1 and error.batch == 1 and "Lower the learning rate" in str(error)
    else:
        raise AssertionError("an infinite loss must stop training")
    print("TrainingDivergedError: names epoch 1, batch 1 and suggests a lower learning rate")


def test_unit_checkpoint_round_trip():
    from tinytorch.nn.linear import Linear
    from tinytorch.optim.adam import Adam

    seed_everything(1)
    model, fresh = Linear(3, 2), Linear(3, 2)
    optimizer = Adam(model.parameters(), lr=0.01)
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(Path(folder) / "model.npz", model, optimizer, epoch=4, note="hello")
        metadata = load_checkpoint(path, fresh)
    x = Tensor(np.random.standard_normal((5, 3)))
    assert np.array_equal(model(x).data, fresh(x).data), "identical predictions"
    assert metadata == {"epoch": 4, "note": "hello"}
    print("checkpoints: .npz round trip gives identical predictions and returns the metadata")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())

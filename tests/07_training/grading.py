"""Module 07 (training)'s graded checks: gradient clipping, the three schedules, accuracy and one
epoch of the Trainer, graded on the reference modules 01-06."""

import numpy as np

from tito.grading.declare import check


def _params_with_grads(rng, scale):
    from tinytorch import Tensor

    params = [Tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(3, 4), (4,), (2,)]]
    for p in params:
        p.grad = Tensor(rng.standard_normal(p.shape) * scale)
    return params


@check()
def clip_grad_norm(rng):
    "clip_grad_norm_ returns the joint norm and scales every gradient only when it is too large."
    from tinytorch.training import clip_grad_norm_

    results = {}
    for case, scale in (("large", 10.0), ("small", 0.01)):
        params = _params_with_grads(rng, scale)
        max_norm = float(rng.uniform(0.5, 2.0))
        results[f"{case}_norm"] = clip_grad_norm_(params, max_norm)
        results[f"{case}_grads"] = np.concatenate([p.grad.data.ravel() for p in params])
    return results


def _schedule(lr, make, steps):
    """The learning rates an SGD optimizer (lr, momentum 0.9) gets from `make(optimizer)`, step by step."""
    from tinytorch import Tensor
    from tinytorch.optim import SGD

    optimizer = SGD([Tensor(np.zeros(2), requires_grad=True)], lr=lr, momentum=0.9)
    scheduler = make(optimizer)
    rates = [optimizer.lr]
    for _ in range(steps):
        scheduler.step()
        rates.append(optimizer.lr)
    return np.array(rates)


@check()
def step_lr(rng):
    "StepLR multiplies the rate by gamma every step_size epochs."
    from tinytorch.optim.lr_scheduler import StepLR

    size, gamma = int(rng.integers(1, 5)), float(rng.uniform(0.1, 0.9))
    return {"rates": _schedule(float(rng.uniform(0.01, 1)), lambda o: StepLR(o, size, gamma), 15)}


@check()
def cosine(rng):
    "CosineAnnealingLR follows half a cosine down to eta_min."
    from tinytorch.optim.lr_scheduler import CosineAnnealingLR

    t_max, low = int(rng.integers(2, 12)), float(rng.uniform(0, 0.01))
    return {"rates": _schedule(float(rng.uniform(0.01, 1)), lambda o: CosineAnnealingLR(o, t_max, low), t_max)}


@check()
def one_cycle(rng):
    "OneCycleLR warms up, then anneals, by cosine or linearly, in two or three phases."
    from tinytorch.optim.lr_scheduler import OneCycleLR

    results = {}
    for strategy in ("cos", "linear"):
        total, three = int(rng.integers(8, 30)), bool(rng.integers(0, 2))
        peak = float(rng.uniform(0.1, 1))
        results[strategy] = _schedule(
            0.1,
            lambda o: OneCycleLR(o, max_lr=peak, total_steps=total, anneal_strategy=strategy, three_phase=three),
            total,
        )
    return results


@check()
def accuracy(rng):
    "accuracy for class scores and for single logits."
    from tinytorch.training import accuracy

    n, classes = int(rng.integers(5, 30)), int(rng.integers(2, 6))
    scores, labels = rng.standard_normal((n, classes)), rng.integers(0, classes, size=n)
    logits, targets = rng.standard_normal((n, 1)), (rng.uniform(size=n) > 0.5).astype(float)
    return {
        "classes": accuracy(scores, labels),
        "binary": accuracy(logits, targets),
        "flat_binary": accuracy(logits.ravel(), targets),
    }


@check(weight=3)
def train_epoch(rng):
    "Trainer.train_epoch: one epoch with clipping and a per-batch schedule gives the reference's weights."
    from tinytorch.nn import CrossEntropyLoss, Linear
    from tinytorch.optim import SGD
    from tinytorch.optim.lr_scheduler import OneCycleLR
    from tinytorch.training import Trainer

    model = Linear(5, 3)
    model.weight.data[...] = rng.standard_normal((3, 5))
    model.bias.data[...] = rng.standard_normal(3)
    batches = []
    for size in rng.integers(2, 6, size=int(rng.integers(3, 7))):
        batches.append((rng.standard_normal((int(size), 5)).astype(np.float32), rng.integers(0, 3, size=int(size))))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = OneCycleLR(optimizer, max_lr=float(rng.uniform(0.1, 1)), total_steps=len(batches) + 1)
    trainer = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=scheduler, grad_clip=float(rng.uniform(0.5, 2)))
    seen = []
    result = trainer.train_epoch(batches, callback=lambda event: seen.append(event.loss))
    return {
        "loss": result["loss"],
        "accuracy": result["accuracy"],
        "samples": result["samples"],
        "batches": result["batches"],
        "lr": result["lr"],
        "weight": model.weight.data,
        "bias": model.bias.data,
        "batch_losses": np.array(seen),
        "epoch": trainer.epoch,
        "next_lr": optimizer.lr,
    }

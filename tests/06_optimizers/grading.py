"""Module 06 (optimizers)'s graded checks: three steps of each optimizer, settings drawn for the run.

Each check sets random gradients by hand before every step (so no other module's backward pass is
involved) and returns the parameters after each step, and the gradients, which must be left as
they were. Graded on the reference modules 01-05.
"""

import numpy as np

from tito.grading.declare import check

STEPS = 3


def _trajectory(rng, make):
    """The parameters after each of STEPS steps of the optimizer `make(params)`."""
    from tinytorch import Tensor

    params = [Tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(3, 4), (4,)]]
    optimizer = make(params)
    after, grads = [], []
    for _ in range(STEPS):
        for p in params:
            p.grad = Tensor(rng.standard_normal(p.shape))
        given = [p.grad.data.copy() for p in params]
        optimizer.step()
        after.append(np.concatenate([p.data.ravel() for p in params]))
        grads.append(np.concatenate([(p.grad.data - g).ravel() for p, g in zip(params, given)]))
    return {"params": np.stack(after), "gradient_changes": np.stack(grads)}


@check()
def sgd(rng):
    "SGD: p -= lr * grad."
    from tinytorch.optim import SGD

    lr = float(rng.uniform(0.01, 0.5))
    return _trajectory(rng, lambda params: SGD(params, lr=lr))


@check()
def sgd_momentum(rng):
    "SGD with momentum keeps a velocity per parameter."
    from tinytorch.optim import SGD

    lr, momentum = float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.5, 0.95))
    return _trajectory(rng, lambda params: SGD(params, lr=lr, momentum=momentum))


@check()
def sgd_nesterov(rng):
    "SGD with Nesterov momentum."
    from tinytorch.optim import SGD

    lr, momentum = float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.5, 0.95))
    return _trajectory(rng, lambda params: SGD(params, lr=lr, momentum=momentum, nesterov=True))


@check()
def sgd_weight_decay(rng):
    "SGD with weight decay (and momentum), leaving the gradients unchanged."
    from tinytorch.optim import SGD

    lr, decay = float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.01, 0.2))
    return _trajectory(rng, lambda params: SGD(params, lr=lr, momentum=0.9, weight_decay=decay))


def _adam_settings(rng):
    return {
        "lr": float(rng.uniform(0.001, 0.1)),
        "betas": (float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.9, 0.999))),
        "eps": float(10 ** rng.uniform(-8, -3)),
    }


@check(weight=2)
def adam(rng):
    "Adam: running averages of the gradient and its square, bias-corrected."
    from tinytorch.optim import Adam

    settings = _adam_settings(rng)
    return _trajectory(rng, lambda params: Adam(params, **settings))


@check()
def adam_weight_decay(rng):
    "Adam with L2 weight decay added to the gradient."
    from tinytorch.optim import Adam

    settings, decay = _adam_settings(rng), float(rng.uniform(0.01, 0.2))
    return _trajectory(rng, lambda params: Adam(params, weight_decay=decay, **settings))


@check()
def adamw(rng):
    "AdamW: decoupled weight decay, then the Adam step."
    from tinytorch.optim import AdamW

    settings, decay = _adam_settings(rng), float(rng.uniform(0.01, 0.2))
    return _trajectory(rng, lambda params: AdamW(params, weight_decay=decay, **settings))

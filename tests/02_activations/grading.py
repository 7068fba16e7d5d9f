"""Module 02 (activations)'s graded checks: each activation on random scores, extremes included, and
the Module base class (parameter registration, dotted names, state dicts).

Graded on the reference Tensor (module 01). The inputs mix ordinary scores with values of +-1000,
where a formula that is not written stably overflows.
"""

import numpy as np

from tito.grading.declare import check


def _scores(rng, scale=4.0):
    """Float32 scores with a few extremes, shape (rows, cols)."""
    from tinytorch import Tensor

    rows, cols = (int(v) for v in rng.integers(2, 7, size=2))
    values = rng.standard_normal((rows, cols)) * scale
    values[rng.integers(0, rows), rng.integers(0, cols)] = 1000.0
    values[rng.integers(0, rows), rng.integers(0, cols)] = -1000.0
    return Tensor(values)


def _run(name, rng, **options):
    from tinytorch.nn import functional as activations

    x = _scores(rng)
    with np.errstate(all="ignore"):
        out = getattr(activations, name)(x, **options)
    return {"out": out.data, "dtype": str(out.dtype)}


@check()
def relu(rng):
    "relu(x) = max(x, 0), float32 kept."
    return _run("relu", rng)


@check()
def sigmoid(rng):
    "sigmoid(x), exact 0 and 1 at -1000 and 1000."
    return _run("sigmoid", rng)


@check()
def softplus(rng):
    "softplus(x) = log(1 + exp(x)), without overflow at 1000."
    return _run("softplus", rng)


@check()
def tanh(rng):
    "tanh(x), exact -1 and 1 at the extremes."
    return _run("tanh", rng)


@check()
def gelu(rng):
    "gelu(x), the tanh approximation."
    return _run("gelu", rng)


@check()
def softmax(rng):
    "softmax(x, dim) along a random axis, stable at 1000."
    return _run("softmax", rng, dim=int(rng.integers(-2, 2)))


@check()
def log_softmax(rng):
    "log_softmax(x, dim) along a random axis, stable at 1000."
    return _run("log_softmax", rng, dim=int(rng.integers(-2, 2)))


def _net(rng):
    """A three-level model with a shared parameter, built from the student's Module and Parameter."""
    from tinytorch.nn import Module, Parameter

    class Leaf(Module):
        def __init__(self):
            super().__init__()
            self.weight = Parameter(rng.standard_normal((2, 3)))
            self.bias = Parameter(rng.standard_normal(2))

    class Block(Module):
        def __init__(self):
            super().__init__()
            self.scale = Parameter(rng.standard_normal(3))
            self.inner = Leaf()

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.first = Block()
            self.offset = Parameter(rng.standard_normal((2, 2)))
            self.second = Block()
            self.tied = self.offset  # the same parameter twice: listed once
            self.note = "not a parameter"

    return Net()


@check()
def registers_parameters(rng):
    "Module registers Parameters and submodules on assignment."
    net = _net(rng)
    named = list(net.named_parameters())
    return {
        "children": len(list(net.children())),
        "values": np.concatenate([p.data.ravel() for _, p in named]),
        "count": len(named),
    }


@check()
def names_parameters(rng):
    "named_parameters gives dotted names, each parameter once."
    net = _net(rng)
    names = [name for name, _ in net.named_parameters()]
    return {
        "names": names,
        "shapes": np.array([len(p.shape) for _, p in net.named_parameters()]),
        "total": sum(float(p.data.sum()) for _, p in net.named_parameters()),
    }


@check()
def loads_state(rng):
    "load_state_dict copies in place, and refuses a missing key or a wrong shape without writing."
    net = _net(rng)
    state = {name: rng.standard_normal(value.shape) for name, value in net.state_dict().items()}
    net.load_state_dict(state)
    loaded = np.concatenate([p.data.ravel() for p in net.parameters()])
    refusals = []
    for broken in ({k: v for k, v in list(state.items())[1:]}, {**state, next(iter(state)): np.zeros((7, 7))}):
        try:
            net.load_state_dict({k: v * 2 for k, v in broken.items()})
            refusals.append("accepted")
        except ValueError:
            refusals.append("ValueError")
    missing, unexpected = net.load_state_dict({"extra": np.zeros(1), **dict(list(state.items())[1:])}, strict=False)
    return {
        "loaded": loaded,
        "after_refusals": np.concatenate([p.data.ravel() for p in net.parameters()]),
        "refusals": refusals,
        "missing": list(missing) or ["(none)"],
        "unexpected": list(unexpected) or ["(none)"],
    }

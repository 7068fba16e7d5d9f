"""Module 03 (layers)'s graded checks: initialisation, Linear, Sequential and Dropout, graded on the
reference Tensor and activations (module 02, which also gives the Module base class).

Weights are set from the run's generator wherever a value is compared; the random parts (initial
weights, dropout masks) are judged by their distribution instead, in the grader's own process.
"""

import math

import numpy as np

from tito.grading.declare import check


def _uniform(bound_of, reach=0.97, spread=0.05):
    """A judge: every sample within +-bound, spread like a uniform over it. The defaults suit 20,000
    samples (the largest |value| passes `reach` * bound, the standard deviation is within `spread` of a
    uniform's); an honest draw fails them with a probability below 1e-9."""

    def judge(student, reference):
        bound = bound_of(reference)
        samples = np.asarray(student["samples"], dtype=np.float64)
        if samples.shape != reference["samples"].shape:
            return f"gave shape {samples.shape} where {reference['samples'].shape} was asked for"
        if student.get("dtype") != reference["dtype"]:
            return "did not return float32 weights"
        if np.abs(samples).max() > bound * (1 + 1e-5):
            return "drew values outside +-bound"
        if np.abs(samples).max() < reach * bound or abs(samples.std() / (bound / math.sqrt(3)) - 1) > spread:
            return "the values are not spread uniformly over +-bound"
        if abs(samples.mean()) > spread * bound:
            return "the values are not centred on 0"
        return None

    return judge


def _kaiming_bound(reference):
    a, fan_in = float(reference["a"]), float(reference["fan_in"])
    return math.sqrt(2.0 / (1.0 + a * a)) * math.sqrt(3.0 / fan_in)


@check(judge=_uniform(_kaiming_bound))
def kaiming(rng):
    "kaiming_uniform draws from U(-bound, bound), bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in)."
    from tinytorch.nn.init import kaiming_uniform

    fan_in, a = int(rng.integers(3, 500)), float(rng.choice([0.0, math.sqrt(5.0), float(rng.uniform(0, 3))]))
    np.random.seed(int(rng.integers(2**31)))
    samples = kaiming_uniform((100, 200), fan_in=fan_in, a=a)
    return {"samples": samples, "dtype": str(samples.dtype), "fan_in": fan_in, "a": a}


@check(judge=_uniform(lambda r: float(r["gain"]) * math.sqrt(6.0 / (float(r["fan_in"]) + float(r["fan_out"])))))
def xavier(rng):
    "xavier_uniform draws from U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."
    from tinytorch.nn.init import xavier_uniform

    fan_in, fan_out, gain = int(rng.integers(3, 500)), int(rng.integers(3, 500)), float(rng.uniform(0.5, 2))
    np.random.seed(int(rng.integers(2**31)))
    samples = xavier_uniform((200, 100), fan_in=fan_in, fan_out=fan_out, gain=gain)
    return {"samples": samples, "dtype": str(samples.dtype), "fan_in": fan_in, "fan_out": fan_out, "gain": gain}


def _judge_linear_init(student, reference):
    bound = 1.0 / math.sqrt(float(reference["in_features"]))
    for key in ("weight", "bias", "xavier_weight"):
        samples = np.asarray(student.get(key), dtype=np.float64)
        if samples.shape != reference[key].shape:
            return f"`{key}` has shape {samples.shape} where the reference has {reference[key].shape}"
    for key, uniform in (("weight", _uniform(lambda r: bound)), ("bias", _uniform(lambda r: bound, 0.8, 0.3))):
        reason = uniform({"samples": student[key], "dtype": "float32"}, {"samples": reference[key], "dtype": "float32"})
        if reason:
            return f"`{key}`: {reason}"
    limit = math.sqrt(6.0 / (float(reference["in_features"]) + float(reference["out_features"])))
    if np.abs(student["xavier_weight"]).max() > limit * (1 + 1e-5) or np.any(student["xavier_bias"] != 0):
        return "init='xavier' does not draw Xavier weights with a zero bias"
    for key in ("registered", "bias_none"):
        if not np.array_equal(student.get(key), reference[key]):
            return "the weight and bias are not registered Parameters (or bias=False kept a bias)"
    return None


@check(judge=_judge_linear_init)
def linear_init(rng):
    "Linear's weight (out, in) and bias start uniform in +-1/sqrt(in); init='xavier'; bias=False."
    from tinytorch.nn import Linear, Parameter

    n_in, n_out = int(rng.integers(100, 300)), int(rng.integers(100, 300))
    np.random.seed(int(rng.integers(2**31)))
    layer, xavier = Linear(n_in, n_out), Linear(n_in, n_out, init="xavier")
    names = [name for name, _ in Linear(n_in, n_out, bias=False).named_parameters()]
    return {
        "weight": layer.weight.data,
        "bias": layer.bias.data,
        "xavier_weight": xavier.weight.data,
        "xavier_bias": xavier.bias.data,
        "registered": np.array(
            [isinstance(layer.weight, Parameter), isinstance(layer.bias, Parameter), bool(layer.weight.requires_grad)]
        ),
        "bias_none": np.array([Linear(n_in, n_out, bias=False).bias is None, names == ["weight"]]),
        "in_features": n_in,
        "out_features": n_out,
    }


def _linear(rng, n_in, n_out, bias=True):
    from tinytorch.nn import Linear

    layer = Linear(n_in, n_out, bias=bias)
    layer.weight.data[...] = rng.standard_normal((n_out, n_in))
    if bias:
        layer.bias.data[...] = rng.standard_normal(n_out)
    return layer


@check(weight=2)
def linear_forward(rng):
    "Linear computes x @ W.T + b, for a batch and for a batch of sequences, with and without bias."
    from tinytorch import Tensor

    n_in, n_out, batch = (int(v) for v in rng.integers(1, 8, size=3))
    layer, plain = _linear(rng, n_in, n_out), _linear(rng, n_in, n_out, bias=False)
    x, seq = Tensor(rng.standard_normal((batch, n_in))), Tensor(rng.standard_normal((2, batch, n_in)))
    return {"out": layer(x).data, "sequences": layer(seq).data, "no_bias": plain(x).data}


@check()
def sequential(rng):
    "Sequential feeds each layer's output to the next, in order."
    from tinytorch import Tensor
    from tinytorch.nn import ReLU, Sequential, Tanh

    model = Sequential(_linear(rng, 4, 6), ReLU(), _linear(rng, 6, 5), Tanh(), _linear(rng, 5, 3))
    x = Tensor(rng.standard_normal((int(rng.integers(1, 6)), 4)))
    return {"out": model(x).data, "steps": len(model)}


def _judge_dropout(student, reference):
    p, x = float(reference["p"]), reference["x"]
    out = np.asarray(student.get("train"), dtype=np.float64)
    if out.shape != x.shape:
        return f"the training output has shape {out.shape}, not {x.shape}"
    kept = out != 0
    if not np.allclose(out[kept], x[kept] / (1 - p), rtol=1e-5):
        return "kept values are not scaled by 1 / (1 - p)"
    dropped = 1 - kept.mean()
    if abs(dropped - p) > 5 * math.sqrt(p * (1 - p) / x.size):
        return f"dropped {dropped:.3f} of the values with p = {p:.3f}"
    for key in ("eval", "zero_p", "one_p"):
        if not np.allclose(np.asarray(student.get(key), dtype=np.float64), reference[key], rtol=1e-6):
            return "eval mode, p = 0 or p = 1 does not do what it should"
    return None


@check(judge=_judge_dropout)
def dropout(rng):
    "Dropout zeroes a fraction p and scales the rest by 1 / (1 - p) in training; identity in eval."
    from tinytorch import Tensor
    from tinytorch.nn import Dropout

    p = float(rng.uniform(0.2, 0.8))
    x = Tensor(rng.uniform(0.5, 2.0, size=(100, 200)))
    np.random.seed(int(rng.integers(2**31)))
    layer = Dropout(p)
    train = layer(x).data
    layer.eval()
    return {
        "train": train,
        "eval": layer(x).data,
        "zero_p": Dropout(0.0)(x).data,
        "one_p": Dropout(1.0)(x).data,
        "p": p,
        "x": x.data,
    }

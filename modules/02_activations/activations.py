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
# # Module 02: Activations
#
# Stack two linear maps and you get one linear map: `(x @ A) @ B == x @ (A @ B)`. However many layers
# you pile up, without something non-linear in between the network can only draw straight lines. An
# activation function is that something: a cheap elementwise (or, for softmax, row-wise) function
# applied after each layer.
#
# You will build the six that modern networks use, **only out of module 01's Tensor operations**
# (`clip`, `exp`, `log`, `max`, `sum`, arithmetic). That is a deliberate choice: when module 05 gives
# every Tensor operation a gradient, each activation here becomes differentiable without a line of
# extra code.
#
# | class | formula | used for |
# |---|---|---|
# | `ReLU` | max(x, 0) | hidden layers of almost every network |
# | `Sigmoid` | 1 / (1 + e^-x) | probabilities of yes/no outputs |
# | `Tanh` | (e^x - e^-x) / (e^x + e^-x) | hidden layers of older and recurrent networks |
# | `GELU` | x * Phi(x) (tanh approximation) | transformers |
# | `Softmax` | e^x_i / sum_j e^x_j | class probabilities |
# | `LogSoftmax` | x_i - log sum_j e^x_j | the input to cross-entropy |
#
# The real work of this module is **numerical stability**: `exp(1000)` is infinity in any float
# format, and a network's raw scores reach such values. Every function here must give the right
# answer at x = +-1000, with no overflow warning and no NaN.

# %%
#| default_exp core.activations

# %%
#| export
import math

import numpy as np

from tinytorch.core.tensor import Tensor, as_tensor

# %% [markdown]
# ## Why the naive formulas fail
#
# Run the cell below. The textbook sigmoid `1 / (1 + exp(-x))` at x = -1000 computes `exp(1000)`,
# which overflows to infinity: the value 1/inf = 0 happens to be right, but NumPy warns, and in
# module 05 the gradient becomes inf * 0 = NaN, which then spreads through every weight. The naive
# softmax of [1000, 0] is inf / inf = NaN outright.

# %%
if __name__ == "__main__":
    with np.errstate(all="ignore"):
        scores = np.array([1000.0, 0.0, -1000.0], dtype=np.float32)
        print("naive sigmoid:", 1 / (1 + np.exp(-scores)), "  exp(-x):", np.exp(-scores))
        print("naive softmax of [1000, 0]:", np.exp(scores[:2]) / np.exp(scores[:2]).sum())
        print("largest float32:", np.finfo(np.float32).max, "= e **", math.log(np.finfo(np.float32).max))

# %% [markdown]
# The cure in every case is the same idea: **subtract a constant before exponentiating, and add it back
# outside**. `exp` of a number <= 0 lies in (0, 1], so it can neither overflow nor (in a sum that also
# contains exp(0) = 1) leave us dividing by zero.
#
# The constant is taken from the data with `detach()`, so it is a plain number to autograd. Its
# derivative would cancel out anyway; detaching just skips the useless work.

# %% [markdown]
# ## ReLU
#
# `max(x, 0)` is `x.clip(min=0)`. It costs one comparison per element, and its gradient (module 05) is
# 1 where the input was kept and 0 where it was clipped, so backward only needs a boolean mask: one
# byte per element instead of the four a float32 copy would take. At exactly 0 the derivative is
# undefined; clip passes the gradient there (a valid choice, where PyTorch's ReLU passes 0).

# %%
#| export
def relu(x) -> Tensor:
    """max(x, 0), elementwise."""
    # Hint: one Tensor method from module 01 clamps values from below.
    ### BEGIN SOLUTION
    return as_tensor(x).clip(min=0)
    ### END SOLUTION


# %% [markdown]
# ## Sigmoid, stably
#
# Let `c = max(x, 0)`, a constant per element. Multiplying the top and bottom of `e^x / (1 + e^x)` by
# `e^-c` gives
#
#     sigmoid(x) = e^(x - c) / (e^(-c) + e^(x - c))
#
# Both exponents are <= 0, and one of the two terms in the denominator is exactly e^0 = 1, so nothing
# overflows and nothing divides by zero. At x = 1000: c = 1000 and the result is 1 / (0 + 1) = 1. At
# x = -1000: c = 0 and the result is 0 / (1 + 0) = 0.
#
# A popular alternative, `exp(-softplus(-x))` with `softplus(z) = max(z, 0) + log(1 + e^-|z|)`, is just
# as stable in value, but it is built from two kinked pieces (`max` and `|z|`) whose kinks only cancel
# mathematically; differentiated piece by piece at exactly x = 0 it gives a slope of 0.5 instead of
# 0.25. The form above, with `c` a constant, differentiates to exactly sigmoid(x) * (1 - sigmoid(x))
# everywhere, including at 0, where zero-initialised biases put many inputs.
#
# `softplus(x) = log(1 + e^x)`, the smooth ReLU that binary cross-entropy needs in module 04, gets the
# same treatment: `c + log(e^(-c) + e^(x - c))`. (For very negative x the true value e^x is below the
# float's resolution next to 1, so we return 0, an absolute error under machine epsilon; NumPy's
# `log1p` would keep those digits, but a loss never needs them.)

# %%
#| export
def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x)) computed without overflow: exp(x - c) / (exp(-c) + exp(x - c)), c = max(x, 0)."""
    x = as_tensor(x)
    # Hint: the constant c is max(x, 0) computed on x.detach(); then two exps (both of numbers <= 0)
    # and one division. Check yourself at x = 1000 and x = -1000.
    ### BEGIN SOLUTION
    shift = x.detach().clip(min=0)
    top = (x - shift).exp()
    return top / ((-shift).exp() + top)
    ### END SOLUTION


def softplus(x) -> Tensor:
    """log(1 + exp(x)) without overflow: c + log(exp(-c) + exp(x - c)), c = max(x, 0)."""
    x = as_tensor(x)
    # Hint: the same shift c as in sigmoid; softplus(x) = c + log(exp(-c) + exp(x - c)).
    ### BEGIN SOLUTION
    shift = x.detach().clip(min=0)
    return shift + ((-shift).exp() + (x - shift).exp()).log()
    ### END SOLUTION


# %% [markdown]
# ## Tanh and GELU from sigmoid
#
# Tanh is a sigmoid stretched to (-1, 1): `tanh(x) = 2 * sigmoid(2x) - 1`, so it inherits sigmoid's
# stability. (Near 0 this form loses relative precision: for |x| < 1e-8 in float32 it returns 0.
# A network never notices; a library that computes tanh(1e-10) for a physicist would use `np.tanh`.)
#
# GELU weighs each input by the probability that a standard normal variable is below it,
# `x * Phi(x)`. Like PyTorch's `approximate="tanh"` and the original BERT and GPT-2 code, we use
#
#     gelu(x) = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
#
# which agrees with the exact GELU to within 5e-4 everywhere (the largest gap is near x = -2.7). Since
# `1 + tanh(u) = 2 * sigmoid(2u)`, this is `x * sigmoid(2u)`, which is what we compute.

# %%
#| export
def tanh(x) -> Tensor:
    """Hyperbolic tangent as 2 * sigmoid(2x) - 1 (stable at +-1000)."""
    # Hint: one line, reusing sigmoid: tanh(x) = 2 * sigmoid(2x) - 1.
    ### BEGIN SOLUTION
    return sigmoid(as_tensor(x) * 2) * 2 - 1
    ### END SOLUTION


GELU_COEFFICIENT = 0.044715


def gelu(x) -> Tensor:
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2u)."""
    x = as_tensor(x)
    # Hint: u = sqrt(2/pi) * (x + GELU_COEFFICIENT * x**3), then x * sigmoid(2u).
    ### BEGIN SOLUTION
    u = (x + x**3 * GELU_COEFFICIENT) * math.sqrt(2.0 / math.pi)
    return x * sigmoid(u * 2)
    ### END SOLUTION


# %% [markdown]
# ## Softmax and LogSoftmax along a dimension
#
# Softmax turns a row of scores into probabilities. Subtracting the row's maximum `m` changes nothing
# (the factor e^-m cancels between top and bottom) but makes the largest exponent exactly 0: no
# overflow, and a denominator of at least 1.
#
#     softmax(x)_i     = e^(x_i - m) / sum_j e^(x_j - m)
#     log_softmax(x)_i = (x_i - m) - log sum_j e^(x_j - m)
#
# Compute log-softmax directly rather than `softmax(x).log()`: a probability that underflows to 0
# would give log(0) = -inf, while the direct form gives the right large negative number (-2000 for
# the scores [1000, -1000]). Cross-entropy in module 04 is built on it.

# %%
#| export
def softmax(x, dim: int = -1) -> Tensor:
    """exp(x) / exp(x).sum(dim), with the maximum along `dim` subtracted first (stable)."""
    x = as_tensor(x)
    # Hint: subtract x.detach().max(axis=dim, keepdims=True), exponentiate, divide by the sum along
    # dim (keepdims=True, so the division broadcasts).
    ### BEGIN SOLUTION
    shifted = x - x.detach().max(axis=dim, keepdims=True)
    exps = shifted.exp()
    return exps / exps.sum(axis=dim, keepdims=True)
    ### END SOLUTION


def log_softmax(x, dim: int = -1) -> Tensor:
    """x - log(sum(exp(x), dim)), computed as (x - m) - log(sum(exp(x - m))) with m the max along dim."""
    x = as_tensor(x)
    # Hint: shift by the detached max as in softmax, then subtract log(sum(exp(shifted))) along dim;
    # never take the log of a softmax.
    ### BEGIN SOLUTION
    shifted = x - x.detach().max(axis=dim, keepdims=True)
    return shifted - shifted.exp().sum(axis=dim, keepdims=True).log()
    ### END SOLUTION


# %% [markdown]
# ## The classes
#
# Layers in PyTorch are objects: `nn.ReLU()`, `nn.Softmax(dim=1)`. Ours are small callables with a
# `forward` method, so `Sequential` (module 03) can chain them with Linear layers. They hold no
# weights, so they need nothing from module 03's `Module`.

# %%
#| export
class Activation:
    """Base of the activation classes: calling the object runs `forward`."""

    def forward(self, x) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, x).")

    def __call__(self, x) -> Tensor:
        return self.forward(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """max(x, 0)."""

    def forward(self, x):
        return relu(x)


class Sigmoid(Activation):
    """1 / (1 + exp(-x)), stable at +-1000."""

    def forward(self, x):
        return sigmoid(x)


class Tanh(Activation):
    """tanh(x) = 2 sigmoid(2x) - 1."""

    def forward(self, x):
        return tanh(x)


class GELU(Activation):
    """x * Phi(x), tanh approximation (as PyTorch's GELU(approximate="tanh"))."""

    def forward(self, x):
        return gelu(x)


class Softmax(Activation):
    """Probabilities along `dim` (default: the last)."""

    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x):
        return softmax(x, dim=self.dim)

    def __repr__(self) -> str:
        return f"Softmax(dim={self.dim})"


class LogSoftmax(Activation):
    """Log-probabilities along `dim` (default: the last)."""

    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x):
        return log_softmax(x, dim=self.dim)

    def __repr__(self) -> str:
        return f"LogSoftmax(dim={self.dim})"


# %% [markdown]
# ## The systems view: what each activation costs
#
# An activation does a handful of operations per element, far fewer than the matrix multiply before
# it (which does `2 * fan_in` per output element). But each Tensor operation is a full pass over
# memory and allocates its result: our sigmoid makes seven temporary arrays the size of its input.
# The cell below times each activation on a batch of activations and compares it to ReLU and to a
# matrix multiply producing the same output.

# %%
def profile_activations(shape=(256, 1024), repeats: int = 10) -> dict:
    """Milliseconds per call of each activation on a float32 array of `shape`, and ratios to ReLU."""
    import time

    x = Tensor(np.random.standard_normal(shape))
    weights = Tensor(np.random.standard_normal((shape[-1], shape[-1])))
    candidates = {
        "ReLU": ReLU(),
        "Sigmoid": Sigmoid(),
        "Tanh": Tanh(),
        "GELU": GELU(),
        "Softmax": Softmax(),
        "LogSoftmax": LogSoftmax(),
        f"matmul by ({shape[-1]}, {shape[-1]})": lambda t: t @ weights,
    }
    timings = {}
    for name, function in candidates.items():
        function(x)
        start = time.perf_counter()
        for _ in range(repeats):
            function(x)
        timings[name] = (time.perf_counter() - start) / repeats * 1e3
    megabytes = x.data.nbytes / 2**20
    print(f"input {shape} float32 = {megabytes:.1f} MiB")
    for name, ms in timings.items():
        print(f"  {name:<24} {ms:7.2f} ms   {ms / timings['ReLU']:5.1f}x ReLU")
    return timings


if __name__ == "__main__":
    profile_activations()

# %% [markdown]
# ReLU is the cheapest by a wide margin, one reason it won. The exponential-based activations cost
# several ReLUs each, but all of them together stay below the matrix multiply of a layer of the same
# width: in a multilayer perceptron, time goes into matmuls.

# %% [markdown]
# ## Unit tests

# %%
def _strict():
    """Turn NumPy's overflow, invalid-value and divide-by-zero warnings into errors."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


def test_unit_relu():
    x = Tensor([-2.0, -0.0, 0.5, 3.0])
    assert np.array_equal(ReLU()(x).data, [0.0, 0.0, 0.5, 3.0])
    assert relu(x).dtype == np.float32
    print("ReLU: negatives become 0, positives pass, float32 kept")


def test_unit_sigmoid_tanh():
    x = np.linspace(-6, 6, 25)
    t = Tensor(x, dtype=np.float64)
    assert np.allclose(Sigmoid()(t).data, 1 / (1 + np.exp(-x)), atol=1e-12)
    assert np.allclose(Tanh()(t).data, np.tanh(x), atol=1e-12)
    assert np.allclose(softplus(t).data, np.log1p(np.exp(x)), atol=1e-12)
    with _strict():
        extreme = Tensor([-1000.0, 1000.0])
        assert np.array_equal(sigmoid(extreme).data, [0.0, 1.0])
        assert np.array_equal(tanh(extreme).data, [-1.0, 1.0])
        assert np.array_equal(softplus(extreme).data, [0.0, 1000.0])
    print("Sigmoid, Tanh, softplus: match NumPy on [-6, 6]; exact 0/1, -1/1, 0/1000 at +-1000 without warnings")


def test_unit_gelu():
    x = np.linspace(-4, 4, 17)
    exact = x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    assert np.abs(GELU()(Tensor(x, dtype=np.float64)).data - exact).max() < 1e-3
    with _strict():
        assert np.array_equal(gelu(Tensor([-1000.0, 1000.0])).data, [0.0, 1000.0])
    print("GELU: within 1e-3 of x * Phi(x) on [-4, 4]; 0 and 1000 at the extremes")


def test_unit_softmax():
    scores = Tensor([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    with _strict():
        probs = Softmax()(scores).data
        logs = LogSoftmax(dim=-1)(scores).data
    assert np.allclose(probs.sum(axis=-1), 1.0)
    assert np.allclose(probs[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    assert np.allclose(probs[1], [1.0, 0.0, 0.0])
    assert np.allclose(logs[1], [0.0, -1000.0, -2000.0])
    columns = softmax(scores, dim=0).data
    assert np.allclose(columns.sum(axis=0), 1.0)
    print("Softmax rows sum to 1; LogSoftmax of [1000, 0, -1000] is [0, -1000, -2000]; dim=0 works too")


if __name__ == "__main__":
    for test in (test_unit_relu, test_unit_sigmoid_tanh, test_unit_gelu, test_unit_softmax):
        test()
    print("Module 02: all inline tests passed.")

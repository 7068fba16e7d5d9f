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
# # Module 03: Layers
#
# A network is a function with many numbers inside it (its weights) that training adjusts. Module 02
# built the base class every layer shares, `Module`, which registers the `Parameter`s and sub-Modules
# assigned to it, so `model.parameters()` finds every weight of a network however deeply it is
# nested. In this module you build the layers that hold those weights, and the containers that make
# a network out of layers:
#
# - the initialisations PyTorch uses (Kaiming-uniform, Xavier-uniform), and why their scale matters;
# - `Linear`, the fully connected layer `y = x @ W.T + b`;
# - `Sequential`, which chains layers, the activations of module 02 included, in one list of Modules;
# - `Dropout`, the first layer that behaves differently in training and in evaluation.
#
# **The systems view.** A Linear layer from `n` inputs to `m` outputs holds `m * (n + 1)` numbers and
# costs `2 * batch * n * m` floating-point operations (a multiply and an add per weight per example).
# Almost all of a multilayer perceptron's time goes into those matrix multiplications; the cells
# below measure it on your machine.

# %%
#| default_exp nn.linear

# %%
#| export
import math

import numpy as np

from tinytorch.tensor import DEFAULT_FLOAT, Tensor, as_tensor
from tinytorch.nn.module import Module, Parameter

# %%
from tinytorch.nn.activations import ReLU  # module 02's layer, for the examples and tests in this file

# %% [markdown]
# ## Initialisation: why the scale of random weights matters
#
# Each output of a Linear layer sums `fan_in` products. If every weight has variance `v`, an output's
# variance is about `fan_in * v` times the input's. Too large and the signal explodes layer by layer;
# too small and it fades away. Scaling the weights by `1/sqrt(fan_in)` keeps it steady.
#
# - **Kaiming (He) uniform**: `U(-bound, bound)` with `bound = gain * sqrt(3 / fan_in)` and
#   `gain = sqrt(2 / (1 + a^2))`. With `a = 0` it is He initialisation for ReLU networks. PyTorch's
#   Linear and Conv2d use `a = sqrt(5)`, which simplifies to `bound = 1 / sqrt(fan_in)`; that is our
#   default too, so a TinyTorch network starts like its PyTorch twin. The bias is drawn from
#   `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, also as in PyTorch.
# - **Xavier (Glorot) uniform**: `bound = gain * sqrt(6 / (fan_in + fan_out))`, balancing the forward
#   and backward signal, a good choice for tanh and sigmoid networks. `Linear(..., init="xavier")`
#   uses it with a zero bias.
#
# Random numbers come from NumPy's global generator, so `manual_seed(0)` (or `np.random.seed(0)`)
# makes a model's initial weights, and Dropout's masks, repeatable.

# %%
#| export nn.init
#| doc Weight initialisation: manual_seed, kaiming_uniform and xavier_uniform
def manual_seed(seed: int) -> None:
    """Seed the random numbers TinyTorch draws (weight initialisation, dropout masks)."""
    np.random.seed(seed)


def kaiming_uniform(shape, fan_in: int, a: float = math.sqrt(5.0), dtype=DEFAULT_FLOAT) -> np.ndarray:
    """Weights from U(-bound, bound), bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in).

    a = sqrt(5) is PyTorch's default for Linear and Conv2d (bound = 1/sqrt(fan_in)); a = 0 is He init.
    """
    # Hint: gain = sqrt(2 / (1 + a^2)), bound = gain * sqrt(3 / fan_in); np.random.uniform(-bound,
    # bound, size=shape), cast to dtype.
    ### BEGIN SOLUTION
    gain = math.sqrt(2.0 / (1.0 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in)
    return np.random.uniform(-bound, bound, size=shape).astype(dtype)
    ### END SOLUTION


def xavier_uniform(shape, fan_in: int, fan_out: int, gain: float = 1.0, dtype=DEFAULT_FLOAT) -> np.ndarray:
    """Weights from U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    # Hint: bound = gain * sqrt(6 / (fan_in + fan_out)); draw as in kaiming_uniform.
    ### BEGIN SOLUTION
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return np.random.uniform(-bound, bound, size=shape).astype(dtype)
    ### END SOLUTION


# %% [markdown]
# ## Linear: y = x @ W.T + b
#
# The weight has PyTorch's shape `(out_features, in_features)`: row `j` holds the weights of output
# `j`. `W.T` is a transposed *view* (no copy), and NumPy's matrix multiply reads it directly. The bias
# `(out_features,)` broadcasts over the batch; in module 05 the engine sums its gradient over the batch
# for you.

# %%
#| export nn.linear
#| doc Linear, the fully connected layer: y = x @ W.T + b
class Linear(Module):
    """Fully connected layer: (..., in_features) -> (..., out_features).

    init="kaiming" (default) matches PyTorch: weight and bias from U(+-1/sqrt(in_features)).
    init="xavier" draws the weight from Xavier-uniform and starts the bias at zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "kaiming"):
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}.")
        if init not in ("kaiming", "xavier"):
            raise ValueError(f"Linear init must be 'kaiming' or 'xavier', got {init!r}.")
        self.in_features, self.out_features = int(in_features), int(out_features)
        shape = (self.out_features, self.in_features)
        # Hint: self.weight = Parameter(...) from kaiming_uniform or xavier_uniform; the bias is drawn from
        # U(-1/sqrt(in_features), 1/sqrt(in_features)) for kaiming, zeros for xavier, and None when
        # bias=False.
        ### BEGIN SOLUTION
        if init == "kaiming":
            self.weight = Parameter(kaiming_uniform(shape, fan_in=self.in_features))
            bound = 1.0 / math.sqrt(self.in_features)
            initial_bias = np.random.uniform(-bound, bound, size=self.out_features)
        else:
            self.weight = Parameter(xavier_uniform(shape, fan_in=self.in_features, fan_out=self.out_features))
            initial_bias = np.zeros(self.out_features)
        self.bias = Parameter(initial_bias) if bias else None
        ### END SOLUTION

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}) got input of shape {x.shape}: "
                f"its last dimension must be {self.in_features}."
            )
        # Hint: x @ self.weight.T, plus the bias when there is one.
        ### BEGIN SOLUTION
        out = x @ self.weight.T
        return out + self.bias if self.bias is not None else out
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# %% [markdown]
# ## Sequential: layers in a row
#
# `Sequential(Linear(2, 8), ReLU(), Linear(8, 1))` calls each layer on the output of the one before.
# Every layer is a Module (module 02's activations too), so Sequential keeps them in one place: it
# registers each under its position, "0", "1", ..., with `add_module`, and `self._modules` *is* the
# list of steps, in order. Their parameters are found as those of any submodule (`0.weight`), and
# indexing, `len` and iteration read the same dictionary. Like PyTorch's, it refuses a plain function:
# a step is a layer, and a function becomes one inside a Module's `forward`.

# %%
#| export nn.container
#| doc Sequential: layers applied one after another
class Sequential(Module):
    """A chain of layers applied in order; indexable, iterable and sized like a list."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for position, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential step {position} is a {type(layer).__name__}, not a Module: pass layers such as "
                    "Linear(2, 8) or ReLU(), or write a Module whose forward calls your function."
                )
            self.add_module(str(position), layer)

    def forward(self, x):
        # Hint: feed the output of each registered layer, in order, to the next.
        ### BEGIN SOLUTION
        for layer in self._modules.values():
            x = layer(x)
        return x
        ### END SOLUTION

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


# %% [markdown]
# ## Dropout: noise that regularises
#
# While training, Dropout zeroes each element with probability `p` and scales the survivors by
# `1 / (1 - p)`, so the expected value of every output is unchanged and evaluation (where Dropout does
# nothing) sees activations of the same size. The mask is a constant; in module 05 the gradient flows
# through exactly the kept elements, scaled the same way.

# %%
#| export nn.dropout
#| doc Dropout: zeroes random entries in training and rescales the rest
class Dropout(Module):
    """Zero each element with probability p while training; identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be between 0 and 1, got {p}.")
        self.p = float(p)

    def forward(self, x):
        x = as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        # Hint: np.random.random_sample(x.shape) >= p keeps each element with probability 1 - p; turn
        # that into a mask of x's dtype scaled by 1 / (1 - p) and multiply by it (as a Tensor).
        # p = 1 drops everything.
        ### BEGIN SOLUTION
        if self.p == 1.0:
            return x * 0.0
        keep = np.random.random_sample(x.shape) >= self.p
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(1.0 / (1.0 - self.p))
        return x * Tensor._wrap(mask)
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"p={self.p}"


# %% [markdown]
# ## The systems view, measured
#
# The function below counts what a multilayer perceptron stores and computes, then times its forward
# pass to see how close to the machine's matrix-multiply speed we get. The numbers are computed from
# the layers, not typed in: change the sizes and run the cell again.

# %%
def profile_mlp(sizes=(784, 256, 128, 10), batch: int = 128, repeats: int = 20) -> dict:
    """Parameters, memory, FLOPs and measured forward speed of an MLP with the given layer sizes."""
    import time

    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(n_in, n_out), ReLU()]
    model = Sequential(*layers[:-1])
    params = sum(p.size for p in model.parameters())
    flops = sum(2 * batch * n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    x = Tensor(np.random.standard_normal((batch, sizes[0])), dtype=np.float32)
    activations = sum(batch * n for n in sizes[1:])
    model(x)  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        model(x)
    seconds = (time.perf_counter() - start) / repeats
    report = {
        "parameters": params,
        "parameter_MiB": params * 4 / 2**20,
        "activation_MiB": activations * 4 / 2**20,
        "forward_MFLOP": flops / 1e6,
        "forward_ms": seconds * 1e3,
        "GFLOP_per_s": flops / seconds / 1e9,
    }
    print(
        f"MLP {sizes}, batch {batch}: {params:,} parameters ({report['parameter_MiB']:.2f} MiB float32), "
        f"activations {report['activation_MiB']:.2f} MiB; forward {report['forward_MFLOP']:.1f} MFLOP in "
        f"{report['forward_ms']:.2f} ms = {report['GFLOP_per_s']:.1f} GFLOP/s"
    )
    return report


if __name__ == "__main__":
    from tito.chapter import demo

    demo(profile_mlp)

# %% [markdown]
# Look at the proportions: the parameters take a few hundred KiB, the activations of one batch are
# of the same order, and the forward pass is a few million multiply-adds that NumPy hands to BLAS.
# Training adds the backward pass (about twice the forward FLOPs) and must keep every activation until
# backward has used it, which is why batch size, not model size, usually decides memory.

# %% [markdown]
# ## Unit tests

# %%
class _TwoLayer(Module):
    def __init__(self):
        super().__init__()
        self.hidden = Linear(3, 5)
        self.act = ReLU()
        self.out = Linear(5, 2)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def test_unit_linear():
    manual_seed(0)
    layer = Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert np.abs(layer.weight.data).max() <= 1 / math.sqrt(4), "PyTorch's default bound 1/sqrt(fan_in)"
    x = Tensor(np.random.standard_normal((5, 4)))
    y = layer(x)
    assert y.shape == (5, 3)
    assert np.allclose(y.data, x.data @ layer.weight.data.T + layer.bias.data, atol=1e-6)
    try:
        layer(Tensor(np.ones((5, 7))))
    except ValueError as error:
        assert "in_features=4" in str(error) and "(5, 7)" in str(error)
    else:
        raise AssertionError("a wrong input size must raise")
    wide = Linear(1000, 1000, init="xavier")
    assert np.abs(wide.weight.data).max() <= math.sqrt(6 / 2000) and not wide.bias.data.any()
    print("Linear: weight (out, in), bias (out,), y = x W^T + b, Kaiming/Xavier bounds, clear size error")


def test_unit_sequential_and_modes():
    model = Sequential(Linear(3, 4), ReLU(), Dropout(0.5), Linear(4, 1))
    assert len(model) == 4 and len(list(model.parameters())) == 4
    assert [name for name, _ in model.named_modules()] == ["", "0", "1", "2", "3"], "every layer is registered"
    assert model(Tensor(np.ones((2, 3)))).shape == (2, 1)
    model.eval()
    assert all(not m.training for m in model.modules())
    x = Tensor(np.ones((100, 100)))
    assert np.array_equal(model[2](x).data, x.data), "Dropout is the identity in eval mode"
    model.train()
    dropped = model[2](x).data
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0.3 < (dropped == 0).mean() < 0.7
    print("Sequential registers every layer in order; train()/eval() reach every layer; Dropout masks and rescales")


def test_unit_model_state():
    a, b = _TwoLayer(), _TwoLayer()
    assert [name for name, _ in a.named_parameters()] == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    b.load_state_dict(a.state_dict())
    x = Tensor(np.random.standard_normal((4, 3)))
    assert np.array_equal(a(x).data, b(x).data)
    print("a model of Linear layers: its weights have dotted names, and a state_dict round trip gives identical outputs")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())

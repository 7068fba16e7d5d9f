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
# A network is a function with many numbers inside it (its weights) that training adjusts. To train
# one we must be able to ask it: *which numbers are yours?* In this module you build the answer PyTorch
# gives, the `Module`:
#
# - `Parameter`, a Tensor that is marked as a weight to be learned;
# - `Module`, a base class that notices every Parameter and every sub-Module you assign to it, so
#   `model.parameters()` finds all the weights of a network however deeply they are nested, and
#   `train()` / `eval()`, `state_dict()` / `load_state_dict()` reach every layer;
# - `Linear`, the fully connected layer `y = x @ W.T + b`, with the initialisation PyTorch uses;
# - `Sequential`, which chains layers (and plain callables such as module 02's activations);
# - `Dropout`, the first layer that behaves differently in training and in evaluation.
#
# **The systems view.** A Linear layer from `n` inputs to `m` outputs holds `m * (n + 1)` numbers and
# costs `2 * batch * n * m` floating-point operations (a multiply and an add per weight per example).
# Almost all of a multilayer perceptron's time goes into those matrix multiplications; the cells
# below measure it on your machine.

# %%
#| default_exp core.layers

# %%
#| export
import math

import numpy as np

from tinytorch.core.tensor import DEFAULT_FLOAT, Tensor, as_tensor

# %% [markdown]
# ## Parameter: a Tensor that wants to learn
#
# A Parameter is an ordinary Tensor with two differences: it requires gradients from the moment it is
# made, and `Module` recognises it by its type. Weights are floating point, so integer data becomes
# float32; as with every Tensor, you get float64 only by asking for it (`dtype=np.float64`, or
# `module.double()` on a whole model, which the gradient checks of module 05 use).

# %%
#| export
class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable weight (requires_grad=True by default)."""

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        if dtype is None and np.asarray(data.data if isinstance(data, Tensor) else data).dtype.kind != "f":
            dtype = DEFAULT_FLOAT  # weights are floats even when given as integers
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


# %% [markdown]
# ## Module: finding every weight
#
# The trick PyTorch uses, and we copy, is `__setattr__`: Python calls it for every `self.name = value`
# inside a layer. Module looks at the value: a Parameter goes into `self._parameters`, a Module into
# `self._modules`, and everything else is an ordinary attribute. The value is also stored normally, so
# `self.weight` reads at full speed. Walking `_modules` recursively then yields every parameter with a
# dotted name such as `layers.0.weight`.
#
# Two more kinds of state live in a model:
# - **buffers**: arrays that are part of the model's state but are not trained by gradients, such as
#   BatchNorm's running mean (module 09). `register_buffer(name, value)` declares one; assigning to the
#   name later replaces it. Buffers are saved by `state_dict()`, and never hold a graph.
# - **the mode**: `train()` and `eval()` set `.training` on every module, because some layers
#   (Dropout here, BatchNorm later) behave differently while training.
#
# `state_dict()` returns copies of all parameters and buffers as NumPy arrays under their dotted names;
# `load_state_dict()` checks every key and shape *before* writing anything, then copies the numbers in
# place, so optimizers that hold references to the parameters keep working.

# %%
#| export
def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class Module:
    """Base class of every layer and model: registers parameters, buffers and submodules on assignment.

    >>> class TwoLayer(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = Linear(2, 4)
    ...         self.out = Linear(4, 1)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).clip(min=0))
    >>> [name for name, _ in TwoLayer().named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # --- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign '{name}' before Module.__init__() ran: call super().__init__() first "
                f"in {type(self).__name__}.__init__."
            )
        # Hint: a Parameter goes into self._parameters and a Module into self._modules (call
        # self._forget(name) first, in case the name held something else); a name that is already a
        # buffer stays a buffer (self._as_buffer); refuse a non-Parameter for a parameter's name. In every
        # case finish with object.__setattr__(self, name, value) so normal attribute reads still work.
        ### BEGIN SOLUTION
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._buffers:
            value = self._as_buffer(name, value)
            self._buffers[name] = value
        elif name in self._parameters and value is not None:
            raise TypeError(
                f"cannot assign a {type(value).__name__} to parameter '{name}': assign a Parameter, or "
                f"change its numbers in place (self.{name}.data[...] = ...)."
            )
        else:
            self._forget(name)
        object.__setattr__(self, name, value)
        ### END SOLUTION

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name: str) -> None:
        """Remove `name` from every registry (it is being replaced by something else)."""
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)

    @staticmethod
    def _as_buffer(name: str, value):
        """A buffer is a Tensor with no graph behind it (or None)."""
        if value is None:
            return None
        if isinstance(value, Tensor):
            return value.detach() if (value.requires_grad or value._grad_fn is not None) else value
        if isinstance(value, (np.ndarray, list, tuple, int, float)):
            return Tensor(value)
        raise TypeError(f"buffer '{name}' must be a Tensor, a NumPy array or None, not {type(value).__name__}.")

    def register_buffer(self, name: str, value) -> None:
        """Declare non-trainable state (such as running statistics) saved in the state_dict."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"buffer name must be a Python identifier, got {name!r}.")
        if name in self._parameters or name in self._modules:
            raise ValueError(f"'{name}' is already a parameter or submodule of {type(self).__name__}.")
        value = self._as_buffer(name, value)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def add_module(self, name: str, module: "Module") -> None:
        """Register a submodule under a name that need not be an identifier (Sequential uses "0", "1")."""
        if not isinstance(module, Module):
            raise TypeError(f"add_module('{name}', ...) needs a Module, got {type(module).__name__}.")
        setattr(self, name, module)

    # --- walking the tree ---------------------------------------------------------------------
    def children(self):
        """The direct submodules, in the order they were assigned."""
        return iter(self._modules.values())

    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module and every descendant, each module once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{key}" if name else key, child) for key, child in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_parameters(self):
        """(dotted name, Parameter) for every parameter in the tree; a shared one appears once."""
        # Hint: loop over self.named_modules() (prefix, module), then over module._parameters.items();
        # skip None and any parameter already yielded (keep a set of id(param)); the dotted name is
        # f"{prefix}.{key}", or just key at the top.
        ### BEGIN SOLUTION
        seen = set()
        for prefix, module in self.named_modules():
            for key, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{prefix}.{key}" if prefix else key), param
        ### END SOLUTION

    def parameters(self):
        return (param for _, param in self.named_parameters())

    def named_buffers(self):
        seen = set()
        for prefix, module in self.named_modules():
            for key, buffer in module._buffers.items():
                if buffer is None or id(buffer) in seen:
                    continue
                seen.add(id(buffer))
                yield (f"{prefix}.{key}" if prefix else key), buffer

    def buffers(self):
        return (buffer for _, buffer in self.named_buffers())

    # --- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Put this module and every submodule in training mode (or evaluation mode with False)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the accumulated gradients (set them to None, as PyTorch does by default)."""
        for param in self.parameters():
            param.grad = None

    # --- calling ------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, ...).")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- saving and loading -------------------------------------------------------------------
    def _state_tensors(self) -> dict:
        state = dict(self.named_parameters())
        state.update(self.named_buffers())
        return state

    def state_dict(self) -> dict:
        """{dotted name: NumPy array copy} for every parameter and buffer."""
        return {name: tensor.data.copy() for name, tensor in self._state_tensors().items()}

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays from `state` into the parameters and buffers, in place.

        Every key and shape is checked before anything is written. With strict=False, missing and
        unexpected keys are allowed and returned as (missing, unexpected).
        """
        # Hint: self._state_tensors() maps each name to its Tensor. Collect missing and unexpected keys
        # and raise for them when strict; then check every shape and raise naming the key; only after
        # all checks pass, copy the numbers in place (assign into tensor.data[...], do not rebind it).
        ### BEGIN SOLUTION
        own = self._state_tensors()
        missing = [key for key in own if key not in state]
        unexpected = [key for key in state if key not in own]
        if strict and missing:
            raise ValueError(f"load_state_dict: missing key '{missing[0]}' ({len(missing)} missing in all).")
        if strict and unexpected:
            raise ValueError(
                f"load_state_dict: unexpected key '{unexpected[0]}': {type(self).__name__} has no such "
                "parameter or buffer."
            )
        arrays = {}
        for key, tensor in own.items():
            if key not in state:
                continue
            value = state[key]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.shape != tensor.shape:
                raise ValueError(
                    f"load_state_dict: shape mismatch for '{key}': the model has {tensor.shape}, "
                    f"the state has {array.shape}."
                )
            arrays[key] = array
        for key, array in arrays.items():
            own[key].data[...] = array  # in place: optimizers keep their references
        ### END SOLUTION
        return missing, unexpected

    # --- precision ----------------------------------------------------------------------------
    def _cast(self, dtype) -> "Module":
        for tensor in self._state_tensors().values():
            if tensor.dtype.kind != "f":
                continue  # integer buffers (counters) keep their type
            tensor.data = tensor.data.astype(dtype)
            if tensor.grad is not None:
                tensor.grad = Tensor(tensor.grad.data, dtype=dtype)
        return self

    def double(self) -> "Module":
        """Cast every floating parameter and buffer to float64 in place (for gradient checks)."""
        return self._cast(np.float64)

    def float(self) -> "Module":
        """Cast every floating parameter and buffer to float32 in place."""
        return self._cast(np.float32)

    # --- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The settings shown between the parentheses of this module's repr."""
        return ""

    def _repr_children(self):
        return list(self._modules.items())

    def __repr__(self) -> str:
        children = self._repr_children()
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        lines += [f"  ({name}): {_indent(repr(child))}" for name, child in children]
        return "\n".join(lines) + "\n)"


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
#| export
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
#| export
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
# `Sequential(Linear(2, 8), ReLU(), Linear(8, 1))` calls each step on the output of the one before.
# Steps that are Modules are registered under the names "0", "1", ... so their parameters are found;
# plain callables (module 02's activations, or any function of a Tensor) are kept in order but have
# no state to register.

# %%
#| export
class Sequential(Module):
    """A chain of layers applied in order; indexable, iterable and sized like a list."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for position, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential step {position} is a {type(layer).__name__}, which cannot be called.")
            if isinstance(layer, Module):
                self.add_module(str(position), layer)
        self.steps = list(layers)

    def forward(self, x):
        # Hint: feed the output of each step to the next.
        ### BEGIN SOLUTION
        for step in self.steps:
            x = step(x)
        return x
        ### END SOLUTION

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.steps[index])
        return self.steps[index]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def _repr_children(self):
        return [(str(position), step) for position, step in enumerate(self.steps)]


# %% [markdown]
# ## Dropout: noise that regularises
#
# While training, Dropout zeroes each element with probability `p` and scales the survivors by
# `1 / (1 - p)`, so the expected value of every output is unchanged and evaluation (where Dropout does
# nothing) sees activations of the same size. The mask is a constant; in module 05 the gradient flows
# through exactly the kept elements, scaled the same way.

# %%
#| export
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
        layers += [Linear(n_in, n_out), lambda x: x.clip(min=0)]
    model = Sequential(*layers[:-1])
    params = sum(p.size for p in model.parameters())
    flops = sum(2 * batch * n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    x = Tensor(np.random.standard_normal((batch, sizes[0])))
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
    profile_mlp()

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
        self.out = Linear(5, 2)

    def forward(self, x):
        return self.out(self.hidden(x).clip(min=0))


def test_unit_parameter():
    p = Parameter(np.ones((2, 3)))
    assert p.requires_grad and p.dtype == np.float32
    assert Parameter([1, 2]).dtype == np.float32, "integer data becomes float32"
    assert Parameter(np.ones(2), dtype=np.float64).dtype == np.float64
    print("Parameter: requires grad, float32 by default (also from integers), float64 on request")


def test_unit_module_registration():
    net = _TwoLayer()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"], names
    assert len(list(net.parameters())) == 4 and len(list(net.children())) == 2
    assert [name for name, _ in net.named_modules()] == ["", "hidden", "out"]
    net.register_buffer("steps", np.zeros(1))
    assert [name for name, _ in net.named_buffers()] == ["steps"]
    print("Module: parameters, submodules and buffers are registered on assignment with dotted names")


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
    model = Sequential(Linear(3, 4), lambda x: x.clip(min=0), Dropout(0.5), Linear(4, 1))
    assert len(model) == 4 and len(list(model.parameters())) == 4
    assert model(Tensor(np.ones((2, 3)))).shape == (2, 1)
    model.eval()
    assert all(not m.training for m in model.modules())
    x = Tensor(np.ones((100, 100)))
    assert np.array_equal(model[2](x).data, x.data), "Dropout is the identity in eval mode"
    model.train()
    dropped = model[2](x).data
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0.3 < (dropped == 0).mean() < 0.7
    print("Sequential chains Modules and callables; train()/eval() reach every layer; Dropout masks and rescales")


def test_unit_state_dict():
    a, b = _TwoLayer(), _TwoLayer()
    b.load_state_dict(a.state_dict())
    x = Tensor(np.random.standard_normal((4, 3)))
    assert np.array_equal(a(x).data, b(x).data)
    bad = a.state_dict()
    bad["out.bias"] = np.zeros(7)
    try:
        b.load_state_dict(bad)
    except ValueError as error:
        assert "out.bias" in str(error)
    else:
        raise AssertionError("a shape mismatch must raise")
    assert b.double().out.weight.dtype == np.float64
    print("state_dict round trip gives identical outputs; a bad shape names the key; double() casts in place")


if __name__ == "__main__":
    for test in (
        test_unit_parameter,
        test_unit_module_registration,
        test_unit_linear,
        test_unit_sequential_and_modes,
        test_unit_state_dict,
    ):
        test()
    print("Module 03: all inline tests passed.")

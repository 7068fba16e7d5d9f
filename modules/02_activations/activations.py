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
# | `GELU` | x * Phi(x) | transformers |
# | `Softmax` | e^x_i / sum_j e^x_j | class probabilities |
# | `LogSoftmax` | x_i - log sum_j e^x_j | the input to cross-entropy |
#
# The first half of this module is about **numerical stability**: `exp(1000)` is infinity in any float
# format, and a network's raw scores reach such values. Every function here must give the right
# answer at x = +-1000, with no overflow warning and no NaN.
#
# The second half is about **layers**. In a network an activation is a layer, and in PyTorch every
# layer is a `Module`: an object you call, that knows whether it is training, and that finds the
# weights of everything inside it. The activations are the course's first layers, so this module
# builds that base class, `Module`, with `Parameter` (a Tensor marked as a weight). The activation
# classes are its first subclasses; module 03's `Linear`, `Sequential` and `Dropout`, module 04's
# losses and module 09's convolutions come next.

# %%
#| default_exp nn.activations

# %%
#| export
import math

import numpy as np

from tinytorch.tensor import DEFAULT_FLOAT, Tensor, as_tensor

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
# `max(x, 0)` is `x * (x > 0)`: the comparison gives a boolean mask, and multiplying by it keeps the
# positive entries and zeroes the rest. Its gradient (module 05) is the same mask, 1 where the input was
# kept and 0 elsewhere. At exactly 0 the derivative is undefined, and the mask says 0 there, as
# PyTorch's ReLU does. (`x.clip(min=0)` gives the same values, but clip passes the gradient at its
# boundary, so a network on images with black pixels would learn differently from PyTorch's.)

# %%
#| export nn.activations
#| doc The activation functions (relu, sigmoid, tanh, gelu, softmax, log_softmax) and their layers (ReLU, ..., LogSoftmax)
def relu(x) -> Tensor:
    """max(x, 0), elementwise."""
    # Hint: a comparison from module 01 makes a mask of the positive entries; multiply x by it.
    ### BEGIN SOLUTION
    x = as_tensor(x)
    return x * (x > 0)
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
#| export nn.activations
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
# `x * Phi(x)`. Phi has no closed form (it is an integral), and NumPy has no `erf`, so we compute it the
# way statistics tables did: Abramowitz and Stegun's formula 26.2.17, a polynomial in t = 1/(1 + p|x|)
# times the normal density,
#
#     P(Z > |x|) = exp(-x^2 / 2) / sqrt(2 pi) * (b1 t + b2 t^2 + b3 t^3 + b4 t^4 + b5 t^5),
#
# within 7.5e-8 of the true value everywhere: below float32's resolution, so this is PyTorch's exact
# `GELU()` to the last bit that float32 keeps. Phi(x) is 1 minus that tail for x >= 0, the tail itself
# for x < 0. Built from module 01's operations, it is differentiable in module 05 like everything else.
#
# PyTorch also offers `GELU(approximate="tanh")`, the form of the original BERT and GPT-2 code:
#
#     gelu(x) = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
#
# which agrees with the exact GELU to within 5e-4 everywhere (the largest gap is near x = -2.7). Since
# `1 + tanh(u) = 2 * sigmoid(2u)`, this is `x * sigmoid(2u)`, which is what we compute for it.

# %%
#| export nn.activations
def tanh(x) -> Tensor:
    """Hyperbolic tangent as 2 * sigmoid(2x) - 1 (stable at +-1000)."""
    # Hint: one line, reusing sigmoid: tanh(x) = 2 * sigmoid(2x) - 1.
    ### BEGIN SOLUTION
    return sigmoid(as_tensor(x) * 2) * 2 - 1
    ### END SOLUTION


GELU_COEFFICIENT = 0.044715
NORMAL_TAIL_P = 0.2316419  # Abramowitz and Stegun 26.2.17: t = 1 / (1 + p |x|)
NORMAL_TAIL_B = (0.319381530, -0.356563782, 1.781477937, -1.821255978, 1.330274429)


def normal_cdf(x) -> Tensor:
    """Phi(x) = P(Z <= x) for a standard normal Z, within 7.5e-8 (Abramowitz and Stegun 26.2.17)."""
    x = as_tensor(x)
    t = 1 / (x.abs() * NORMAL_TAIL_P + 1)
    polynomial = t * NORMAL_TAIL_B[-1]
    for b in reversed(NORMAL_TAIL_B[:-1]):  # Horner's rule: t (b1 + t (b2 + t (b3 + t (b4 + t b5))))
        polynomial = (polynomial + b) * t
    tail = (x * x * -0.5).exp() * polynomial / math.sqrt(2 * math.pi)  # P(Z > |x|)
    return tail + (x >= 0) * (1 - tail * 2)  # x >= 0: 1 - tail; x < 0: tail


def gelu(x, approximate: str = "none") -> Tensor:
    """GELU, x * Phi(x); approximate="tanh" gives 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = as_tensor(x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}.")
    # Hint: "none" is x * normal_cdf(x). "tanh": u = sqrt(2/pi) * (x + GELU_COEFFICIENT * x**3), then
    # x * sigmoid(2u).
    ### BEGIN SOLUTION
    if approximate == "tanh":
        u = (x + x**3 * GELU_COEFFICIENT) * math.sqrt(2.0 / math.pi)
        return x * sigmoid(u * 2)
    return x * normal_cdf(x)
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
#| export nn.activations
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
# ## Layers are Modules
#
# In PyTorch, `nn.ReLU()`, `nn.Linear(2, 8)` and `nn.Conv2d(3, 32, 3)` are all objects of one base
# class, `nn.Module`, and so is every network built from them. The base class answers the questions
# that every layer and every model gets asked:
#
# - *compute*: calling a module runs its `forward` method, as in `ReLU()(x)`;
# - *which numbers are yours?* `model.parameters()` finds every weight of a network, however deeply
#   its layers are nested, so that an optimizer (module 06) can train them all;
# - *are you training?* `train()` and `eval()` set `.training` on every layer inside, because some
#   layers (Dropout in module 03, BatchNorm in module 09) behave differently while training;
# - *save yourself*: `state_dict()` and `load_state_dict()`.
#
# An activation holds no weights, so for ReLU only the first answer matters. But the activations are
# the first layers of the course, and building the whole base class here, once, makes every layer a
# Module from the start: module 03's `Sequential` keeps its layers in one list of Modules, and
# `model.eval()` reaches every layer, the activations included.
#
# ### Parameter: a Tensor that wants to learn
#
# A Parameter is an ordinary Tensor with two differences: it requires gradients from the moment it is
# made, and `Module` recognises it by its type. Weights are floating point, so integer data becomes
# float32; as with every Tensor, you get float64 only by asking for it (`dtype=np.float64`, or
# `module.double()` on a whole model, which the gradient checks of module 05 use).

# %%
#| export nn.module
#| doc Module, the base class of every layer and model, and Parameter, a Tensor that is a learnable weight
class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable weight (requires_grad=True by default).

    A weight made from a NumPy array is float32 unless `dtype` says otherwise: `np.zeros(n)` stands for
    PyTorch's `torch.zeros(n)`, which is float32, where NumPy's own default is float64. A floating
    Tensor keeps its dtype (`model.double()` makes float64 weights)."""

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        if dtype is None and (not isinstance(data, Tensor) or data.dtype.kind != "f"):
            dtype = DEFAULT_FLOAT  # weights are floats even when given as integers
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


# %% [markdown]
# ### Module: finding every weight
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
#   (Dropout in module 03, BatchNorm in module 09) behave differently while training.
#
# `state_dict()` returns copies of all parameters and buffers as NumPy arrays under their dotted names;
# `load_state_dict()` checks every key and shape *before* writing anything, then copies the numbers in
# place, so optimizers that hold references to the parameters keep working.

# %%
#| export nn.module
def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class Module:
    """Base class of every layer and model: registers parameters, buffers and submodules on assignment.

    >>> class Scale(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = Parameter([2.0])
    ...     def forward(self, x):
    ...         return x * self.weight
    >>> class TwoScales(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.first = Scale()
    ...         self.second = Scale()
    ...     def forward(self, x):
    ...         return self.second(self.first(x))
    >>> [name for name, _ in TwoScales().named_parameters()]
    ['first.weight', 'second.weight']
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

    def __repr__(self) -> str:
        children = list(self._modules.items())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        lines += [f"  ({name}): {_indent(repr(child))}" for name, child in children]
        return "\n".join(lines) + "\n)"


# %% [markdown]
# ## The activation layers
#
# Each activation class is a Module whose `forward` calls one of the functions above, as PyTorch's
# `nn.ReLU` calls `F.relu`. They hold no Parameters. `Softmax` and `LogSoftmax` keep the dimension
# they work along as a plain attribute and show it in their repr through `extra_repr`.

# %%
#| export nn.activations
class Activation(Module):
    """Base of the activation layers: a Module without parameters whose `forward` applies one function."""


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
    """x * Phi(x), as PyTorch's GELU(); GELU(approximate="tanh") is the tanh form."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}.")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


class Softmax(Activation):
    """Probabilities along `dim` (default: the last)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Activation):
    """Log-probabilities along `dim` (default: the last)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return log_softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


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

    x = Tensor(np.random.standard_normal(shape), dtype=np.float32)
    weights = Tensor(np.random.standard_normal((shape[-1], shape[-1])), dtype=np.float32)
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
    from tito.chapter import demo

    demo(profile_activations)

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
    assert np.abs(GELU()(Tensor(x, dtype=np.float64)).data - exact).max() < 1e-6
    assert np.abs(GELU(approximate="tanh")(Tensor(x, dtype=np.float64)).data - exact).max() < 1e-3
    with _strict():
        for approximate in ("none", "tanh"):
            assert np.array_equal(gelu(Tensor([-1000.0, 1000.0]), approximate).data, [0.0, 1000.0])
    print("GELU: within 1e-6 of x * Phi(x) on [-4, 4] (tanh form: 1e-3); 0 and 1000 at the extremes")


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


class _Scale(Module):
    """y = x * weight + bias, elementwise: the smallest layer with weights, for the tests below."""

    def __init__(self, size: int):
        super().__init__()
        self.weight = Parameter(np.random.standard_normal(size))
        self.bias = Parameter(np.zeros(size))

    def forward(self, x):
        return x * self.weight + self.bias


class _TwoScales(Module):
    def __init__(self):
        super().__init__()
        self.hidden = _Scale(3)
        self.act = ReLU()
        self.out = _Scale(3)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def test_unit_parameter():
    p = Parameter(np.ones((2, 3)))
    assert p.requires_grad and p.dtype == np.float32
    assert Parameter([1, 2]).dtype == np.float32, "integer data becomes float32"
    assert Parameter(np.ones(2), dtype=np.float64).dtype == np.float64
    print("Parameter: requires grad, float32 by default (also from integers), float64 on request")


def test_unit_module_registration():
    net = _TwoScales()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"], names
    assert len(list(net.parameters())) == 4 and len(list(net.children())) == 3
    assert [name for name, _ in net.named_modules()] == ["", "hidden", "act", "out"]
    net.register_buffer("steps", np.zeros(1))
    assert [name for name, _ in net.named_buffers()] == ["steps"]
    print("Module: parameters, submodules (the activation too) and buffers are registered on assignment")


def test_unit_modes_and_state_dict():
    a, b = _TwoScales(), _TwoScales()
    a.eval()
    assert not any(m.training for m in a.modules()), "eval() reaches every layer, the activation too"
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
    print("train()/eval() reach every layer; state_dict round trip gives identical outputs; a bad shape names the key")


def test_unit_activation_layers():
    for layer in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax(), LogSoftmax()):
        assert isinstance(layer, Module) and list(layer.parameters()) == []
    assert repr(ReLU()) == "ReLU()" and repr(Softmax(dim=1)) == "Softmax(dim=1)"
    print("the activation classes are Modules without parameters, with PyTorch's reprs")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())

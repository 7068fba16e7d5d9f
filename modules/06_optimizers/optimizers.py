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
# # Module 06: Optimizers
#
# Module 05 gave every parameter a gradient: the direction in which the loss grows fastest. An
# optimizer turns gradients into learning. It walks each parameter a small step against its gradient,
# and repeats that thousands of times. The simplest rule, `p = p - lr * grad`, is stochastic gradient
# descent (SGD); the rules that train real networks add memory to it:
#
# - **Momentum** keeps a running velocity per parameter, so steps that agree add up and steps that
#   zig-zag cancel out.
# - **Adam** keeps running averages of the gradient and of its square, giving each parameter its own
#   step size.
# - **Weight decay** pulls weights towards zero; AdamW applies it the way Adam needs it.
#
# You build the `Optimizer` base class (the parameter list, `zero_grad`, `step`, saving and loading
# state) and three optimizers with PyTorch's names, arguments and update formulas: `SGD`, `Adam` and
# `AdamW`. A model trained with your SGD follows exactly the trajectory PyTorch's would.
#
# **The systems view.** An optimizer's state is memory: momentum costs one extra copy of every
# parameter, Adam two. A step touches each parameter's numbers a handful of times, so its cost grows
# with the parameter count, not the batch size; next to the forward and backward passes it is cheap,
# but only if it is written as a few whole-array operations, in place, in float32.

# %%
#| default_exp optim.optimizer

# %%
#| export
import math

import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## The Optimizer base class
#
# Every optimizer does the same bookkeeping, so it lives in one base class:
#
# - `params`: the list of tensors to train (usually `model.parameters()`). We copy it into a list at
#   once, because `model.parameters()` may be a generator that can be read only once.
# - `zero_grad()`: gradients *accumulate* across `backward()` calls (module 05), so each training step
#   starts by clearing them. Like PyTorch we set `grad = None` rather than filling zeros: nothing to
#   write, and "no gradient" is told apart from "a gradient of zero".
# - `step()`: for each parameter that received a gradient, apply the update rule. A parameter whose
#   `grad` is None (a layer this loss did not reach) is left alone, exactly as PyTorch does. Any other
#   `grad` is a Tensor of the parameter's shape (module 01's `grad` refuses anything else where it is
#   assigned), so `p.grad.data` is always an array the update can use.
# - `lr`: a plain attribute, so a learning-rate schedule (module 07) can change it between steps.
#
# Subclasses write only the update rule, `update(param, grad, state)`, on NumPy arrays: `param` is the
# parameter's own `.data` array, changed **in place**, and `state` is that parameter's dictionary of
# extra arrays (momentum, running averages), made once by `init_state` when the optimizer is created.

# %%
#| export optim.optimizer
#| doc Optimizer, the base class of the optimizers: parameters, zero_grad, step and state_dict
def _parameter_list(params) -> list:
    """The tensors an optimizer will update, checked once so that step() can trust them."""
    params = list(params)
    if not params:
        raise ValueError(
            "The optimizer got an empty parameter list: pass model.parameters() of a model that has "
            "parameters (a generator can be read only once, so do not reuse one)."
        )
    for index, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"Optimizer parameter {index} is a {type(p).__name__}, not a Tensor: pass model.parameters().")
        if not p.requires_grad:
            raise ValueError(
                f"Optimizer parameter {index} (shape {p.shape}) does not require grad: optimizers update "
                "tensors made with requires_grad=True, such as a layer's Parameters."
            )
    return params


class Optimizer:
    """Updates a list of parameters in place from their gradients. Subclasses define `update`.

    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> w.grad = Tensor([0.5, 0.5])
    >>> SGD([w], lr=0.5).step()
    >>> w.data.tolist()
    [0.75, 1.75]
    """

    # The attributes that state_dict() saves besides the per-parameter arrays.
    hyperparameters: tuple = ("lr",)

    def __init__(self, params, lr: float):
        if not lr >= 0:
            raise ValueError(f"Learning rate must be a number >= 0, got {lr!r}.")
        self.params = _parameter_list(params)
        self.lr = float(lr)
        self.state = [self.init_state(p.data) for p in self.params]

    def init_state(self, param: np.ndarray) -> dict:
        """The extra arrays this optimizer keeps for one parameter (none for plain SGD)."""
        return {}

    def zero_grad(self) -> None:
        """Forget every parameter's gradient before the next backward pass."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update, in place, every parameter that has a gradient."""
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self.update(p.data, p.grad.data, state)

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update(param, grad, state).")

    # --- saving and loading ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume: hyperparameters and per-parameter arrays, as NumPy arrays.

        Keys are plain strings ("lr", "0.exp_avg", ...) so the dictionary saves straight into an .npz.
        """
        saved = {name: np.array(getattr(self, name)) for name in self.hyperparameters}
        for index, state in enumerate(self.state):
            for key, value in state.items():
                saved[f"{index}.{key}"] = np.array(value, copy=True)
        return saved

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() saved; a missing, extra or misshapen entry is named in a ValueError."""
        expected = self.state_dict()
        for key in state:
            if key not in expected:
                raise ValueError(
                    f"Optimizer state has an unexpected entry {key!r}: create the {type(self).__name__} with the "
                    "same kind of optimizer, settings (such as momentum) and model as the one that saved it."
                )
        for key, mine in expected.items():
            if key not in state:
                raise ValueError(f"Optimizer state is missing the entry {key!r} that {type(self).__name__} needs.")
            value = np.asarray(state[key])
            if value.shape != mine.shape:
                raise ValueError(f"Optimizer state entry {key!r} has shape {value.shape}, expected {mine.shape}.")
        for name in self.hyperparameters:
            value = np.asarray(state[name])
            setattr(self, name, value.item() if value.ndim == 0 else tuple(value.tolist()))
        for index, arrays in enumerate(self.state):
            for key, array in arrays.items():
                np.copyto(array, state[f"{index}.{key}"])  # in place, keeping float32 float32

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.hyperparameters)
        numbers = sum(p.size for p in self.params)
        return f"{type(self).__name__}({settings}; {len(self.params)} parameters, {numbers:,} numbers)"


# %% [markdown]
# ## SGD, with momentum, Nesterov and weight decay
#
# PyTorch's SGD, for gradient g of parameter p at each step:
#
# ```
# g = g + weight_decay * p                  (L2 regularisation, if weight_decay > 0)
# v = momentum * v + g                      (the velocity; v starts at zero)
# g = g + momentum * v   if nesterov  else  g = v
# p = p - lr * g
# ```
#
# With `momentum=0` that is plain gradient descent. Nesterov momentum looks one step ahead along the
# velocity: the same memory, usually a little better behaved. Because v starts at zero, the first step
# is a plain SGD step (Nesterov's first step is `(1 + momentum)` times one).
#
# **Floats.** `lr * grad` with a Python float keeps a float32 array float32. A NumPy float64 scalar
# (say `np.float64(0.1)`, which `np.cos` returns) would upcast the whole product to float64 in
# NumPy 2, so the optimizer keeps its hyperparameters as Python floats.

# %%
#| export optim.sgd
#| doc SGD, with momentum, Nesterov momentum and weight decay
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay."""

    hyperparameters = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        if momentum < 0:
            raise ValueError(f"SGD momentum must be >= 0, got {momentum}.")
        if weight_decay < 0:
            raise ValueError(f"SGD weight_decay must be >= 0, got {weight_decay}.")
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0: pass momentum=0.9 with nesterov=True.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        super().__init__(params, lr)

    def init_state(self, param):
        return {"momentum_buffer": np.zeros_like(param)} if self.momentum else {}

    def update(self, param, grad, state):
        lr, momentum = float(self.lr), float(self.momentum)
        # Hint: the four lines of the formula above. Add weight decay into a new array (never change
        # `grad`, it belongs to the parameter); update state["momentum_buffer"] and `param` in place.
        ### BEGIN SOLUTION
        if self.weight_decay:
            grad = grad + float(self.weight_decay) * param
        if momentum:
            velocity = state["momentum_buffer"]
            velocity *= momentum
            velocity += grad
            grad = grad + momentum * velocity if self.nesterov else velocity
        param -= lr * grad
        ### END SOLUTION


# %% [markdown]
# ## Adam and AdamW
#
# Adam (Kingma and Ba, 2015) keeps two running averages per parameter: m, of the gradient (momentum),
# and v, of its square (how large this parameter's gradients usually are). Dividing by the square root
# of v gives every parameter a step of about `lr` whatever the scale of its gradient. Both averages
# start at zero, which biases them towards zero for the first steps; dividing by `1 - beta ** t`
# removes that bias. PyTorch's formulas, at step t (counted per parameter, from 1):
#
# ```
# g = g + weight_decay * p                  (Adam: L2 added to the gradient)
# m = beta1 * m + (1 - beta1) * g
# v = beta2 * v + (1 - beta2) * g * g
# p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
# ```
#
# **AdamW** (Loshchilov and Hutter, 2019) notices that L2 added to the gradient is divided by sqrt(v)
# like everything else, so weights with large gradients are barely decayed. It *decouples* the decay:
# `p = p * (1 - lr * weight_decay)` first, then the Adam step on the plain gradient. Same memory, the
# regularisation you meant; its default weight decay is 0.01.

# %%
#| export optim.adam
#| doc Adam and AdamW
class Adam(Optimizer):
    """Adam: per-parameter step sizes from running averages of the gradient and its square."""

    hyperparameters = ("lr", "betas", "eps", "weight_decay")
    decoupled_weight_decay = False  # AdamW sets this

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam betas must each be in [0, 1), got {tuple(betas)}.")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"Adam eps and weight_decay must be >= 0, got eps={eps}, weight_decay={weight_decay}.")
        self.betas = (float(beta1), float(beta2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        super().__init__(params, lr)

    def init_state(self, param):
        return {
            "step": np.zeros((), dtype=np.int64),
            "exp_avg": np.zeros_like(param),
            "exp_avg_sq": np.zeros_like(param),
        }

    def update(self, param, grad, state):
        lr, (beta1, beta2), eps, decay = float(self.lr), self.betas, float(self.eps), float(self.weight_decay)
        state["step"] += 1
        t = int(state["step"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # Hint: decay first (AdamW: scale param; Adam: add to the gradient), then update m and v in
        # place (`*=`, `+=`), then move param by the bias-corrected step. t is this parameter's step.
        ### BEGIN SOLUTION
        if decay and self.decoupled_weight_decay:
            param *= 1.0 - lr * decay
        elif decay:
            grad = grad + decay * param
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * (grad * grad)
        denominator = np.sqrt(v) / math.sqrt(1.0 - beta2**t) + eps
        param -= (lr / (1.0 - beta1**t)) * (m / denominator)
        ### END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay, then the Adam step."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# %% [markdown]
# ## The systems view, measured
#
# Take the MLP of the digits milestone, 784-256-10: 203,530 parameters, 814 KB in float32. The cell
# below builds its parameter shapes, creates each optimizer and measures the memory its state holds
# and the time one step takes on this machine.

# %%
def _mlp_parameters(sizes=(784, 256, 10), seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(Tensor(rng.standard_normal((fan_out, fan_in)) * 0.05, requires_grad=True))
        params.append(Tensor(np.zeros(fan_out), requires_grad=True))
    for p in params:
        p.grad = Tensor(rng.standard_normal(p.shape) * 0.01)
    return params


def measure_optimizers(repeats: int = 20) -> None:
    """Print each optimizer's state memory and its median time per step for the 784-256-10 MLP."""
    import time

    params = _mlp_parameters()
    weights_bytes = sum(p.data.nbytes for p in params)
    print(f"784-256-10 MLP: {sum(p.size for p in params):,} parameters, {weights_bytes / 1e3:,.0f} KB")
    for make in (lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps)):
        optimizer = make(params)
        state_bytes = sum(a.nbytes for state in optimizer.state for a in state.values())
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            optimizer.step()
            times.append(time.perf_counter() - start)
        print(
            f"  {repr(optimizer).split(';')[0]:<62} state {state_bytes / 1e3:>6,.0f} KB "
            f"({state_bytes / weights_bytes:.0f}x the weights), step {1e3 * float(np.median(times)):.2f} ms"
        )
    print(f"  all parameters still float32 after the steps: {all(p.dtype == np.float32 for p in params)}")


if __name__ == "__main__":
    from tito.chapter import demo

    demo(measure_optimizers)

# %% [markdown]
# A step costs well under a millisecond here, while the forward and backward passes of a batch of 128
# through the same network take a few milliseconds: the update is rarely where training time goes.
# Memory is another matter: for a model with a billion parameters, Adam's state is 8 GB of float32
# on top of the 4 GB of weights (and the 4 GB of gradients), which is why large models are trained with
# sharded or 8-bit optimizer state.
#
# Now the float trap in numbers: the same update computed with a NumPy float64 learning rate.

# %%
def show_float_upcast() -> None:
    grad = np.ones(3, dtype=np.float32)
    print(f"Python float 0.1 * float32 grad -> {(0.1 * grad).dtype}")
    print(f"np.float64(0.1) * float32 grad  -> {(np.float64(0.1) * grad).dtype}  (twice the memory traffic)")


if __name__ == "__main__":
    from tito.chapter import demo

    demo(show_float_upcast)

# %% [markdown]
# ## Unit tests
#
# Each test checks the optimizers against steps computed by hand from PyTorch's formulas, and prints
# what it verified. The gradients are set by hand (`p.grad = Tensor(...)`), so these tests need no
# model and no autograd.

# %%
def _trajectory(make_optimizer, grads, start=(1.0, -2.0, 0.5)):
    """Parameter values after each step, for gradients given by hand, in float64."""
    p = Tensor(np.array(start), requires_grad=True, dtype=np.float64)
    optimizer = make_optimizer([p])
    values = []
    for g in grads:
        p.grad = Tensor(np.array(g), dtype=np.float64)
        optimizer.step()
        values.append(p.data.copy())
    return values


def test_unit_sgd():
    p = Tensor([1.0, -2.0], requires_grad=True)
    p.grad = Tensor([0.5, 1.0])
    SGD([p], lr=0.1).step()
    assert np.allclose(p.data, [0.95, -2.1]), "p - lr * grad"
    assert p.dtype == np.float32, "updates stay float32"
    print("SGD: p <- p - lr * grad, in place, float32 kept")


def test_unit_sgd_momentum_and_nesterov():
    grads = [[0.5, 1.0, -0.25], [0.1, -0.4, 0.3]]
    plain = _trajectory(lambda ps: SGD(ps, lr=0.1, momentum=0.9), grads)
    # Step 1: v = g1, p -= 0.1 * g1. Step 2: v = 0.9 * g1 + g2 = [0.55, 0.5, 0.075].
    assert np.allclose(plain[1], [0.95 - 0.055, -2.1 - 0.05, 0.525 - 0.0075])
    nesterov = _trajectory(lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), grads)
    # Step 1: v = g1, step g1 + 0.9 * v = 1.9 * g1.
    assert np.allclose(nesterov[0], [1.0 - 0.095, -2.0 - 0.19, 0.5 + 0.0475])
    decayed = _trajectory(lambda ps: SGD(ps, lr=0.1, weight_decay=0.01), grads[:1])
    assert np.allclose(decayed[0], [1.0 - 0.1 * 0.51, -2.0 - 0.1 * 0.98, 0.5 - 0.1 * -0.245])
    print("SGD: momentum, Nesterov and weight decay match PyTorch's formulas step by step")


def test_unit_adam():
    grads = [[0.5, 1.0, -0.25], [0.1, -0.4, 0.3]]
    values = _trajectory(lambda ps: Adam(ps, lr=0.1), grads)
    # Step 1: bias-corrected m / sqrt(v) = g / |g|, so each parameter moves by lr against sign(g).
    assert np.allclose(values[0], [0.9, -2.1, 0.6], atol=1e-7)
    # Step 2 for the first element: m = 0.9*0.05 + 0.1*0.1, v = 0.999*0.00025 + 0.001*0.01.
    m, v = 0.9 * 0.05 + 0.1 * 0.1, 0.999 * 0.00025 + 0.001 * 0.01
    expected = values[0][0] - 0.1 / (1 - 0.9**2) * m / (math.sqrt(v) / math.sqrt(1 - 0.999**2) + 1e-8)
    assert abs(values[1][0] - expected) < 1e-12
    decoupled = _trajectory(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1), grads[:1])
    assert np.allclose(decoupled[0], [1.0 * 0.99 - 0.1, -2.0 * 0.99 - 0.1, 0.5 * 0.99 + 0.1], atol=1e-7)
    print("Adam: bias correction (first step = lr * sign(grad)), second step by hand; AdamW decays first")


def test_unit_skips_missing_grads():
    a = Tensor([1.0], requires_grad=True)
    b = Tensor([1.0], requires_grad=True)
    a.grad = Tensor([1.0])
    optimizer = Adam([a, b], lr=0.1)
    optimizer.step()
    assert b.data[0] == 1.0 and int(optimizer.state[1]["step"]) == 0, "no grad: no update, no step counted"
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None
    print("step() skips parameters whose grad is None; zero_grad() sets every grad to None")


def test_unit_state_dict_round_trip():
    grads = [[0.5, 1.0, -0.25], [0.1, -0.4, 0.3], [-0.2, 0.2, 0.6]]
    straight = _trajectory(lambda ps: Adam(ps, lr=0.1), grads)[-1]
    p = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True, dtype=np.float64)
    first = Adam([p], lr=0.1)
    for g in grads[:2]:
        p.grad = Tensor(np.array(g), dtype=np.float64)
        first.step()
    saved = first.state_dict()
    resumed = Adam([p], lr=0.5)
    resumed.load_state_dict(saved)
    assert resumed.lr == 0.1 and int(resumed.state[0]["step"]) == 2
    p.grad = Tensor(np.array(grads[2]), dtype=np.float64)
    resumed.step()
    assert np.array_equal(p.data, straight), "resuming from a state_dict continues the same trajectory"
    try:
        SGD([p], lr=0.1, momentum=0.9).load_state_dict(saved)
    except ValueError as error:
        assert "betas" in str(error) or "exp_avg" in str(error)
    else:
        raise AssertionError("loading Adam's state into SGD must fail")
    print("state_dict(): NumPy arrays; a resumed Adam continues exactly; a mismatched state is refused")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())

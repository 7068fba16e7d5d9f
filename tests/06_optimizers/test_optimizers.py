"""Module 06: SGD, Adam and AdamW follow PyTorch's update formulas, in place, in float32."""

import io

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import Linear, ReLU, Sequential
from tinytorch.optim import SGD, Adam, AdamW, Optimizer

pytestmark = pytest.mark.m06

START = [1.0, -2.0, 0.5]
GRADS = [[0.5, 1.0, -0.25], [0.1, -0.4, 0.3], [-0.2, 0.2, 0.6]]

# Parameter values after each of the three steps above, computed with torch.optim 2.13 in float64
# (the same formulas written out in the module's inline tests).
TORCH_TRAJECTORIES = {
    "sgd": (
        lambda ps: SGD(ps, lr=0.1),
        [[0.95, -2.1, 0.525], [0.94, -2.06, 0.495], [0.96, -2.08, 0.435]],
    ),
    "sgd_momentum": (
        lambda ps: SGD(ps, lr=0.1, momentum=0.9),
        [[0.95, -2.1, 0.525], [0.895, -2.15, 0.5175], [0.8655, -2.215, 0.45075]],
    ),
    "sgd_nesterov": (
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        [[0.905, -2.19, 0.5475], [0.8455, -2.195, 0.51075], [0.83895, -2.2735, 0.390675]],
    ),
    "sgd_weight_decay": (
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        [
            [0.949, -2.098, 0.5245],
            [0.892151, -2.144102, 0.5160255],
            [0.860094749, -2.203449698, 0.4478824245],
        ],
    ),
    "adam": (
        lambda ps: Adam(ps, lr=0.1),
        [
            [0.900000002, -2.099999999, 0.599999996],
            [0.819695906385, -2.134560583337, 0.585705523452],
            [0.785260531835, -2.172499761218, 0.526129766886],
        ],
    ),
    "adam_l2": (
        lambda ps: Adam(ps, lr=0.1, betas=(0.8, 0.99), weight_decay=0.1),
        [
            [0.900000001667, -2.09999999875, 0.599999995],
            [0.816187463, -2.102344449201, 0.561894831107],
            [0.769699055903, -2.103318798704, 0.487352586508],
        ],
    ),
    "adamw": (
        lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1),
        [
            [0.890000002, -2.079999999, 0.594999996],
            [0.800795906365, -2.093760583347, 0.574755523492],
            [0.758352572752, -2.110762155395, 0.509432211691],
        ],
    ),
}


def run_steps(make_optimizer, dtype=np.float64, grads=GRADS):
    p = Tensor(np.array(START), requires_grad=True, dtype=dtype)
    optimizer = make_optimizer([p])
    values = []
    for g in grads:
        p.grad = Tensor(np.array(g), dtype=dtype)
        optimizer.step()
        values.append(p.data.copy())
    return p, optimizer, values


@pytest.mark.parametrize("name", sorted(TORCH_TRAJECTORIES))
def test_matches_torch_trajectory_in_float64(name):
    make, expected = TORCH_TRAJECTORIES[name]
    _, _, values = run_steps(make)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", sorted(TORCH_TRAJECTORIES))
def test_float32_parameters_and_state_stay_float32(name):
    make, expected = TORCH_TRAJECTORIES[name]
    p, optimizer, values = run_steps(make, dtype=np.float32)
    assert p.dtype == np.float32
    for state in optimizer.state:
        for key, array in state.items():
            if key != "step":
                assert array.dtype == np.float32, key
    np.testing.assert_allclose(values, expected, rtol=0, atol=2e-6)


def test_numpy_float64_learning_rate_does_not_upcast():
    p = Tensor([1.0, 2.0], requires_grad=True)
    data = p.data
    optimizer = Adam([p], lr=0.1)
    optimizer.lr = np.float64(0.05)  # what a schedule computed with np.cos would assign
    p.grad = Tensor([1.0, -1.0])
    optimizer.step()
    assert p.data is data, "the update is in place: the parameter keeps its array"
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.data, [0.95, 2.05], atol=1e-6)


def test_parameters_without_gradient_are_skipped():
    a = Tensor([1.0, 1.0], requires_grad=True)
    b = Tensor([3.0], requires_grad=True)
    optimizer = Adam([a, b], lr=0.1)
    a.grad = Tensor([1.0, -1.0])
    optimizer.step()
    assert b.data.tolist() == [3.0]
    assert int(optimizer.state[0]["step"]) == 1 and int(optimizer.state[1]["step"]) == 0
    # b's first real step later is a first step for Adam: lr * sign(grad)
    b.grad = Tensor([2.0])
    a.grad = None
    optimizer.step()
    np.testing.assert_allclose(b.data, [2.9], atol=1e-6)


def test_a_numpy_gradient_is_refused_where_it_is_assigned_not_inside_step():
    p = Tensor([1.0, 2.0], requires_grad=True)
    optimizer = SGD([p], lr=0.5, momentum=0.9)
    with pytest.raises(TypeError, match=r"grad must be a Tensor.*ndarray.*Tensor\(array\)"):
        p.grad = np.array([0.5, 0.5])
    optimizer.step()  # the refused array never reached the parameter, so there is nothing to apply
    assert p.data.tolist() == [1.0, 2.0]
    p.grad = Tensor(np.array([0.5, 0.5]))
    optimizer.step()
    assert p.data.tolist() == [0.75, 1.75]


def test_zero_grad_sets_every_gradient_to_none():
    params = [Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)]
    for p in params:
        p.grad = Tensor([5.0])
    SGD(params, lr=0.1).zero_grad()
    assert [p.grad for p in params] == [None, None]


def test_parameters_from_a_generator_are_kept():
    params = (Tensor([float(i)], requires_grad=True) for i in range(3))
    optimizer = SGD(params, lr=1.0)
    assert len(optimizer.params) == 3
    for p in optimizer.params:
        p.grad = Tensor([1.0])
    optimizer.step()
    assert [p.data[0] for p in optimizer.params] == [-1.0, 0.0, 1.0]


def test_state_dict_is_numpy_and_survives_npz():
    _, optimizer, _ = run_steps(TORCH_TRAJECTORIES["adam"][0], grads=GRADS[:2])
    state = optimizer.state_dict()
    assert all(isinstance(value, np.ndarray) for value in state.values())
    assert set(state) == {"lr", "betas", "eps", "weight_decay", "0.step", "0.exp_avg", "0.exp_avg_sq"}
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        restored = {key: loaded[key] for key in loaded.files}
    assert restored["betas"].tolist() == [0.9, 0.999] and int(restored["0.step"]) == 2


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_l2", "adamw"])
def test_resuming_from_state_dict_continues_the_same_trajectory(name):
    make, expected = TORCH_TRAJECTORIES[name]
    p, optimizer, _ = run_steps(make, grads=GRADS[:2])
    saved = optimizer.state_dict()
    fresh_param = Tensor(p.data.copy(), requires_grad=True, dtype=np.float64)
    fresh = make([fresh_param])
    fresh.lr = 123.0
    fresh.load_state_dict(saved)
    assert fresh.lr == 0.1, "hyperparameters come back too"
    fresh_param.grad = Tensor(np.array(GRADS[2]), dtype=np.float64)
    fresh.step()
    np.testing.assert_allclose(fresh_param.data, expected[2], rtol=0, atol=1e-9)


def test_state_dict_is_a_copy():
    _, optimizer, _ = run_steps(TORCH_TRAJECTORIES["sgd_momentum"][0], grads=GRADS[:1])
    state = optimizer.state_dict()
    state["0.momentum_buffer"][...] = 99.0
    assert optimizer.state[0]["momentum_buffer"].tolist() == GRADS[0]


def test_load_state_dict_names_what_is_wrong():
    p = Tensor(np.zeros(3), requires_grad=True)
    optimizer = SGD([p], lr=0.1, momentum=0.9)
    good = optimizer.state_dict()
    with pytest.raises(ValueError, match="'0.momentum_buffer' has shape \\(2,\\), expected \\(3,\\)"):
        optimizer.load_state_dict({**good, "0.momentum_buffer": np.zeros(2)})
    with pytest.raises(ValueError, match="missing the entry 'nesterov'"):
        optimizer.load_state_dict({k: v for k, v in good.items() if k != "nesterov"})
    with pytest.raises(ValueError, match="unexpected entry '1.momentum_buffer'"):
        optimizer.load_state_dict({**good, "1.momentum_buffer": np.zeros(3)})
    assert optimizer.lr == 0.1, "a refused load changes nothing"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda ps: SGD([], lr=0.1), "empty parameter list"),
        (lambda ps: SGD([Tensor([1.0])], lr=0.1), "does not require grad"),
        (lambda ps: SGD([np.zeros(3)], lr=0.1), "not a Tensor"),
        (lambda ps: SGD(ps, lr=-1.0), "Learning rate"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum needs momentum > 0"),
        (lambda ps: Adam(ps, betas=(0.9, 1.0)), "betas"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, message):
    params = [Tensor([1.0], requires_grad=True)]
    with pytest.raises((ValueError, TypeError), match=message):
        make(params)


def test_nan_learning_rate_is_refused():
    with pytest.raises(ValueError, match="Learning rate"):
        Adam([Tensor([1.0], requires_grad=True)], lr=float("nan"))


def _mlp():
    np.random.seed(0)
    return Sequential(Linear(4, 8), ReLU(), Linear(8, 8), ReLU(), Linear(8, 3))


def _mlp_loss(model):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((16, 4)))
    target = Tensor(rng.standard_normal((16, 3)))
    return ((model(x) - target) ** 2).mean()


def test_sgd_step_moves_every_mlp_parameter_by_minus_lr_times_grad():
    model = _mlp()
    params = list(model.parameters())
    assert len(params) == 6
    before = [p.data.copy() for p in params]
    optimizer = SGD(model.parameters(), lr=0.1)
    _mlp_loss(model).backward()
    assert all(p.grad is not None for p in params), "every parameter received a gradient"
    optimizer.step()
    for p, old in zip(params, before):
        assert not np.array_equal(p.data, old), "every parameter changed"
        np.testing.assert_allclose(p.data, old - 0.1 * p.grad.data, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: Adam(ps, lr=1e-2),
        lambda ps: AdamW(ps, lr=1e-2),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    ],
)
def test_every_mlp_parameter_changes_and_the_loss_falls(make):
    model = _mlp()
    params = list(model.parameters())
    before = [p.data.copy() for p in params]
    optimizer = make(model.parameters())
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        loss = _mlp_loss(model)
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
        if _ == 0:
            assert all(not np.array_equal(p.data, old) for p, old in zip(params, before))
    assert _mlp_loss(model).item() < 0.8 * first


def test_adam_finds_the_minimum_of_a_quadratic():
    target = np.array([3.0, -1.0, 0.5], dtype=np.float32)
    w = Tensor(np.zeros(3), requires_grad=True)
    optimizer = Adam([w], lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        ((w - Tensor(target)) ** 2).sum().backward()
        optimizer.step()
    np.testing.assert_allclose(w.data, target, atol=1e-3)


def test_subclass_only_writes_update():
    class SignSGD(Optimizer):
        def update(self, param, grad, state):
            param -= self.lr * np.sign(grad)

    p = Tensor([1.0, 1.0], requires_grad=True)
    p.grad = Tensor([3.0, -0.1])
    SignSGD([p], lr=0.5).step()
    assert p.data.tolist() == [0.5, 1.5]

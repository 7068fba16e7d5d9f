"""Module 05: the backward engine (graph walk, accumulation, freeing, grad mode) and whole-model gradients."""

import math
import re

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor, is_grad_enabled, manual_seed, no_grad
from tinytorch.autograd import Function, GradcheckError, gradcheck
from tinytorch.autograd.engine import topological_order
from tinytorch.autograd.function import unbroadcast
from tinytorch.nn import BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Linear, Module, MSELoss, ReLU, Sequential, Tanh
from tinytorch.nn.functional import gelu, log_softmax, sigmoid, softmax, softplus, tanh

pytestmark = pytest.mark.m05


def leaf(values, dtype=np.float64):
    return Tensor(values, requires_grad=True, dtype=dtype)


def strict():
    return np.errstate(over="raise", invalid="raise", divide="raise")


# --- how Tensor gets gradients ------------------------------------------------------------------


def test_importing_tinytorch_fills_autograds_hook_in_tensor_py():
    assert tinytorch.Tensor is Tensor and tinytorch.tensor.AUTOGRAD.enabled
    x = leaf([1.0])
    assert (x * 2)._grad_fn is not None


# --- graph shape ----------------------------------------------------------------------------------


def test_diamond_graph_gives_the_exact_gradient():
    x = leaf([1.5, -2.0, 3.0])
    y = x * x + x * x  # two paths into x; dy/dx = 4x, each path counted once
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, -8.0, 12.0])


def test_a_tensor_used_many_times_sums_every_path():
    x = leaf([2.0])
    a = x * 3
    y = a * a + a + x  # dy/dx = (2a + 1) * 3 + 1 with a = 6
    y.backward()
    assert x.grad.data.tolist() == [40.0]


def test_a_chain_of_5000_operations_runs_backward():
    x = leaf([1.0])
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert math.isclose(x.grad.item(), 1.0001**5000, rel_tol=1e-9)


def test_topological_order_visits_each_tensor_once_after_its_inputs():
    x = leaf([1.0])
    a = x * 2
    b = a + x
    c = a * b
    order = topological_order(c)
    assert len(order) == len({id(t) for t in order}) == 4
    position = {id(t): i for i, t in enumerate(order)}
    assert position[id(x)] < position[id(a)] < position[id(b)] < position[id(c)]


# --- accumulation, leaves, retain_graph -----------------------------------------------------------


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3 + 2, 3 + 4])


def test_gradient_accumulation_over_micro_batches_equals_the_full_batch():
    manual_seed(0)
    model = Linear(3, 2).double()
    data = np.random.default_rng(0).standard_normal((8, 3))
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    loss_fn = CrossEntropyLoss(reduction="sum")
    loss_fn(model(Tensor(data, dtype=np.float64)), labels).backward()
    full = [p.grad.data.copy() for p in model.parameters()]
    model.zero_grad()
    for start in (0, 4):
        chunk = slice(start, start + 4)
        loss_fn(model(Tensor(data[chunk], dtype=np.float64)), labels[chunk]).backward()
    for p, expected in zip(model.parameters(), full):
        np.testing.assert_allclose(p.grad.data, expected, rtol=1e-12)


def test_only_leaves_keep_gradients():
    x = leaf([1.0, 2.0])
    hidden = x * 2
    hidden.sum().backward()
    assert hidden.grad is None and x.grad is not None


def test_leaf_gradients_have_the_leaf_dtype_and_shape():
    w = Tensor(np.ones((3, 1)), requires_grad=True, dtype=np.float32)
    for _ in range(2):
        (w * Tensor(np.ones((2, 3, 4)), dtype=np.float64)).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.shape == (3, 1)
    np.testing.assert_array_equal(w.grad.data, np.full((3, 1), 16.0))


def test_second_backward_needs_retain_graph():
    x = leaf([3.0])
    y = (x * x).exp()
    y.backward(retain_graph=True)
    first = x.grad.item()
    y.backward()
    assert math.isclose(x.grad.item(), 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_backward_frees_saved_arrays():
    x = leaf(np.ones(1000))
    y = x * x
    node = y._grad_fn
    y.sum().backward()
    assert node.saved == () and node.freed


def test_backward_errors_say_what_to_do():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        Tensor([1.0]).backward()
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*\.sum\(\)"):
        (leaf([1.0, 2.0]) * 2).backward()
    with pytest.raises(ValueError, match=r"needs shape \(2,\)"):
        (leaf([1.0, 2.0]) * 2).backward(np.ones(3))


def test_backward_with_an_explicit_gradient():
    x = leaf([1.0, 2.0])
    (x * x).backward(Tensor([10.0, 100.0], dtype=np.float64))
    np.testing.assert_array_equal(x.grad.data, [20.0, 400.0])


# --- what does not carry gradients ----------------------------------------------------------------


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf([1.0])
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
    assert is_grad_enabled()
    assert not y.requires_grad and y._grad_fn is None
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            _ = 1 / 0
    assert is_grad_enabled(), "the mode comes back even after an exception"


def test_no_grad_as_a_decorator():
    @no_grad()
    def predict(t):
        return t * 3

    assert predict(leaf([1.0]))._grad_fn is None and is_grad_enabled()


def test_detach_and_comparisons_cut_the_graph():
    x = leaf([1.0, -1.0])
    assert x.detach()._grad_fn is None and not x.detach().requires_grad
    assert not (x > 0).requires_grad
    y = x * (x > 0)  # the mask is a constant
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0])


# --- unbroadcasting and special rules -------------------------------------------------------------


@pytest.mark.parametrize(
    "grad_shape, shape", [((4, 3), (3,)), ((4, 3), (4, 1)), ((2, 4, 3), (1, 3)), ((2, 3), ()), ((5,), (5,))]
)
def test_unbroadcast_sums_to_the_input_shape(grad_shape, shape):
    grad = np.arange(np.prod(grad_shape), dtype=np.float64).reshape(grad_shape)
    result = unbroadcast(grad, shape)
    assert result.shape == shape
    assert result.sum() == grad.sum()


def test_bias_gradient_sums_over_the_batch():
    w = leaf(np.ones((4, 3)))
    b = leaf(np.zeros(3))
    ((w + b) * leaf(np.arange(12.0).reshape(4, 3))).sum().backward()
    np.testing.assert_array_equal(b.grad.data, np.arange(12.0).reshape(4, 3).sum(axis=0))


def test_max_shares_the_gradient_between_ties():
    x = leaf([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5, 0.0])


def test_repeated_indices_add_their_gradients():
    x = leaf([10.0, 20.0, 30.0])
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


# --- Function: extending the engine ---------------------------------------------------------------


class Cube(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return a**3

    def backward(self, grad):
        (a,) = self.saved
        return (grad * 3 * a**2,)


class WrongCube(Cube):
    def backward(self, grad):
        (a,) = self.saved
        return (grad * 2 * a**2,)


class ScaledAdd(Function):
    """out = a + scale * b; backward returns broadcast-shaped gradients, the engine un-broadcasts."""

    def forward(self, a, b, scale=1.0):
        self.save_for_backward(scale)
        return a + scale * b

    def backward(self, grad):
        (scale,) = self.saved
        return grad, grad * scale


def test_a_custom_function_passes_gradcheck():
    x = leaf(np.random.default_rng(0).standard_normal((2, 3)))
    assert gradcheck(lambda t: Cube.apply(t), [x])
    a, b = leaf(np.ones((4, 3))), leaf(np.ones(3))
    assert gradcheck(lambda a, b: ScaledAdd.apply(a, b, scale=2.5), [a, b])
    a.grad = b.grad = None
    ScaledAdd.apply(a, b, scale=2.5).sum().backward()
    assert b.grad.shape == (3,) and np.all(b.grad.data == 2.5 * 4)


def test_gradcheck_names_the_input_index_and_both_values():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(GradcheckError) as error:
        gradcheck(lambda t: WrongCube.apply(t), [x])
    message = str(error.value)
    assert "input 0" in message and "index (0, 0)" in message
    expected, received = (float(v) for v in re.findall(r"(?:expected|received) (-?[\d.e+-]+)", message))
    assert math.isclose(expected / received, 3 / 2, rel_tol=1e-3), "the derivative 3a^2 against the wrong 2a^2"


def test_gradcheck_refuses_float32_inputs():
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, [Tensor([1.0], requires_grad=True)])


def test_function_does_not_record_when_no_input_requires_grad():
    y = Cube.apply(Tensor([2.0]))
    assert y._grad_fn is None and y.data.tolist() == [8.0]


# --- stability of gradients at +-1000 -------------------------------------------------------------


def test_activation_gradients_are_exact_at_0_and_finite_at_plus_minus_1000():
    x = leaf([0.0, 1000.0, -1000.0], dtype=np.float32)
    expected = {
        sigmoid: [0.25, 0.0, 0.0],
        tanh: [1.0, 0.0, 0.0],
        softplus: [0.5, 1.0, 0.0],
        gelu: [0.5, 1.0, 0.0],
    }
    for function, grad in expected.items():
        x.grad = None
        with strict():
            function(x).sum().backward()
        np.testing.assert_allclose(x.grad.data, grad, atol=1e-7, err_msg=function.__name__)


def test_softmax_and_cross_entropy_gradients_at_plus_minus_1000():
    logits = leaf([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=np.float32)
    with strict():
        CrossEntropyLoss(reduction="sum")(logits, [1, 0]).backward()
        np.testing.assert_allclose(logits.grad.data, [[1.0, -1.0, 0.0], [-1.0, 0.5, 0.5]], atol=1e-7)
        logits.grad = None
        (softmax(logits) * Tensor([[1.0, 2.0, 3.0]])).sum().backward()
        log_softmax(logits).sum().backward()
    assert np.all(np.isfinite(logits.grad.data))


def test_bce_with_logits_gradient_is_sigmoid_minus_target_even_at_1000():
    x = leaf([1000.0, -1000.0, 0.0, 2.0])
    t = np.array([0.0, 0.0, 1.0, 1.0])
    with strict():
        BCEWithLogitsLoss(reduction="sum")(x, t).backward()
    np.testing.assert_allclose(x.grad.data, 0.5 * (1 + np.tanh(x.data / 2)) - t, atol=1e-15)


def test_label_smoothing_gradient_is_softmax_minus_smoothed_target():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    x = leaf(logits)
    CrossEntropyLoss(label_smoothing=0.3, reduction="sum")(x, [0, 2]).backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    q = np.eye(3)[[0, 2]] * 0.7 + 0.1
    np.testing.assert_allclose(x.grad.data, p - q, rtol=1e-12)


# --- whole models ---------------------------------------------------------------------------------


class MLP(Module):
    def __init__(self):
        super().__init__()
        self.hidden = Linear(4, 16)
        self.body = Sequential(ReLU(), Linear(16, 8), Dropout(0.2), ReLU())
        self.out = Linear(8, 3)

    def forward(self, x):
        return self.out(self.body(self.hidden(x)))


def test_every_parameter_of_an_mlp_gets_a_gradient_and_an_sgd_step_changes_it():
    manual_seed(0)
    model = MLP()
    x = Tensor(np.random.default_rng(0).standard_normal((32, 4)))
    labels = np.random.default_rng(1).integers(0, 3, 32)
    loss = CrossEntropyLoss()(model(x), labels)
    loss.backward()
    params = list(model.parameters())
    assert len(params) == 6
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32, name
        assert np.any(p.grad.data != 0), name
    before = [p.data.copy() for p in params]
    for p in params:  # a manual SGD step (optimizers are module 06)
        p.data -= 0.1 * p.grad.data
    for (name, p), old in zip(model.named_parameters(), before):
        assert not np.array_equal(p.data, old), name


def test_an_mlp_in_float64_passes_gradcheck_for_every_parameter():
    manual_seed(1)
    model = Sequential(Linear(3, 5), ReLU(), Linear(5, 2)).double()
    x = Tensor(np.random.default_rng(2).standard_normal((4, 3)), dtype=np.float64)
    labels = np.array([0, 1, 1, 0])
    assert gradcheck(lambda *params: CrossEntropyLoss()(model(x), labels), list(model.parameters()))


def test_dropout_passes_gradient_only_through_kept_elements():
    manual_seed(3)
    x = leaf(np.ones((20, 20)), dtype=np.float32)
    out = Dropout(0.5)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, out.data)  # 2 where kept, 0 where dropped


def test_manual_sgd_learns_xor():
    manual_seed(0)
    inputs = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    targets = np.array([[0.0], [1.0], [1.0], [0.0]])
    model = Sequential(Linear(2, 8), Tanh(), Linear(8, 1))
    loss_fn = MSELoss()
    for _ in range(300):
        model.zero_grad()
        loss = loss_fn(model(Tensor(inputs)), targets)
        loss.backward()
        for p in model.parameters():
            p.data -= 0.2 * p.grad.data
    assert loss.item() < 0.02
    predictions = (model(Tensor(inputs)).data > 0.5).astype(float)
    np.testing.assert_array_equal(predictions, targets)


def test_matmul_skips_the_gradient_no_input_needs():
    """A first layer's input (images) needs no gradient, so MatMul must not compute dL/d(input)."""
    images = Tensor(np.ones((4, 3)))
    weight = Tensor(np.ones((3, 2)), requires_grad=True)
    out = images @ weight
    assert out._grad_fn.needs_input_grad == (False, True)
    grad_images, grad_weight = out._grad_fn.backward(np.ones((4, 2), dtype=np.float32))
    assert grad_images is None
    assert np.array_equal(grad_weight, np.full((3, 2), 4.0))

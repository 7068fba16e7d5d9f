"""Module 09: pooling values, BatchNorm2d's statistics and modes, and SimpleCNN training end to end."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.models import SimpleCNN
from tinytorch.nn import AvgPool2d, BatchNorm2d, Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU, Sequential
from tinytorch.nn.counting import conv_flops, count_parameters, receptive_field
from tinytorch.optim import SGD

pytestmark = pytest.mark.m09

GRID = np.array(
    [
        [1, 2, 5, 0],
        [3, 4, 1, 1],
        [0, 0, 7, 7],
        [0, 1, 7, 7],
    ],
    dtype=np.float32,
).reshape(1, 1, 4, 4)


def test_max_and_average_pooling_values():
    assert MaxPool2d(2)(Tensor(GRID)).data[0, 0].tolist() == [[4, 5], [1, 7]]
    assert AvgPool2d(2)(Tensor(GRID)).data[0, 0].tolist() == [[2.5, 1.75], [0.25, 7.0]]
    assert MaxPool2d(3, stride=1)(Tensor(GRID)).data[0, 0].tolist() == [[7, 7], [7, 7]]
    assert MaxPool2d(2, stride=1)(Tensor(GRID)).data[0, 0].tolist() == [[4, 5, 5], [4, 7, 7], [1, 7, 7]]


def test_padding_counts_as_minus_infinity_for_max_and_zero_for_average():
    x = Tensor(-np.ones((1, 1, 2, 2), dtype=np.float32))
    assert MaxPool2d(2, stride=1, padding=1)(x).data[0, 0].tolist() == [[-1] * 3] * 3
    assert AvgPool2d(2, stride=1, padding=1)(x).data[0, 0].tolist() == [
        [-0.25, -0.5, -0.25],
        [-0.5, -1, -0.5],
        [-0.25, -0.5, -0.25],
    ]


def test_max_pool_ties_give_the_gradient_to_the_first_maximum_once():
    x = Tensor(GRID.copy(), requires_grad=True)
    MaxPool2d(2)(x).sum().backward()
    expected = np.zeros((4, 4))
    expected[1, 1] = expected[0, 2] = expected[3, 1] = expected[2, 2] = 1  # [2:, 2:] is all 7s: only the first wins
    np.testing.assert_array_equal(x.grad.data[0, 0], expected)


def test_overlapping_windows_add_their_gradients():
    x = Tensor(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3), requires_grad=True)
    MaxPool2d(2, stride=1)(x).sum().backward()
    assert x.grad.data[0, 0].tolist() == [[0, 0, 0], [0, 1, 1], [0, 1, 1]]
    x.grad = None
    AvgPool2d(2, stride=1)(x).sum().backward()
    assert x.grad.data[0, 0].tolist() == [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]


def test_batchnorm_training_normalises_and_tracks_running_statistics():
    rng = np.random.default_rng(0)
    bn = BatchNorm2d(4, momentum=0.2)
    bn.weight.data[...] = [1, 2, 3, 4]
    bn.bias.data[...] = [0, 1, 0, -1]
    x = rng.standard_normal((8, 4, 5, 5)).astype(np.float32) * 3 + 5
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), [0, 1, 0, -1], atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), [1, 2, 3, 4], rtol=1e-3)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)  # PyTorch tracks the unbiased variance
    np.testing.assert_allclose(bn.running_mean.data, 0.2 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, 0.8 + 0.2 * var, rtol=1e-5)
    assert bn.running_mean.dtype == np.float32 and y.dtype == np.float32


def test_batchnorm_eval_uses_running_statistics():
    bn = BatchNorm2d(2)
    bn.running_mean.data[...] = [1.0, -2.0]
    bn.running_var.data[...] = [4.0, 0.25]
    bn.eval()
    x = np.random.default_rng(1).standard_normal((3, 2, 2, 2)).astype(np.float32)
    y = bn(Tensor(x)).data
    expected = (x - np.array([1.0, -2.0]).reshape(1, 2, 1, 1)) / np.sqrt(
        np.array([4.0, 0.25]).reshape(1, 2, 1, 1) + 1e-5
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn(Tensor(x[:1])).data, y[:1], rtol=1e-6)  # one image alone: same answer
    assert bn.running_mean.data.tolist() == [1.0, -2.0], "eval mode never updates the statistics"


def test_batchnorm_buffers_are_saved_and_loaded():
    bn = BatchNorm2d(3)
    bn(Tensor(np.random.default_rng(2).standard_normal((4, 3, 2, 2))))
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    fresh = BatchNorm2d(3)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.running_var.data, bn.running_var.data)
    assert fresh.num_batches_tracked.item() == 1 and fresh.num_batches_tracked.dtype == np.int64
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"], "running stats are not trained"


def test_simple_cnn_architecture():
    model = SimpleCNN()
    convs = [model.conv1, model.conv2]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (3, 32, (3, 3), (1, 1)),
        (32, 64, (3, 3), (1, 1)),
    ]
    assert (model.fc.in_features, model.fc.out_features) == (4096, 10)
    assert count_parameters(model) == (3 * 9 * 32 + 32) + (32 * 9 * 64 + 64) + (4096 * 10 + 10)
    assert SimpleCNN(num_classes=5, in_channels=1)(Tensor(np.zeros((2, 1, 32, 32)), dtype=np.float32)).shape == (2, 5)
    with pytest.raises(ValueError, match="32, 32"):
        model(Tensor(np.zeros((2, 3, 28, 28))))


def test_simple_cnn_pipeline_on_a_cifar_shaped_batch():
    rng = np.random.default_rng(3)
    model = SimpleCNN()
    images = Tensor(rng.standard_normal((16, 3, 32, 32)), dtype=np.float32)
    labels = rng.integers(0, 10, 16)
    logits = model(images)
    assert logits.shape == (16, 10) and logits.dtype == np.float32 and np.isfinite(logits.data).all()
    loss = CrossEntropyLoss()(logits, Tensor(labels))
    loss.backward()
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32, name
        assert np.abs(p.grad.data).sum() > 0, f"{name} received a zero gradient"
    SGD(model.parameters(), lr=0.1).step()
    for name, p in model.named_parameters():
        assert not np.array_equal(p.data, before[name]), f"{name} did not change after one SGD step"


def test_a_cnn_with_batchnorm_learns_a_small_batch():
    """A few SGD steps on one batch drive the loss down: the whole stack learns together."""
    rng = np.random.default_rng(4)
    model = Sequential(
        Conv2d(1, 8, 3, padding=1),
        BatchNorm2d(8),
        ReLU(),
        MaxPool2d(2),
        Conv2d(8, 8, 3, padding=1),
        BatchNorm2d(8),
        ReLU(),
        AvgPool2d(2),
        Flatten(),
        Linear(8 * 2 * 2, 3),
    )
    x = Tensor(rng.standard_normal((12, 1, 8, 8)), dtype=np.float32)
    y = Tensor(np.arange(12) % 3)
    optimizer, loss_fn = SGD(model.parameters(), lr=0.1, momentum=0.9), CrossEntropyLoss()
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_receptive_field_and_flops():
    assert [receptive_field([(3, 1)] * n) for n in (1, 2, 3, 4)] == [3, 5, 7, 9]
    assert receptive_field([(3, 1), (2, 2), (3, 1)]) == 8
    model = SimpleCNN()
    assert receptive_field([model.conv1, model.pool1, model.conv2, model.pool2]) == 10
    assert receptive_field([Conv2d(1, 1, (5, 3))], axis=0) == 5 and receptive_field([Conv2d(1, 1, (5, 3))], axis=1) == 3
    assert conv_flops(model.conv1, 32) == 2 * 32 * 32 * 32 * 3 * 9
    assert conv_flops(Conv2d(6, 16, 5), (14, 14), batch=64) == 2 * 64 * 16 * 10 * 10 * 6 * 25


def test_max_pool_without_gradients_gives_the_same_maxima():
    from tinytorch import no_grad

    x = Tensor(np.random.default_rng(5).standard_normal((2, 3, 6, 6)), requires_grad=True)
    pool = MaxPool2d(3, stride=2, padding=1)
    with no_grad():
        evaluated = pool(x)
    assert evaluated._grad_fn is None
    np.testing.assert_array_equal(evaluated.data, pool(x).data)
    np.testing.assert_array_equal(pool(Tensor(x.data)).data, evaluated.data)

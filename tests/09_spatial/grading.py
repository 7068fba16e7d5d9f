"""Module 09 (spatial)'s graded checks: the loop definitions, each layer's output and gradients, and a
whole SimpleCNN, through the module's public names only (its internals may be written any way).

Layers run in float64 (`.double()`) with weights set from the run's generator; gradients come from
(output * w).sum().backward() with a random w. Graded on the reference modules 01-08.
"""

import numpy as np

from tito.grading.declare import check


def _sizes(rng):
    """(stride, padding, kernel) with a kernel that fits."""
    return int(rng.integers(1, 3)), int(rng.integers(0, 2)), int(rng.integers(1, 4))


def _input(rng, shape, grad=True):
    from tinytorch import Tensor

    return Tensor(rng.standard_normal(shape), requires_grad=grad, dtype=np.float64)


def _backward(rng, output):
    from tinytorch import Tensor

    (output * Tensor(rng.standard_normal(output.shape), dtype=np.float64)).sum().backward()


@check()
def output_size(rng):
    "conv_output_size for random sizes, kernels, strides and paddings."
    from tinytorch.nn.kernels import conv_output_size

    cases = [
        (int(rng.integers(5, 40)), int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3)))
        for _ in range(12)
    ]
    return {"sizes": np.array([conv_output_size(*case) for case in cases])}


@check(weight=2)
def conv_loops(rng):
    "conv2d_loops, the definition, with and without bias, stride and padding."
    from tinytorch.nn.kernels import conv2d_loops

    stride, padding, kernel = _sizes(rng)
    x = rng.standard_normal((2, 2, int(rng.integers(4, 7)), int(rng.integers(4, 7))))
    weight, bias = rng.standard_normal((3, 2, kernel, kernel)), rng.standard_normal(3)
    return {
        "with_bias": conv2d_loops(x, weight, bias, stride=stride, padding=padding),
        "without_bias": conv2d_loops(x, weight, None, stride=stride, padding=padding),
    }


@check()
def max_pool_loops(rng):
    "maxpool2d_loops, the definition, with stride and padding."
    from tinytorch.nn.kernels import maxpool2d_loops

    kernel = int(rng.integers(2, 4))
    x = rng.standard_normal((2, 2, int(rng.integers(5, 8)), int(rng.integers(5, 8))))
    return {
        "out": maxpool2d_loops(x, kernel, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, kernel // 2 + 1)))
    }


def _conv(rng, channels, out_channels, kernel, stride, padding, bias=True):
    from tinytorch.nn import Conv2d

    layer = Conv2d(channels, out_channels, kernel, stride=stride, padding=padding, bias=bias).double()
    layer.weight.data[...] = rng.standard_normal(layer.weight.shape) / kernel
    if bias:
        layer.bias.data[...] = rng.standard_normal(out_channels)
    return layer


@check(weight=2)
def conv_forward(rng):
    "Conv2d's output, with and without bias, stride and padding."
    stride, padding, kernel = _sizes(rng)
    x = _input(rng, (2, 3, int(rng.integers(5, 9)), int(rng.integers(5, 9))), grad=False)
    return {
        "with_bias": _conv(rng, 3, 4, kernel, stride, padding)(x).data,
        "without_bias": _conv(rng, 3, 4, kernel, stride, padding, bias=False)(x).data,
    }


@check(weight=2)
def conv_backward(rng):
    "Conv2d's gradients for the input, the weight and the bias."
    stride, padding, kernel = _sizes(rng)
    x = _input(rng, (2, 3, int(rng.integers(5, 9)), int(rng.integers(5, 9))))
    layer = _conv(rng, 3, 4, kernel, stride, padding)
    _backward(rng, layer(x))
    first = _conv(rng, 3, 2, kernel, stride, padding)  # an input that needs no gradient, like images
    _backward(rng, first(_input(rng, x.shape, grad=False)))
    return {
        "dx": x.grad.data,
        "dweight": layer.weight.grad.data,
        "dbias": layer.bias.grad.data,
        "first_dweight": first.weight.grad.data,
    }


@check(weight=2)
def conv_groups_and_dilation(rng):
    "Conv2d with groups and dilation: output and the input, weight and bias gradients."
    from tinytorch.nn import Conv2d

    groups, dilation = int(rng.choice([2, 4])), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    layer = Conv2d(4, 8, 3, stride=int(rng.integers(1, 3)), padding=1, dilation=dilation, groups=groups).double()
    layer.weight.data[...] = rng.standard_normal(layer.weight.shape) / 3
    layer.bias.data[...] = rng.standard_normal(8)
    x = _input(rng, (2, 4, int(rng.integers(6, 9)), int(rng.integers(6, 9))))
    out = layer(x)
    _backward(rng, out)
    return {"out": out.data, "dx": x.grad.data, "dweight": layer.weight.grad.data, "dbias": layer.bias.grad.data}


def _pool(rng, kind):
    from tinytorch import nn as spatial

    kernel = int(rng.integers(2, 4))
    pool = getattr(spatial, kind)(kernel, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, kernel // 2 + 1)))
    x = _input(rng, (2, 3, int(rng.integers(5, 9)), int(rng.integers(5, 9))))
    out = pool(x)
    _backward(rng, out)
    return {"out": out.data, "dx": x.grad.data}


@check()
def max_pool(rng):
    "MaxPool2d's output and its gradient (to each window's largest value)."
    return _pool(rng, "MaxPool2d")


@check()
def avg_pool(rng):
    "AvgPool2d's output and its gradient."
    return _pool(rng, "AvgPool2d")


def _batch_norm(rng, channels):
    from tinytorch.nn import BatchNorm2d

    layer = BatchNorm2d(channels, momentum=float(rng.uniform(0.05, 0.5))).double()
    layer.weight.data[...] = rng.uniform(0.5, 2, size=channels)
    layer.bias.data[...] = rng.standard_normal(channels)
    return layer


@check(weight=2)
def batch_norm_training(rng):
    "BatchNorm2d in training: batch statistics, running statistics, and every gradient."
    layer = _batch_norm(rng, 3)
    x = _input(rng, (4, 3, int(rng.integers(2, 5)), int(rng.integers(2, 5))))
    out = layer(x)
    _backward(rng, out)
    return {
        "out": out.data,
        "running_mean": layer.running_mean.data,
        "running_var": layer.running_var.data,
        "dx": x.grad.data,
        "dweight": layer.weight.grad.data,
        "dbias": layer.bias.grad.data,
    }


@check()
def batch_norm_evaluation(rng):
    "BatchNorm2d in evaluation: the running statistics as constants, and the gradients."
    layer = _batch_norm(rng, 3)
    layer.running_mean.data[...] = rng.standard_normal(3)
    layer.running_var.data[...] = rng.uniform(0.5, 2, size=3)
    layer.eval()
    x = _input(rng, (2, 3, 3, 3))
    out = layer(x)
    _backward(rng, out)
    return {"out": out.data, "dx": x.grad.data, "dweight": layer.weight.grad.data, "dbias": layer.bias.grad.data}


@check(weight=3)
def simple_cnn(rng):
    "SimpleCNN end to end: logits and the gradient of every parameter; count_parameters."
    from tinytorch.models import SimpleCNN
    from tinytorch.nn.counting import count_parameters

    classes, channels = int(rng.integers(2, 11)), int(rng.integers(1, 4))
    model = SimpleCNN(num_classes=classes, in_channels=channels).double()
    for _, param in model.named_parameters():
        param.data[...] = rng.standard_normal(param.shape) * 0.1
    logits = model(_input(rng, (2, channels, 32, 32), grad=False))
    _backward(rng, logits)
    return {
        "logits": logits.data,
        "count": count_parameters(model),
        "grads": np.concatenate([p.grad.data.ravel() for _, p in model.named_parameters()]),
    }


@check()
def receptive_field(rng):
    "receptive_field of a random stack of convolutions, pools and other layers, along each axis."
    from tinytorch.nn import Conv2d, MaxPool2d, ReLU
    from tinytorch.nn.counting import receptive_field

    # a first convolution wider than 1x1, so no draw (all ReLUs, all 1x1) has a field of 1 whatever the code
    layers = [Conv2d(1, 1, (int(rng.integers(2, 6)), int(rng.integers(2, 6))), stride=int(rng.integers(1, 3)))]
    for _ in range(int(rng.integers(1, 5))):
        kind = int(rng.integers(0, 4))
        if kind == 0:
            layers.append(
                Conv2d(1, 1, (int(rng.integers(1, 6)), int(rng.integers(1, 6))), stride=int(rng.integers(1, 3)))
            )
        elif kind == 1:
            layers.append(MaxPool2d(int(rng.integers(2, 4))))
        elif kind == 2:
            layers.append((int(rng.integers(1, 6)), int(rng.integers(1, 3))))
        else:
            layers.append(ReLU())
    return {"fields": np.array([receptive_field(layers), receptive_field(layers, axis=1)])}

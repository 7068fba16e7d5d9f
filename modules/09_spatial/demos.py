"""Module 09's companion: measurements and demonstrations of the layers you wrote, on the exported package.

    python modules/09_spatial/demos.py          # every one, in order (about a minute)
    python modules/09_spatial/demos.py what_a_cnn_learns   # one of them, by name

First the analyses the chapter (spatial.py) asks its questions about, each printing its figures (the
chapter runs them too, after its tests): three 3x3 convolutions against one 7x7, depthwise-separable
against plain, the memory a training step holds by layer, strided convolution against pooling, and
receptive-field growth. Then longer demonstrations: the loop definitions against im2col (what a matrix
multiply buys), the same for pooling, im2col's memory bill, where SimpleCNN's parameters and FLOPs are,
max against average pooling, why BatchNorm helps, and the filters and feature maps a trained network
learns. They import your code from the package, so run `tito module complete 09` (or `tito export 09`)
first.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tinytorch.tensor import Tensor
from tinytorch.models.cnn import SimpleCNN
from tinytorch.nn.activations import relu
from tinytorch.nn.conv import Conv2d, DepthwiseSeparableConv2d
from tinytorch.nn.counting import conv_flops, count_parameters, receptive_field
from tinytorch.nn.flatten import Flatten
from tinytorch.nn.layout import _channels_first, _channels_last
from tinytorch.nn.linear import Linear
from tinytorch.nn.engine import _per_slice
from tinytorch.nn.kernels import (
    conv2d_forward,
    conv2d_loops,
    conv_output_size,
    maxpool2d_forward,
    maxpool2d_loops,
)
from tinytorch.nn.norm import BatchNorm2d
from tinytorch.nn.pool import AvgPool2d, MaxPool2d

# ---- The chapter's analyses ----


def _train_step_ms(model, x, repeats: int = 3) -> float:
    """Milliseconds of the best of `repeats` forward + backward passes of model on x, after a warm-up."""
    import time

    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        model(x).sum().backward()
        times.append(time.perf_counter() - start)
    return min(times[1:]) * 1e3


def _images(*shape, seed: int = 0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def stacks_against_one_big_kernel(channels: int = 32, size: int = 32) -> None:
    from tinytorch.nn.container import Sequential

    x = _images(16, channels, size, size)
    for name, layers in (
        ("three 3x3", [Conv2d(channels, channels, 3, padding=1) for _ in range(3)]),
        ("one 7x7", [Conv2d(channels, channels, 7, padding=3)]),
    ):
        field = receptive_field(layers)
        print(
            f"{name}: {sum(map(count_parameters, layers)):,} parameters, "
            f"{sum(conv_flops(layer, size) for layer in layers) / 1e6:.0f} MFLOPs per image, sees {field}x{field}, "
            f"forward + backward {_train_step_ms(Sequential(*layers), x):.1f} ms"
        )


def depthwise_separable_costs(c_in: int = 64, c_out: int = 128, size: int = 16) -> None:
    x, costs = _images(32, c_in, size, size), {}
    for name, layer in (
        ("plain", Conv2d(c_in, c_out, 3, padding=1)),
        ("separable", DepthwiseSeparableConv2d(c_in, c_out, 3, padding=1)),
    ):
        costs[name] = (count_parameters(layer), conv_flops(layer, size), _train_step_ms(layer, x))
        print(
            f"{name:>9}: {costs[name][0]:7,} parameters, {costs[name][1] / 1e6:6.1f} MFLOPs per image, "
            f"forward + backward {costs[name][2]:.1f} ms"
        )
    ratios = [separable / plain for plain, separable in zip(costs["plain"], costs["separable"])]
    print(
        f"separable / plain: parameters {ratios[0]:.3f}, FLOPs {ratios[1]:.3f} (1/OC + 1/K^2 = "
        f"{1 / c_out + 1 / 9:.3f}), time {ratios[2]:.2f}"
    )


def training_memory_by_layer(batch: int = 64) -> None:
    import tracemalloc

    model, out = SimpleCNN(), _images(batch, 3, 32, 32)
    tracemalloc.start()
    for name, layer in (
        ("conv1", model.conv1),
        ("relu", relu),
        ("pool1", model.pool1),
        ("conv2", model.conv2),
        ("relu", relu),
        ("pool2", model.pool2),
        ("flatten", model.flatten),
        ("fc", model.fc),
    ):
        before = tracemalloc.get_traced_memory()[0]
        out = layer(out)
        held = tracemalloc.get_traced_memory()[0] - before
        print(f"{name:>8}: output {out.data.nbytes / 2**20:5.2f} MiB by arithmetic, {held / 2**20:5.2f} MiB held")
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    out.sum().backward()
    print(
        f"held after the forward pass {held / 2**20:.1f} MiB; the backward pass peaks at "
        f"{tracemalloc.get_traced_memory()[1] / 2**20:.1f} MiB; parameters {count_parameters(model) * 4 / 2**20:.2f} MiB"
    )
    tracemalloc.stop()


def strided_conv_against_pooling(epochs: int = 3) -> None:
    import time

    from tinytorch.nn.losses import CrossEntropyLoss
    from tinytorch.optim.adam import Adam
    from tinytorch.nn.activations import ReLU
    from tinytorch.nn.container import Sequential
    from tito.datasets import load_tinydigits

    x_train, y_train, x_test, y_test = (
        np.kron(a, np.ones((2, 2), np.float32)) if a.ndim == 4 else a for a in load_tinydigits()
    )
    for name in ("max pooling", "stride 2"):
        np.random.seed(0)
        if name == "max pooling":
            body = [Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2)]
        else:
            body = [Conv2d(1, 8, 3, stride=2, padding=1), ReLU(), Conv2d(8, 16, 3, stride=2, padding=1), ReLU()]
        model = Sequential(*body, Flatten(), Linear(16 * 4 * 4, 10))
        optimizer, loss_fn = Adam(model.parameters(), lr=0.01), CrossEntropyLoss()
        start = time.perf_counter()
        for _ in range(epochs):
            for batch in np.array_split(np.random.permutation(len(x_train)), len(x_train) // 64):
                optimizer.zero_grad()
                loss_fn(model(Tensor(x_train[batch])), y_train[batch]).backward()
                optimizer.step()
        seconds = (time.perf_counter() - start) / epochs
        accuracy = (model.eval()(Tensor(x_test)).data.argmax(axis=1) == y_test).mean()
        print(f"{name:>11}: test accuracy {accuracy:.1%} after {epochs} epochs, {seconds:.2f} s per epoch")


def receptive_field_growth() -> None:
    print(f"{'layers':>6} {'3x3 stack':>10} {'3x3 + pool':>11} {'dilated 3x3':>12}")
    for depth in (1, 2, 3, 4, 6, 8):
        print(
            f"{depth:>6} {receptive_field([(3, 1)] * depth):>10} {receptive_field([(3, 1), (2, 2)] * depth):>11} "
            f"{receptive_field([(3, 1, 2**layer) for layer in range(depth)]):>12}"
        )


# ---- Longer demonstrations ----

# The definition against im2col + one matrix multiply, on the same convolution. The loops would take
# minutes on the whole batch, so they run on one image and 4 of the 32 output channels, and their time
# is scaled up (extrapolated) to the whole layer; the vectorised time is measured on all of it.


def compare_loops_and_vectorised(batch: int = 32, channels: int = 3, size: int = 32, out_channels: int = 32) -> dict:
    """Time conv2d_loops (on a slice, extrapolated) against conv2d_forward (measured), and print the ratio."""
    import time

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    weight = rng.standard_normal((out_channels, channels, 3, 3)).astype(np.float32)
    slice_images, slice_channels = 1, 4
    start = time.perf_counter()
    conv2d_loops(x[:slice_images], weight[:slice_channels], padding=1)
    measured = time.perf_counter() - start
    loops = measured * (batch / slice_images) * (out_channels / slice_channels)
    x_cl = np.ascontiguousarray(_channels_last(x))
    conv2d_forward(x_cl, weight, None, (1, 1), (1, 1))  # warm up
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        conv2d_forward(x_cl, weight, None, (1, 1), (1, 1))
    fast = (time.perf_counter() - start) / repeats
    multiply_adds = batch * out_channels * size * size * channels * 9
    print(
        f"conv {batch}x{channels}x{size}x{size} -> {out_channels}, 3x3: loops measured {measured:.2f} s on "
        f"{slice_images} image and {slice_channels} output channels, extrapolated to {loops:.1f} s for the layer "
        f"({loops / multiply_adds * 1e9:.0f} ns per multiply-add); im2col + matmul measured {fast * 1e3:.2f} ms "
        f"on the whole layer: {loops / fast:,.0f}x faster"
    )
    return {"loops_s": loops, "vectorised_s": fast, "speedup": loops / fast}


# Now the same comparison for max pooling. Convolution does about 2 x OC x KH x KW arithmetic
# operations for every number it reads (576 in the layer above), so once it runs as one matrix
# multiply the processor's arithmetic is the limit, and the gap to the loops is thousands of times.
# Pooling does about one comparison per number it reads: the vectorised version is limited by how fast
# its input streams through memory, while each loop step still costs hundreds of nanoseconds of Python.
# So the gap is far smaller. A plain copy of the same input, for scale, reads every number once and
# writes it once: no pooling code can be much faster.


def compare_pooling_loops_and_vectorised(batch: int = 32, channels: int = 32, size: int = 32) -> dict:
    """Time maxpool2d_loops (on a slice, extrapolated) against maxpool2d_forward, next to a copy."""
    import time

    rng = np.random.default_rng(0)
    x_cl = rng.standard_normal((batch, size, size, channels)).astype(np.float32)
    slice_channels = 4

    def best_of(function, repeats):
        function()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    one_image = _channels_first(x_cl[:1, :, :, :slice_channels])
    loops = best_of(lambda: maxpool2d_loops(one_image, 2), 3) * batch * channels / slice_channels
    fast = best_of(lambda: maxpool2d_forward(x_cl, (2, 2), (2, 2), (0, 0)), 20)
    copy = best_of(lambda: x_cl.copy(), 20)
    comparisons = batch * channels * (size // 2) ** 2 * 3  # three comparisons pick the largest of four
    print(
        f"maxpool 2x2 on {batch}x{channels}x{size}x{size}: loops {loops:.2f} s (extrapolated from one image and "
        f"{slice_channels} channels; {loops / comparisons * 1e9:.0f} ns per comparison), vectorised {fast * 1e3:.2f} ms "
        f"({x_cl.nbytes / fast / 1e9:.1f} GB/s of input): {loops / fast:,.0f}x faster; copying the input takes "
        f"{copy * 1e3:.2f} ms"
    )
    return {"loops_s": loops, "vectorised_s": fast, "copy_s": copy, "speedup": loops / fast}


# The im2col matrix's memory, for each convolution of SimpleCNN on a batch of 128, against the memory
# of the layer's input. The factor is KH*KW (here 9): speed bought with memory. The layers never hold
# all of it: they build it a slice of the batch at a time (see "Making it fast").


def im2col_memory(batch: int = 128) -> list:
    """Bytes of the input and of the im2col matrix for each Conv2d of SimpleCNN."""
    rows = []
    model, size = SimpleCNN(), 32
    for conv in (model.conv1, model.conv2):
        kh, kw = conv.kernel_size
        out = conv_output_size(size, kh, conv.stride[0], conv.padding[0])
        input_bytes = batch * conv.in_channels * size * size * 4
        cols_bytes = batch * out * out * conv.in_channels * kh * kw * 4
        rows.append((repr(conv), input_bytes, cols_bytes))
        per_image = cols_bytes // batch
        images = _per_slice(per_image)
        print(
            f"{repr(conv)}: input {input_bytes / 2**20:.1f} MiB, im2col {cols_bytes / 2**20:.1f} MiB "
            f"({cols_bytes / input_bytes:.0f}x); built {images} images at a time: "
            f"{images * per_image / 2**20:.1f} MiB per thread"
        )
        size = out // 2
    return rows


# Where SimpleCNN's parameters and arithmetic are, computed from the layers: the convolutions hold few
# parameters but do almost all the work; the Linear layer is the opposite. Weight sharing makes the
# difference: a dense layer doing the first convolution's job would need a hundred thousand times more.


def simple_cnn_budget(batch: int = 1) -> list:
    """A table of SimpleCNN's layers: parameters and forward MFLOPs per image, computed from the layers."""
    model = SimpleCNN()
    table = [
        ("conv1", count_parameters(model.conv1), conv_flops(model.conv1, 32, batch)),
        ("conv2", count_parameters(model.conv2), conv_flops(model.conv2, 16, batch)),
        ("fc", count_parameters(model.fc), 2 * batch * model.fc.in_features * model.fc.out_features),
    ]
    print(f"{'layer':<7}{'parameters':>12}{'MFLOPs':>10}")
    for name, params, flops in table:
        print(f"{name:<7}{params:>12,}{flops / 1e6:>10.1f}")
    print(f"{'total':<7}{count_parameters(model):>12,}{sum(f for _, _, f in table) / 1e6:>10.1f}")
    inputs, outputs = 3 * 32 * 32, 32 * 32 * 32
    print(
        f"a dense layer doing conv1's job ({inputs:,} -> {outputs:,}) would hold {inputs * outputs + outputs:,} "
        f"parameters: {(inputs * outputs + outputs) / count_parameters(model.conv1):,.0f}x conv1's"
    )
    return table


# Max against average pooling on one small picture: max keeps the bright pixel, average dilutes it.
# Then why BatchNorm helps, in one experiment: push a batch through a stack of convolutions with
# slightly too large random weights and watch the activations' scale compound layer after layer. With
# a BatchNorm2d after each convolution it stays put at 0.58, the standard deviation of max(z, 0) for a
# standard normal z, however deep the stack.


def max_vs_average() -> None:
    picture = np.zeros((1, 1, 4, 4), dtype=np.float32)
    picture[0, 0, 0, 1] = 8.0
    picture[0, 0, 3, 3] = 4.0
    print("max pooling 2x2:", MaxPool2d(2)(Tensor(picture)).data[0, 0].tolist())
    print("avg pooling 2x2:", AvgPool2d(2)(Tensor(picture)).data[0, 0].tolist())


def activation_scale(depth: int = 8, gain: float = 1.5) -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((16, 16, 8, 8)))
    plain, normed = x, x
    for layer in range(depth):
        conv = Conv2d(16, 16, 3, padding=1)
        conv.weight.data *= gain
        plain, normed = relu(conv(plain)), relu(BatchNorm2d(16)(conv(normed)))
        print(f"after conv {layer + 1}: std without BatchNorm {plain.data.std():10.3f}, with {normed.data.std():.3f}")


# ## Seeing what a CNN learned
#
# Numbers say how well a network does; pictures say what it does. The cell below trains a SimpleCNN
# for a few seconds on the course's small handwritten digits (8x8, scaled up to 32x32, one channel),
# then draws its first layer's 32 filters on one shared colour scale (so a weak filter looks weak) and
# the feature maps one digit produces after each conv block: the first layer responds to strokes and
# edges in particular directions, the second to combinations of them. With matplotlib installed it
# draws a picture; without, a text rendering that needs nothing but a terminal.

SHADES = " .:-=+*#%@"


def _text_image(array: np.ndarray, low: float, high: float) -> list:
    """Rows of characters, darker for larger values, on the shared scale [low, high]."""
    scaled = np.clip((array - low) / (high - low + 1e-12), 0, 1) * (len(SHADES) - 1)
    return ["".join(SHADES[int(round(v))] for v in row) for row in scaled]


def _print_grid(title: str, images: list, low: float, high: float, per_row: int = 8) -> None:
    print(title)
    for first in range(0, len(images), per_row):
        rendered = [_text_image(image, low, high) for image in images[first : first + per_row]]
        for line in range(len(rendered[0])):
            print("  " + "  ".join(r[line] for r in rendered))
        print()


def what_a_cnn_learns(epochs: int = 2, seed: int = 0) -> dict:
    """Train SimpleCNN briefly on tinydigits; draw its first-layer filters and one digit's feature maps."""
    from tinytorch.autograd.function import no_grad
    from tinytorch.nn.losses import CrossEntropyLoss
    from tinytorch.optim.adam import Adam
    from tito.datasets import load_tinydigits

    x_train, y_train, x_test, _ = load_tinydigits()
    upscale = lambda images: np.kron(images, np.ones((1, 1, 4, 4), dtype=np.float32))  # 8x8 -> 32x32
    np.random.seed(seed)
    model = SimpleCNN(in_channels=1)
    optimizer, loss_fn = Adam(model.parameters(), lr=0.003), CrossEntropyLoss()
    order = np.random.default_rng(seed).permutation(len(x_train))
    for _ in range(epochs):
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(Tensor(upscale(x_train[batch]))), y_train[batch])
            loss.backward()
            optimizer.step()
    filters = model.conv1.weight.data[:, 0]
    with no_grad():
        model.eval()
        maps = [m.data[0] for m in model.feature_maps(Tensor(upscale(x_test[:1])))]
    try:
        import matplotlib

        matplotlib.use("Agg" if "ipykernel" not in sys.modules else matplotlib.get_backend())
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is None:
        limit = np.abs(filters).max()
        _print_grid("first-layer filters (shared scale; darker = larger weight)", list(filters), -limit, limit)
        for number, fmap in enumerate(maps, start=1):
            strongest = np.argsort(fmap.reshape(len(fmap), -1).max(axis=1))[::-1][:8]
            _print_grid(
                f"block {number}: the 8 most active of {len(fmap)} feature maps of one test digit",
                [fmap[i] for i in strongest],
                0.0,
                float(fmap.max()),
            )
        return {"filters": filters, "feature_maps": maps}
    import tempfile

    figure, axes = plt.subplots(3, 8, figsize=(12, 5))
    limit = np.abs(filters).max()
    for index, ax in enumerate(axes[0]):
        ax.imshow(filters[index], cmap="RdBu", vmin=-limit, vmax=limit)
    for row, fmap in zip(axes[1:], maps):
        strongest = np.argsort(fmap.reshape(len(fmap), -1).max(axis=1))[::-1][:8]
        for ax, channel in zip(row, strongest):
            ax.imshow(fmap[channel], cmap="gray", vmin=0, vmax=fmap.max())
    for ax in axes.flat:
        ax.axis("off")
    figure.suptitle("first-layer filters (top, shared scale); a test digit after conv block 1 and 2")
    path = os.path.join(tempfile.gettempdir(), "tinytorch-09-what-a-cnn-learned.png")
    figure.savefig(path, dpi=80)
    if "ipykernel" in sys.modules:
        plt.show()
    plt.close(figure)
    print(f"drew the first layer's filters and one digit's feature maps: {path}")
    return {"filters": filters, "feature_maps": maps, "picture": path}


DEMOS = [
    stacks_against_one_big_kernel,
    depthwise_separable_costs,
    training_memory_by_layer,
    strided_conv_against_pooling,
    receptive_field_growth,
    compare_loops_and_vectorised,
    compare_pooling_loops_and_vectorised,
    im2col_memory,
    simple_cnn_budget,
    max_vs_average,
    activation_scale,
    what_a_cnn_learns,
]


def main(argv: list) -> int:
    chosen = [demo for demo in DEMOS if not argv or demo.__name__ in argv]
    if argv and len(chosen) != len(argv):
        names = ", ".join(demo.__name__ for demo in DEMOS)
        print(f"unknown demonstration in {' '.join(argv)}: choose from {names}.", file=sys.stderr)
        return 2
    for demo in chosen:
        print(f"\n== {demo.__name__}")
        try:
            demo()
        except NotImplementedError as error:
            print(f"({demo.__name__} needs code you have not written yet: {error})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

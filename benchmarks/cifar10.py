"""The cifar10 milestone's training step: tinytorch against PyTorch's best CPU layout, and where it goes.

    python benchmarks/cifar10.py                    # 20 steps of each, alternating; then the profile
    python benchmarks/cifar10.py --steps 40 --profile-rounds 9
    python benchmarks/cifar10.py --data-dir DIR     # real CIFAR-10 photos instead of random ones
    python benchmarks/cifar10.py --im2col-too       # a third contender: tinytorch without Winograd
    python benchmarks/cifar10.py --tile-size 4      # Winograd's F(4x4, 3x3) instead of F(2x2, 3x3)

Both frameworks train the milestone's network (milestones/cifar10/cifar10.py: three blocks of conv 3x3,
max-pool 2, batch norm, ReLU, the first conv fixed to whitening filters, then Linear 2048-10) with its recipe (SGD with Nesterov momentum 0.9 and
weight decay 5e-4, the one-cycle schedule, cross-entropy with the milestone's label smoothing) on
batches of 256 augmented photos (random 32x32 crop of the photo padded by 4, random horizontal flip),
augmentation and batching included. PyTorch (when installed) runs `channels_last`, its fastest CPU
layout here, on the same number of threads; the two alternate step by step in this one process, with
PyTorch's idle OpenMP threads set to sleep (OMP_WAIT_POLICY=PASSIVE) so they do not steal the core
tinytorch runs on next. It prints images per second for each, their ratio (tinytorch time /
PyTorch time), and then a per-part profile of tinytorch's step: forward and backward of each layer,
the loss, the optimizer step, augmentation and batching, each timed on its own with the step's shapes.

CPU time (all of the process's threads) is printed beside each step's wall time: on a busy machine the
wall time grows with the time the step waits for a core, the CPU time much less.

It also prints the floor: the time of the matrix products an im2col convolution needs for this step
(each conv layer's forward, and the weight and input gradients it has), NumPy float32 on the same
threads, best of several, measured in the same run; each framework's step is given as a multiple of
it. A step below 1x does fewer multiplications than im2col, as Winograd's algorithm does
(tinytorch/nn/winograd.py).

Run it the way `tito milestone run` runs (this script applies the same process settings: OpenBLAS
kernels, malloc, threads). Workplaces that set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS
builds slow a current NumPy: unset both in the command that runs this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tito.milestones import tuning  # noqa: E402

if __name__ == "__main__":
    tuning.choose_openblas_kernels(["tito", "milestone", "run"])  # before NumPy loads OpenBLAS, as tito does
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from tito.course import load_course  # noqa: E402
from tito.milestones.milestone_run import load_script  # noqa: E402

milestone = load_script(load_course(ROOT).milestone("cifar10"))  # the milestone's network and recipe
from tinytorch import Tensor, no_grad  # noqa: E402
from tinytorch.data import DataLoader, TensorDataset  # noqa: E402
from tinytorch.nn import CrossEntropyLoss, engine, winograd  # noqa: E402
from tinytorch.optim import SGD  # noqa: E402
from tinytorch.optim.lr_scheduler import OneCycleLR  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional: without it the ratio is left out
    torch = None

BATCH = 256


def photos(data_dir, count: int, rng):
    """`count` normalised training photos and labels: real CIFAR-10 when data_dir is given, else random."""
    if data_dir:
        from tito.datasets import load_cifar10

        x, y = load_cifar10(data_dir)[:2]
        return milestone.normalize(x[:count]), y[:count]
    return rng.standard_normal((count, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, count)


def tinytorch_step(x, y, steps):
    """A function that trains one batch of the milestone's network per call, exactly as the milestone does."""
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, seed=0, transform=milestone.augment())
    model = milestone.build_model()
    milestone.whiten_first_layer(model, x[: milestone.WHITENING_PHOTOS])
    learned = [p for p in model.parameters() if p.requires_grad]
    optimizer = SGD(learned, lr=0.1, momentum=milestone.MOMENTUM, nesterov=True, weight_decay=milestone.WEIGHT_DECAY)
    schedule = OneCycleLR(optimizer, max_lr=0.1, total_steps=steps + 16)
    loss_fn = CrossEntropyLoss(label_smoothing=milestone.LABEL_SMOOTHING)
    batches = iter(())

    def step():
        nonlocal batches
        try:
            images, labels = next(batches)
        except StopIteration:
            batches = iter(loader)
            images, labels = next(batches)
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()
        schedule.step()

    return step, model, loss_fn, optimizer, loader


def torch_step(x, y, steps, ours):
    """The same step in PyTorch, channels_last, with the same augmentation done as batched tensor ops.

    The network is built layer for layer from ours (same order of conv, pool, batch norm and ReLU, the
    same fixed whitened first layer), so both frameworks do the same work.
    """
    nn = torch.nn
    twins = {
        "Conv2d": lambda l: nn.Conv2d(
            l.in_channels, l.out_channels, l.kernel_size, padding=l.padding, bias=l.bias is not None
        ),
        "MaxPool2d": lambda l: nn.MaxPool2d(l.kernel_size),
        "BatchNorm2d": lambda l: nn.BatchNorm2d(l.num_features),
        "ReLU": lambda l: nn.ReLU(),
        "Flatten": lambda l: nn.Flatten(),
        "Linear": lambda l: nn.Linear(l.in_features, l.out_features),
    }
    model = nn.Sequential(*(twins[type(layer).__name__](layer) for layer in ours)).to(memory_format=torch.channels_last)
    first = model[0]
    first.weight.data.copy_(torch.from_numpy(ours[0].weight.data))
    first.weight.requires_grad_(ours[0].weight.requires_grad)
    learned = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        learned, lr=0.1, momentum=milestone.MOMENTUM, nesterov=True, weight_decay=milestone.WEIGHT_DECAY
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=steps + 16)
    images_all, labels_all = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    state = {"order": torch.randperm(len(x), generator=generator), "at": 0}

    def augment(batch):
        n = len(batch)
        padded = torch.nn.functional.pad(batch, (4, 4, 4, 4))
        top = torch.randint(0, 9, (n,), generator=generator)
        left = torch.randint(0, 9, (n,), generator=generator)
        rows = (top[:, None] + torch.arange(32))[:, None, :, None]
        cols = (left[:, None] + torch.arange(32))[:, None, None, :]
        crops = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
        flip = torch.rand(n, generator=generator) < 0.5
        return torch.where(flip[:, None, None, None], crops.flip(3), crops)

    def step():
        if state["at"] + BATCH > len(x):
            state["order"], state["at"] = torch.randperm(len(x), generator=generator), 0
        indices = state["order"][state["at"] : state["at"] + BATCH]
        state["at"] += BATCH
        images = augment(images_all[indices]).contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(
            model(images), labels_all[indices], label_smoothing=milestone.LABEL_SMOOTHING
        )
        loss.backward()
        optimizer.step()
        schedule.step()

    return step


def with_winograd(step, enabled: bool):
    """step, run with Winograd's convolutions switched on or off (tinytorch.nn.winograd.ENABLED)."""

    def run():
        saved, winograd.ENABLED = winograd.ENABLED, enabled
        try:
            step()
        finally:
            winograd.ENABLED = saved

    return run


def alternate(functions: dict, rounds: int, warmup: int = 3, clock=time.perf_counter) -> dict:
    """Median seconds per call of each function, called in turn `rounds` times after a warm-up."""
    return alternate_clocks(functions, rounds, warmup, (clock,))[0]


def alternate_clocks(functions: dict, rounds: int, warmup: int = 3, clocks=(time.perf_counter,)) -> list:
    """alternate() read on several clocks at once: one {name: median seconds} per clock."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times = [{name: [] for name in functions} for _ in clocks]
    for _ in range(rounds):
        for name, function in functions.items():
            starts = [clock() for clock in clocks]
            function()
            for clock, start, table in zip(clocks, starts, times):
                table[name].append(clock() - start)
    return [{name: statistics.median(values) for name, values in table.items()} for table in times]


def profile(model, loss_fn, optimizer, loader, rounds: int) -> list:
    """(part, milliseconds) for each part of one training step, each timed on its own with the step's shapes."""
    images, labels = next(iter(loader))
    rows = []
    rows.append(("augmentation and batching", alternate({"x": lambda: next(iter(loader))}, rounds)["x"]))
    x = images
    for index, layer in enumerate(model):
        name = f"{index:2d} {type(layer).__name__}"
        x_in = Tensor(x.data, requires_grad=index > 0)
        out = layer(x_in)
        grad = np.random.default_rng(index).standard_normal(out.shape).astype(np.float32)
        if out.data.ndim == 4:  # the next layer hands back its gradient in the layer's own memory layout
            grad = np.ascontiguousarray(grad.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)

        def forward(layer=layer, x=x):
            with no_grad():
                layer(Tensor(x.data))

        def forward_backward(layer=layer, x=x, grad=grad):
            out = layer(Tensor(x.data, requires_grad=index > 0))
            if out.requires_grad:  # a fixed first layer records no graph: it has no backward pass
                out.backward(grad)

        timed = alternate({"f": forward, "fb": forward_backward}, rounds)
        rows.append((f"{name} forward", timed["f"]))
        rows.append((f"{name} backward", max(timed["fb"] - timed["f"], 0.0)))
        x = out
    logits = Tensor(x.data, requires_grad=True)

    def loss_forward_backward():
        loss_fn(logits, labels).backward()

    rows.append(("loss forward and backward", alternate({"l": loss_forward_backward}, rounds)["l"]))
    for parameter in model.parameters():
        parameter.grad = Tensor(np.zeros_like(parameter.data))
    rows.append(("optimizer step", alternate({"o": optimizer.step}, rounds)["o"]))
    return rows


def gemm_floor(model, rounds: int = 7) -> tuple:
    """(seconds, GFLOP): the im2col matrix products of one step of `model` on a batch, best of `rounds`.

    For every Conv2d: the forward product (pixels, 9C) @ (9C, OC); with a learned weight the weight
    gradient's (9C, pixels) @ (pixels, OC); after the first layer the input gradient's (pixels, OC) @
    (OC, 9C). Shapes follow the layers' outputs on a batch of BATCH photos (32x32 in).
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    products, size = [], 32
    for index, layer in enumerate(model):
        name = type(layer).__name__
        if name == "Conv2d":
            kh, kw = layer.kernel_size
            size = (size + 2 * layer.padding[0] - kh) // layer.stride[0] + 1
            pixels, k, oc = BATCH * size * size, kh * kw * layer.in_channels, layer.out_channels
            products.append(((pixels, k), (k, oc)))
            if layer.weight.requires_grad:
                products.append(((k, pixels), (pixels, oc)))
            if index > 0:
                products.append(((pixels, oc), (oc, k)))
        elif name in ("MaxPool2d", "AvgPool2d"):
            size = (size - layer.kernel_size[0]) // layer.stride[0] + 1
    arrays = [(rng.standard_normal(a, dtype=np.float32), rng.standard_normal(b, dtype=np.float32)) for a, b in products]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in arrays)
    with threadpool_limits(limits=engine.get_num_threads(), user_api="blas"):
        best = []
        for a, b in arrays:
            a @ b  # warm-up
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                a @ b
                times.append(time.perf_counter() - start)
            best.append(min(times))
    return sum(best), flops / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each framework (default 20)")
    parser.add_argument("--profile-rounds", type=int, default=7, help="timed calls per profiled part (default 7)")
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 in the official layout (default: random photos)")
    parser.add_argument(
        "--im2col-too", action="store_true", help="also time tinytorch with Winograd off (every conv through im2col)"
    )
    parser.add_argument(
        "--tile-size",
        type=int,
        choices=sorted(winograd.TILINGS),
        default=winograd.TILE_SIZE,
        help=f"Winograd's tiles: F(2x2, 3x3) or F(4x4, 3x3) (default {winograd.TILE_SIZE})",
    )
    args = parser.parse_args(argv)
    settings = tuning.apply()
    winograd.TILE_SIZE = args.tile_size
    threads = getattr(milestone, "BLAS_THREADS", None)
    if threads:
        tuning.set_blas_threads(threads)
    rng = np.random.default_rng(0)
    x, y = photos(args.data_dir, 40 * BATCH, rng)
    ours, model, loss_fn, optimizer, loader = tinytorch_step(x, y, args.steps)
    functions = {"tinytorch": ours}
    if args.im2col_too:
        plain, *_ = tinytorch_step(x, y, args.steps)
        functions = {"tinytorch": with_winograd(ours, True), "im2col only": with_winograd(plain, False)}
    if torch is not None:
        torch.set_num_threads(engine.get_num_threads())
        functions["pytorch"] = torch_step(x, y, args.steps, model)
    from threadpoolctl import threadpool_info

    blas = [
        f"{p['internal_api']} {p['version']} ({p['architecture']})"
        for p in threadpool_info()
        if p["user_api"] == "blas"
    ]
    print(
        f"cifar10 step, batch {BATCH}, {engine.get_num_threads()} threads; BLAS: {', '.join(blas)}; "
        f"process settings: {'; '.join(settings) or 'none'}; torch: {torch.__version__ if torch else 'not installed'}; "
        f"Winograd F({winograd.TILE_SIZE}x{winograd.TILE_SIZE}, 3x3) from {winograd.MIN_CHANNELS} channels"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f}; medians of {args.steps} alternating steps")
    timed, cpu = alternate_clocks(functions, args.steps, clocks=(time.perf_counter, time.process_time))
    floor, gflop = gemm_floor(model)
    print(
        f"  floor: the step's im2col matrix products alone, {gflop:.2f} GFLOP, best of 7: {floor * 1e3:.1f} ms "
        f"({gflop / floor:.0f} GFLOP/s)"
    )
    for name, seconds in timed.items():
        print(
            f"  {name:11s} {seconds * 1e3:7.1f} ms per step  {BATCH / seconds:7.0f} images/s  "
            f"{seconds / floor:5.2f}x the floor  (CPU time, all threads: {cpu[name] * 1e3:.1f} ms)"
        )
    for name in [name for name in timed if name != "pytorch"] if "pytorch" in timed else []:
        print(
            f"  {name} / PyTorch time: {timed[name] / timed['pytorch']:.2f} (target: at most 1.25); "
            f"CPU time: {cpu[name] / cpu['pytorch']:.2f}"
        )
    if "im2col only" in timed:
        print(
            f"  tinytorch / im2col only: {timed['tinytorch'] / timed['im2col only']:.2f} "
            f"(CPU time: {cpu['tinytorch'] / cpu['im2col only']:.2f})"
        )
    print("\nWhere tinytorch's step goes (each part timed on its own; backward = forward + backward - forward):")
    rows = profile(model, loss_fn, optimizer, loader, args.profile_rounds)
    total = sum(seconds for _, seconds in rows)
    for name, seconds in rows:
        print(f"  {name:34s} {seconds * 1e3:7.2f} ms  {100 * seconds / total:5.1f}%")
    print(f"  {'sum of the parts':34s} {total * 1e3:7.2f} ms (the whole step: {timed['tinytorch'] * 1e3:.1f} ms)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The cifar10 milestone's training step: tinytorch against PyTorch's best CPU layout, and where it goes.

    python benchmarks/cifar10.py                    # 20 steps of each, alternating; then the profile
    python benchmarks/cifar10.py --steps 40 --profile-rounds 9
    python benchmarks/cifar10.py --data-dir DIR     # real CIFAR-10 photos instead of random ones

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
from tito.milestones.runner import load_script  # noqa: E402

milestone = load_script(load_course(ROOT).milestone("cifar10"))  # the milestone's network and recipe
from tinytorch import Tensor, no_grad  # noqa: E402
from tinytorch.data import DataLoader, TensorDataset  # noqa: E402
from tinytorch.nn import (  # noqa: E402
    CrossEntropyLoss,
    engine,
)
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


def alternate(functions: dict, rounds: int, warmup: int = 3) -> dict:
    """Median seconds per call of each function, called in turn `rounds` times after a warm-up."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each framework (default 20)")
    parser.add_argument("--profile-rounds", type=int, default=7, help="timed calls per profiled part (default 7)")
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 in the official layout (default: random photos)")
    args = parser.parse_args(argv)
    settings = tuning.apply()
    threads = getattr(milestone, "BLAS_THREADS", None)
    if threads:
        tuning.set_blas_threads(threads)
    rng = np.random.default_rng(0)
    x, y = photos(args.data_dir, 40 * BATCH, rng)
    ours, model, loss_fn, optimizer, loader = tinytorch_step(x, y, args.steps)
    functions = {"tinytorch": ours}
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
        f"process settings: {'; '.join(settings) or 'none'}; torch: {torch.__version__ if torch else 'not installed'}"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f}; medians of {args.steps} alternating steps")
    timed = alternate(functions, args.steps)
    for name, seconds in timed.items():
        print(f"  {name:10s} {seconds * 1e3:7.1f} ms per step  {BATCH / seconds:7.0f} images/s")
    if "pytorch" in timed:
        print(f"  tinytorch / PyTorch time: {timed['tinytorch'] / timed['pytorch']:.2f} (target: at most 0.95)")
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

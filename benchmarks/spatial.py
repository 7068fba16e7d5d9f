"""Speed of module 09's layers: against the loop definition, against PyTorch, against a plain matmul.

    python benchmarks/spatial.py                 # the table (about a minute)
    python benchmarks/spatial.py --rounds 30     # steadier medians on a busy machine
    python benchmarks/spatial.py --threads 1     # both frameworks on one thread
    python benchmarks/spatial.py --threads 1 --clock cpu   # CPU seconds: steadier on a shared machine
    python benchmarks/spatial.py --step          # also a whole CIFAR-10 training step of the milestone's net
    python benchmarks/spatial.py --cases bce     # only the LeNet-sized convolutions and max pooling

For each case it times forward + backward of a tinytorch layer and of the same PyTorch layer (when
torch is installed), alternating the two in one process so that both see the same machine load, and
reports medians. The input requires a gradient in both, so both compute dx, dweight and dbias. Each
framework gets the output gradient in its own layout (channels-last for tinytorch, as its next layer
would hand it over; contiguous NCHW for PyTorch).

- loops: `conv2d_loops` / `maxpool2d_loops` (forward only) on one image and at most 4 output channels,
  the median of three runs scaled to the whole layer, against tinytorch's forward pass timed on its
  own: its input in cache, as the loops have theirs and as a network hands a layer the array the
  previous layer just wrote. Alternating with other calls evicts that input; for the memory-bound
  max-pool the script prints what that costs, next to PyTorch's own channels-last max-pool forward.
- GFLOP/s: 3 x the forward FLOPs (forward, weight gradient, input gradient) per second, next to what a
  plain float32 matrix multiply of the forward pass's size, (N*OH*OW, C*KH*KW) @ (C*KH*KW, OC), reaches.
- ours/before: today's layers (the student's plain kernels run by the given engine) against the layers
  as module 09 exported them at a commit (`--against`, default d4c80bc, before module 09 became a
  textbook chapter), read from git and timed in the same alternation. Target: at most 1.25x on every
  convolution case. Without the repository's history (a student edition) the column is left out.

Targets: within 2x of PyTorch on every case, at least 1,000x faster than the loops.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from tinytorch import Tensor  # noqa: E402
from tinytorch._catalog import NAMES  # noqa: E402
from tinytorch.nn import (  # noqa: E402
    BatchNorm2d,
    Conv2d,
    CrossEntropyLoss,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    engine,
)
from tinytorch.nn.kernels import conv2d_loops, maxpool2d_loops  # noqa: E402
from tinytorch.optim import SGD  # noqa: E402
from tito.milestones.tuning import tune_malloc  # noqa: E402

BEFORE = "d4c80bc"  # the layers as they were before module 09 became a textbook chapter


def layers_at(commit: str):
    """Module 09's package file as exported at `commit` (git keeps it), run on today's Tensor and autograd:
    its imports of the old chapter paths point to where each name lives now. None without that history."""
    path = "tinytorch/core/" + "spatial.py"  # where it lived then (in two pieces: rewriting old paths leaves it)
    shown = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True
    )
    if shown.returncode != 0:
        return None

    def today(match: re.Match) -> str:
        return "\n".join(f"from {NAMES[name][0]} import {name}" for name in re.split(r",\s*", match[1].strip()))

    source = re.sub(r"^from tinytorch\.core\.\w+ import (.+)$", today, shown.stdout, flags=re.MULTILINE)
    module = types.ModuleType(f"spatial_{commit}")
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)
    return module


before = None  # set by main() from --against

# PyTorch's OpenMP threads spin for a while after each call, holding a core. In an alternating
# benchmark that steals the second core from whatever runs next: measured here, our case (a) took
# 7.7 ms after torch calls with the default policy and 4.3 ms with PASSIVE, while torch's own time
# moved from 3.4 to 3.7 ms. PASSIVE lets both frameworks have the cores they are timed on.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
except ImportError:  # torch is optional: the table then has no PyTorch column
    torch = None

# name, (N, C, H, W), out channels, kernel, padding
CONV_CASES = [
    ("a) conv 32x3x32x32 -> 32, k3 p1", (32, 3, 32, 32), 32, 3, 1),
    ("b) conv 64x1x28x28 -> 6, k5", (64, 1, 28, 28), 6, 5, 0),
    ("c) conv 64x6x14x14 -> 16, k5", (64, 6, 14, 14), 16, 5, 0),
    ("d) conv 128x32x16x16 -> 64, k3 p1", (128, 32, 16, 16), 64, 3, 1),
]
POOL_CASE = ("e) maxpool 2x2 on 32x32x32x32", (32, 32, 32, 32))


def channels_last(array: np.ndarray) -> np.ndarray:
    """The same values in channels-last memory, as tinytorch's own layers produce them."""
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


CLOCK = time.perf_counter  # wall-clock seconds; --clock cpu switches to this process's CPU seconds


def alternate(functions: dict, rounds: int) -> dict:
    """Median seconds of each function, calling them in turn `rounds` times after one warm-up call each."""
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = CLOCK()
            function()
            times[name].append(CLOCK() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def blas_threads(threads: int):
    """BLAS on `threads` threads for the reference matmul (tinytorch's layers use the same cores)."""
    return threadpool_limits(limits=threads, user_api="blas")


def loops_seconds(function, full_work: float, slice_work: float, repeats: int = 3) -> float:
    """The median of `repeats` timings of `function` on a slice, scaled to the whole layer."""
    times = []
    for _ in range(repeats):
        start = CLOCK()
        function()
        times.append(CLOCK() - start)
    return statistics.median(times) * full_work / slice_work


def conv_case(shape, out_channels, kernel, padding, rounds, rng):
    n, c, h, w = shape
    x = rng.standard_normal(shape).astype(np.float32)
    layer = Conv2d(c, out_channels, kernel, padding=padding)
    x_ours = Tensor(x, requires_grad=True)
    oh, ow = h + 2 * padding - kernel + 1, w + 2 * padding - kernel + 1
    grad = rng.standard_normal((n, out_channels, oh, ow)).astype(np.float32)
    grad_ours = channels_last(grad)

    def ours():
        layer.weight.grad = layer.bias.grad = x_ours.grad = None
        layer(x_ours).backward(grad_ours)

    def ours_forward():
        layer(Tensor(x))

    functions = {"ours": ours, "ours_forward": ours_forward}
    if before is not None:
        old_layer = before.Conv2d(c, out_channels, kernel, padding=padding)
        old_layer.weight.data[...] = layer.weight.data
        x_old = Tensor(x, requires_grad=True)

        def yardstick():
            old_layer.weight.grad = old_layer.bias.grad = x_old.grad = None
            old_layer(x_old).backward(grad_ours)

        functions["before"] = yardstick
    if torch is not None:
        x_torch = torch.tensor(x, requires_grad=True)
        conv_torch = torch.nn.Conv2d(c, out_channels, kernel, padding=padding)
        grad_torch = torch.tensor(grad)

        def theirs():
            conv_torch.zero_grad()
            x_torch.grad = None
            conv_torch(x_torch).backward(grad_torch)

        functions["torch"] = theirs
    timed = alternate(functions, rounds)
    forward_alone = alternate({"forward": ours_forward}, rounds)["forward"]

    slice_channels = min(out_channels, 4)
    loops = loops_seconds(
        lambda: conv2d_loops(x[:1], layer.weight.data[:slice_channels], layer.bias.data[:slice_channels], 1, padding),
        n * out_channels,
        slice_channels,
    )
    flops = 2 * n * out_channels * oh * ow * c * kernel * kernel
    a = rng.standard_normal((n * oh * ow, c * kernel * kernel)).astype(np.float32)
    b = rng.standard_normal((c * kernel * kernel, out_channels)).astype(np.float32)
    with blas_threads(engine.get_num_threads()):
        matmul = alternate({"matmul": lambda: a @ b}, rounds)["matmul"]
    return {
        "ours": timed["ours"],
        "before": timed.get("before"),
        "torch": timed.get("torch"),
        "loops": loops,
        "ours_forward": forward_alone,
        "gflops": 3 * flops / timed["ours"] / 1e9,
        "torch_gflops": 3 * flops / timed["torch"] / 1e9 if "torch" in timed else None,
        "matmul_gflops": flops / matmul / 1e9,
    }


def pool_case(shape, rounds, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    pool = MaxPool2d(2)
    x_ours = Tensor(channels_last(x), requires_grad=True)  # a pool follows a conv: channels-last input
    grad = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(np.float32)
    grad_ours = channels_last(grad)

    def ours():
        x_ours.grad = None
        pool(x_ours).backward(grad_ours)

    def ours_forward():
        pool(Tensor(x_ours.data))

    functions = {"ours": ours, "ours_forward": ours_forward}
    if before is not None:
        old_pool, x_old = before.MaxPool2d(2), Tensor(x_ours.data, requires_grad=True)

        def yardstick():
            x_old.grad = None
            old_pool(x_old).backward(grad_ours)

        functions["before"] = yardstick
    if torch is not None:
        x_torch = torch.tensor(x, requires_grad=True)
        grad_torch = torch.tensor(grad)

        def theirs():
            x_torch.grad = None
            torch.nn.functional.max_pool2d(x_torch, 2).backward(grad_torch)

        functions["torch"] = theirs
    timed = alternate(functions, rounds)
    forward_alone = alternate({"forward": ours_forward}, rounds)["forward"]
    torch_forward = None
    if (
        torch is not None
    ):  # PyTorch's compiled kernel for the same memory layout as ours: the yardstick for memory speed
        x_torch_channels_last = x_torch.detach().to(memory_format=torch.channels_last)

        def theirs_forward():
            with torch.no_grad():
                torch.nn.functional.max_pool2d(x_torch_channels_last, 2)

        torch_forward = alternate({"forward": theirs_forward}, rounds)["forward"]
    loops = loops_seconds(lambda: maxpool2d_loops(x[:1, :4], 2), shape[0] * shape[1], 4)
    return {
        "ours": timed["ours"],
        "before": timed.get("before"),
        "torch": timed.get("torch"),
        "loops": loops,
        "ours_forward": forward_alone,
        "forward_alternating": timed["ours_forward"],
        "torch_forward": torch_forward,
        "gflops": None,
        "torch_gflops": None,
        "matmul_gflops": None,
    }


def training_step_case(rounds, rng, batch=256):
    """One SGD step of the CIFAR-10 milestone's network on a batch of 256, in every framework at hand."""
    channels = [(3, 32), (32, 64), (64, 128)]
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)

    def step_of(conv, norm, pool):
        layers = []
        for c_in, c_out in channels:  # conv, batch norm, max-pool, ReLU: the milestone's layer sizes
            layers += [conv(c_in, c_out, 3, padding=1, bias=False), norm(c_out), pool(2), ReLU()]
        model = Sequential(*layers, Flatten(), Linear(128 * 4 * 4, 10))
        optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        loss_fn = CrossEntropyLoss()

        def step():
            optimizer.zero_grad()
            loss_fn(model(Tensor(x)), Tensor(y)).backward()
            optimizer.step()

        return step

    functions = {"ours": step_of(Conv2d, BatchNorm2d, MaxPool2d)}
    if before is not None:
        functions["before"] = step_of(before.Conv2d, before.BatchNorm2d, before.MaxPool2d)
    if torch is not None:
        nn = torch.nn
        torch_layers = []
        for c_in, c_out in channels:
            torch_layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.MaxPool2d(2),
                nn.ReLU(),
            ]
        torch_model = nn.Sequential(*torch_layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 10))
        torch_optimizer = torch.optim.SGD(
            torch_model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4
        )
        x_torch, y_torch = torch.tensor(x), torch.tensor(y)

        def theirs():
            torch_optimizer.zero_grad()
            nn.functional.cross_entropy(torch_model(x_torch), y_torch).backward()
            torch_optimizer.step()

        functions["torch"] = theirs
    return alternate(functions, rounds)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = "unknown BLAS"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if pools:
        blas = f"{pools[0].get('internal_api')} {pools[0].get('version')} ({pools[0].get('architecture')} kernels)"
    return (
        f"{model}, {engine._available_cores()} cores available; Python {platform.python_version()}, NumPy "
        f"{np.__version__}, {blas}; tinytorch threads: {engine.get_num_threads()}"
        + (
            f"; torch {torch.__version__} threads: {torch.get_num_threads()} (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']})"
            if torch is not None
            else "; torch not installed"
        )
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed calls of each function (default 15)")
    parser.add_argument("--threads", type=int, default=None, help="threads for both frameworks (default: tinytorch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall-clock (default) or CPU seconds")
    parser.add_argument("--step", action="store_true", help="also time a CIFAR-10 training step (batch 256)")
    parser.add_argument("--cases", default="abcde", help="which cases to run, by letter (default abcde)")
    parser.add_argument(
        "--against", default=BEFORE, help=f"the commit whose layers fill ours/before (default {BEFORE})"
    )
    args = parser.parse_args(argv)
    global before
    before = layers_at(args.against)
    if args.rounds < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--rounds and --threads must be positive")
    if args.clock == "cpu":
        if args.threads != 1:
            parser.error("--clock cpu adds up the CPU time of all threads: use it with --threads 1")
        global CLOCK
        CLOCK = time.process_time
    if args.threads is not None:
        engine.set_num_threads(args.threads)
        if before is not None:
            before.set_num_threads(args.threads)
        threadpool_limits(limits=1, user_api="blas")  # one thread means one thread: BLAS too
    if torch is not None:
        torch.set_num_threads(engine.get_num_threads())
    # The allocator setting `tito milestone run` uses (both frameworks share it, in this one process):
    # freed memory stays in the heap, so short calls do not pay page faults on fresh memory.
    allocator = "malloc keeps freed memory" if tune_malloc() else "default malloc"
    rng = np.random.default_rng(0)

    print(machine())
    print(
        f"load average before: {os.getloadavg()[0]:.1f}; medians of {args.rounds} alternating runs, "
        f"{args.clock} clock; {allocator}\n"
    )
    header = f"{'case':37s} {'ours ms':>8s} {'before':>7s} {'ours/before':>11s} {'torch ms':>9s} {'ours/torch':>10s} {'loops s':>8s} {'loops/ours':>11s} {'GFLOP/s':>8s} {'torch':>6s} {'matmul':>7s}"
    print(header)
    print("-" * len(header))
    results = []
    cases = [
        (name, lambda s=shape, o=oc, k=k, p=p: conv_case(s, o, k, p, args.rounds, rng))
        for name, shape, oc, k, p in CONV_CASES
    ]
    cases.append((POOL_CASE[0], lambda: pool_case(POOL_CASE[1], args.rounds, rng)))
    cases = [(name, run) for name, run in cases if name[0] in args.cases]
    for name, run in cases:
        r = run()
        results.append((name, r))
        ratio = f"{r['ours'] / r['torch']:10.2f}" if r["torch"] else f"{'-':>10s}"
        torch_ms = f"{r['torch'] * 1e3:9.2f}" if r["torch"] else f"{'-':>9s}"

        def number(value, width, digits=1):
            return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}s}"

        old_ms = f"{r['before'] * 1e3:7.2f}" if r["before"] else f"{'-':>7s}"
        old_ratio = f"{r['ours'] / r['before']:11.2f}" if r["before"] else f"{'-':>11s}"
        print(
            f"{name:37s} {r['ours'] * 1e3:8.2f} {old_ms} {old_ratio} {torch_ms} {ratio} {r['loops']:8.1f} "
            f"{r['loops'] / r['ours_forward']:10,.0f}x {number(r['gflops'], 8)} {number(r['torch_gflops'], 6)} "
            f"{number(r['matmul_gflops'], 7)}"
        )
    for name, r in results:
        if "forward_alternating" in r:
            yardstick = (
                f"; PyTorch's channels-last max-pool forward, alone: {r['torch_forward'] * 1e3:.2f} ms"
                if r["torch_forward"]
                else ""
            )
            others = "PyTorch's calls" if r["torch"] else "our forward + backward"
            print(
                f"\n{name.split(')')[0]}) forward pass alone {r['ours_forward'] * 1e3:.2f} ms, alternating with {others} "
                f"{r['forward_alternating'] * 1e3:.2f} ms (they evict its input, and pooling runs at memory "
                f"speed){yardstick}"
            )
    if args.step:
        step = training_step_case(args.rounds, rng)
        ratio = (
            f", {step['ours'] / step['torch']:.2f}x PyTorch's {step['torch'] * 1e3:.0f} ms" if "torch" in step else ""
        )
        ratio += (
            f", {step['ours'] / step['before']:.2f}x before's {step['before'] * 1e3:.0f} ms" if "before" in step else ""
        )
        print(f"\nCIFAR-10 training step, the milestone's layer sizes, batch 256: {step['ours'] * 1e3:.0f} ms{ratio}")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    print("loops/ours compares forward passes, each timed on its own (the loop versions have no backward pass).")
    slowest = max((r["ours"] / r["before"] for name, r in results if r["before"] and "conv" in name), default=None)
    if slowest is not None:
        print(f"slowest convolution against the layers before the chapter: {slowest:.2f}x (target: at most 1.25x)")
    worst = max((r["ours"] / r["torch"] for _, r in results if r["torch"]), default=None)
    fewest = min(r["loops"] / r["ours_forward"] for _, r in results)
    if worst is not None:
        print(f"slowest case against PyTorch: {worst:.2f}x (target: at most 2x)")
    print(f"smallest speed-up over the loops: {fewest:,.0f}x (target: at least 1,000x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

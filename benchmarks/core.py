"""What the framework costs: TinyTorch against the same computation in plain NumPy, and against torch.

Cases (float32, batch 128):
- Linear 784->256 forward + backward, as a first layer (no input gradient) and as a hidden layer;
- one training step of a 784-256-10 MLP (ReLU, cross-entropy, SGD with momentum 0.9).

The NumPy version of each case is the hand-written minimum: the same matrix multiplies and
elementwise work, no graph, no objects. TinyTorch / NumPy is the framework's overhead; TinyTorch /
torch compares with a production framework using the same number of threads. Each repeat runs every
implementation once, in rotating order, and the table shows medians, so a burst of noise on a shared
machine hits all of them alike.

    python benchmarks/core.py [--repeats 200] [--threads N]

--threads sets OpenBLAS's threads for NumPy (before NumPy is imported) and torch.set_num_threads;
by default both use OPENBLAS_NUM_THREADS if it is set, else every core this process may run on.
On a machine busier than its core count, multi-threaded BLAS spins and stalls (a 0.5 ms GEMM can take
50 ms): the script prints the load average, and --threads 1 gives steadier ratios there. torch is
optional: without it the torch column is left out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed runs of each implementation (default 200)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS / torch threads (default: all usable cores)")
    args = parser.parse_args()
    if args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats and --threads must be positive.")
    return args


ARGS = parse_args() if __name__ == "__main__" else argparse.Namespace(repeats=200, threads=None)


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


THREADS = ARGS.threads or int(os.environ.get("OPENBLAS_NUM_THREADS", 0)) or _usable_cores()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(THREADS)  # must precede the NumPy import to take effect

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinytorch  # noqa: E402,F401  (fills autograd's hook in tinytorch/tensor.py)
from tinytorch import Tensor  # noqa: E402
from tinytorch.nn import (  # noqa: E402
    CrossEntropyLoss,
    Linear,
    ReLU,
    Sequential,
)
from tinytorch.optim import SGD  # noqa: E402

# PyTorch's OpenMP threads spin after each call, holding a core, so in alternating runs whatever runs
# next loses its second thread (benchmarks/spatial.py measured this). PASSIVE makes them sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
except ImportError:
    torch = None

BATCH, IN, HIDDEN, OUT = 128, 784, 256, 10
LR, MOMENTUM = 0.01, 0.9


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, IN), dtype=np.float32)
    grad_out = rng.standard_normal((BATCH, HIDDEN), dtype=np.float32)
    labels = rng.integers(0, OUT, size=BATCH)
    return x, grad_out, labels


# --- Linear forward + backward -------------------------------------------------------------------
def linear_cases(input_grad: bool):
    """{implementation: function} for one Linear forward and backward with a given output gradient."""
    x, grad_out, _ = data()
    layer = Linear(IN, HIDDEN)
    x_tt, g_tt = Tensor(x, requires_grad=input_grad), Tensor(grad_out)

    def tinytorch_linear():
        layer.zero_grad()
        x_tt.grad = None
        layer(x_tt).backward(g_tt)

    weight, bias = layer.weight.data.copy(), layer.bias.data.copy()

    def numpy_linear():
        out = x @ weight.T + bias
        grad_w = grad_out.T @ x
        grad_b = grad_out.sum(axis=0)
        grad_x = grad_out @ weight if input_grad else None
        return out, grad_w, grad_b, grad_x

    cases = {"tinytorch": tinytorch_linear, "numpy": numpy_linear}
    if torch is not None:
        t_layer = torch.nn.Linear(IN, HIDDEN)
        t_x = torch.from_numpy(x).requires_grad_(input_grad)
        t_g = torch.from_numpy(grad_out)

        def torch_linear():
            t_layer.zero_grad(set_to_none=True)
            t_x.grad = None
            t_layer(t_x).backward(t_g)

        cases["torch"] = torch_linear
    return cases


# --- MLP training step ---------------------------------------------------------------------------
def mlp_cases():
    """{implementation: function} for one SGD-momentum training step of a 784-256-10 MLP."""
    x, _, labels = data()
    model = Sequential(Linear(IN, HIDDEN), ReLU(), Linear(HIDDEN, OUT))
    optimizer = SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = CrossEntropyLoss()
    x_tt, y_tt = Tensor(x), Tensor(labels)

    def tinytorch_step():
        optimizer.zero_grad()
        loss = loss_fn(model(x_tt), y_tt)
        loss.backward()
        optimizer.step()

    params = [p.data.copy() for p in model.parameters()]  # w1, b1, w2, b2
    velocity = [np.zeros_like(p) for p in params]
    rows = np.arange(BATCH)

    def numpy_step():
        w1, b1, w2, b2 = params
        hidden = x @ w1.T + b1
        active = np.maximum(hidden, 0)
        logits = active @ w2.T + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, labels]))
        grad_logits = exp / total
        grad_logits[rows, labels] -= 1.0
        grad_logits *= 1.0 / BATCH
        grad_active = grad_logits @ w2
        grad_hidden = grad_active * (hidden > 0)
        grads = (grad_hidden.T @ x, grad_hidden.sum(axis=0), grad_logits.T @ active, grad_logits.sum(axis=0))
        for param, v, g in zip(params, velocity, grads):
            v *= MOMENTUM
            v += g
            param -= LR * v
        return loss

    cases = {"tinytorch": tinytorch_step, "numpy": numpy_step}
    if torch is not None:
        t_model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))
        t_optimizer = torch.optim.SGD(t_model.parameters(), lr=LR, momentum=MOMENTUM)
        t_loss = torch.nn.CrossEntropyLoss()
        t_x, t_y = torch.from_numpy(x), torch.from_numpy(labels)

        def torch_step():
            t_optimizer.zero_grad(set_to_none=True)
            loss = t_loss(t_model(t_x), t_y)
            loss.backward()
            t_optimizer.step()

        cases["torch"] = torch_step
    return cases


# --- timing --------------------------------------------------------------------------------------
def alternating_medians(cases: dict, repeats: int, warmup: int = 10) -> dict:
    """Median seconds per implementation; every repeat runs each once, in rotating order."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    if torch is not None:
        torch.set_num_threads(THREADS)
    versions = f"numpy {np.__version__}" + (
        f", torch {torch.__version__}" if torch is not None else ", torch not installed"
    )
    print(
        f"TinyTorch core benchmark: float32, batch {BATCH}, {THREADS} thread(s), median of {ARGS.repeats} "
        f"alternating runs ({versions})"
    )
    if hasattr(os, "getloadavg"):
        load, cores = os.getloadavg()[0], _usable_cores()
        busy = "; busier than its cores, so expect noise" if load > cores else ""
        print(f"load average {load:.1f} on {cores} core(s){busy}")
    suites = [
        ("Linear 784->256 fwd+bwd, first layer", linear_cases(input_grad=False)),
        ("Linear 784->256 fwd+bwd, hidden layer", linear_cases(input_grad=True)),
        ("MLP 784-256-10 SGD training step", mlp_cases()),
    ]
    columns = ["tinytorch", "numpy"] + (["torch"] if torch is not None else [])
    header = f"{'case':<40}" + "".join(f"{name:>11}" for name in columns) + f"{'tt/numpy':>10}"
    header += f"{'tt/torch':>10}" if torch is not None else ""
    print(header)
    for title, cases in suites:
        medians = alternating_medians(cases, ARGS.repeats)
        row = f"{title:<40}" + "".join(f"{1e3 * medians[name]:>8.3f} ms" for name in columns)
        row += f"{medians['tinytorch'] / medians['numpy']:>9.2f}x"
        if torch is not None:
            row += f"{medians['tinytorch'] / medians['torch']:>9.2f}x"
        print(row)
    print(
        "tt/numpy is the framework's overhead over hand-written NumPy; tt/torch compares with PyTorch on the same threads."
    )


if __name__ == "__main__":
    main()

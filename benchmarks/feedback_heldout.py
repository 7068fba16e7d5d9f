"""A second, held-out bug catalogue: mistakes that benchmarks/feedback.py does not make.

benchmarks/feedback.py plants mechanical AST mutants (operator swaps, dropped terms, axis/keepdims,
dropped transposes, off-by-one bounds, swapped call arguments). The bugs here are written by hand, one
edit of a solution line each, of kinds that catalogue never makes:

    constant     a wrong constant: 0.5 for 2, an eps of 0, a missing square root, beta1 for beta2
    initial      a wrong initial value or threshold
    slice        a reversed, shifted or misplaced slice
    dtype        a wrong dtype or integer/float division
    swap         returned values or tuple indices swapped
    reduction    sum for mean or mean for sum, a biased for an unbiased estimate
    return       a missing `return`
    inplace      in-place against copy: a rebinding that loses shared state, a missing .copy()
    stale        a stale value: a result never stored, a step skipped, state never updated
    gradient     a hand-written gradient-rule mistake: a sign, a missing chain-rule factor,
                 a missing broadcasting undo, overwriting instead of accumulating

Each is planted in a copy of the course, `tito test NN --all-failures` runs on it, and the outcome is
judged exactly as benchmarks/feedback.py judges its own (caught, located, groups, raw traceback).

    python benchmarks/feedback_heldout.py [--module 01 ...] [--list] [-v] [--show N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from feedback import (  # noqa: E402
    EQUIVALENT,
    Mutant,
    copy_course,
    load_course,
    report,
    run_mutants,
)

# (module id, kind, the solution text, its mistaken version)
BUGS: list[tuple[str, str, str, str]] = [
    # 01 tensor
    (
        "01",
        "reduction",
        "np.sum(self.data, axis=axis, keepdims=keepdims)",
        "np.mean(self.data, axis=axis, keepdims=keepdims)",
    ),
    ("01", "return", "return Tensor._wrap(self.data / other.data)", "Tensor._wrap(self.data / other.data)"),
    ("01", "dtype", "Tensor._wrap(np.exp(self.data))", "Tensor._wrap(np.exp(self.data).astype(np.float32))"),
    (
        "01",
        "slice",
        "return Tensor._wrap(self.data.reshape(shape))",
        "return Tensor._wrap(self.data.reshape(shape[::-1]))",
    ),
    # 02 activations
    ("02", "swap", "return top / ((-shift).exp() + top)", "return (-shift).exp() / ((-shift).exp() + top)"),
    ("02", "constant", "sigmoid(as_tensor(x) * 2) * 2 - 1", "sigmoid(as_tensor(x) * 0.5) * 2 - 1"),
    (
        "02",
        "reduction",
        "return exps / exps.sum(axis=dim, keepdims=True)",
        "return exps / exps.mean(axis=dim, keepdims=True)",
    ),
    ("02", "stale", "                seen.add(id(param))\n", ""),
    ("02", "inplace", "own[key].data[...] = array", "own[key].data = array"),
    # 03 layers
    ("03", "constant", "bound = 1.0 / math.sqrt(self.in_features)", "bound = 1.0 / self.in_features"),
    ("03", "constant", "math.sqrt(6.0 / (fan_in + fan_out))", "math.sqrt(2.0 / (fan_in + fan_out))"),
    ("03", "constant", "mask *= x.dtype.type(1.0 / (1.0 - self.p))", "mask *= x.dtype.type(1.0 - self.p)"),
    ("03", "stale", "            x = layer(x)\n        return x", "            out = layer(x)\n        return x"),
    # 04 losses
    ("04", "swap", "_reduce((prediction - target) ** 2,", "_reduce((target - prediction) ** 2,"),
    ("04", "swap", "q[np.arange(n), array] = 1.0", "q[array, np.arange(n)] = 1.0"),
    (
        "04",
        "reduction",
        "per_example = -(log_softmax(logits, dim=1) * q).sum(axis=1)",
        "per_example = -(log_softmax(logits, dim=1) * q).mean(axis=1)",
    ),
    ("04", "constant", "p = p.clip(BCE_EPS, 1.0 - BCE_EPS)", "p = p.clip(0.0, 1.0)"),
    ("04", "gradient", "losses = softplus(x) - t * x", "losses = softplus(-x) - t * x"),
    # 05 autograd
    ("05", "gradient", "return grad_a, -grad_a * a / b", "return grad_a, -grad * a / b"),
    (
        "05",
        "gradient",
        "parent_grad = unbroadcast(np.asarray(parent_grad), parent.shape)",
        "parent_grad = np.asarray(parent_grad)",
    ),
    (
        "05",
        "gradient",
        "(out,) = self.saved\n        return (grad * out,)",
        "(out,) = self.saved\n        return (out,)",
    ),
    (
        "05",
        "stale",
        "grads[key] = parent_grad if key not in grads else grads[key] + parent_grad",
        "grads[key] = parent_grad",
    ),
    ("05", "gradient", "share = winners / winners.sum(axis=axis, keepdims=True)", "share = winners"),
    # 06 optimizers
    ("06", "inplace", "velocity *= momentum\n", "velocity = velocity * momentum\n"),
    ("06", "constant", "np.sqrt(v) / math.sqrt(1.0 - beta2**t) + eps", "np.sqrt(v) / (1.0 - beta2**t) + eps"),
    ("06", "constant", "m += (1.0 - beta1) * grad", "m += (1.0 - beta2) * grad"),
    ("06", "constant", "param *= 1.0 - lr * decay", "param *= 1.0 - decay"),
    # 07 training
    (
        "07",
        "constant",
        "total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))",
        "total = sum(float(np.vdot(g, g)) for g in grads)",
    ),
    ("07", "dtype", "self.gamma ** (t // self.step_size)", "self.gamma ** (t / self.step_size)"),
    ("07", "constant", "(1 + math.cos(math.pi * t / self.T_max)) / 2", "(1 - math.cos(math.pi * t / self.T_max)) / 2"),
    ("07", "initial", "predicted = outputs.reshape(-1) > 0\n", "predicted = outputs.reshape(-1) > 0.5\n"),
    ("07", "stale", "            self.optimizer.zero_grad()\n", ""),
    # 08 dataloader
    (
        "08",
        "slice",
        "order[batch * self.batch_size : (batch + 1) * self.batch_size]",
        "order[batch : batch + self.batch_size]",
    ),
    ("08", "swap", "windows[np.arange(n), :, top, left]", "windows[np.arange(n), :, left, top]"),
    ("08", "slice", "images[..., ::-1], images)", "images[..., ::-1, :], images)"),
    ("08", "constant", "(1.0 / self.std).reshape(shape)", "self.std.reshape(shape)"),
    # 09 spatial
    ("09", "constant", "positions = (size + 2 * padding -", "positions = (size + padding -"),
    ("09", "swap", "axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]", "axis=(1, 2))[:, ::sw, ::sh, :, ::dh, ::dw]"),
    (
        "09",
        "reduction",
        "dbias = np.ones(dout.shape[0], dtype=dout.dtype) @ dout",
        "dbias = np.ones(dout.shape[0], dtype=dout.dtype) @ dout / dout.shape[0]",
    ),
    (
        "09",
        "inplace",
        "total = _window_values(padded, (0, 0), stride, out_size).copy()",
        "total = _window_values(padded, (0, 0), stride, out_size)",
    ),
    ("09", "reduction", "var = ones @ (centred * centred) / count", "var = ones @ (centred * centred) / (count - 1)"),
    (
        "09",
        "inplace",
        "_window_values(dx, offset, stride, out_size)[...] += grad * (winner == index)",
        "_window_values(dx, offset, stride, out_size)[...] = grad * (winner == index)",
    ),
    (
        "09",
        "stale",
        "        field += dilation * (kernel - 1) * jump\n        jump *= stride",
        "        jump *= stride\n        field += dilation * (kernel - 1) * jump",
    ),
]

# Held-out mutants judged equivalent: (module id, function, change) -> why no test can tell them apart.
HELD_OUT_EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("04", "mse_loss", "_reduce((prediction - target) ** 2, -> _reduce((target - prediction) ** 2,"): (
        "(a - b) ** 2 == (b - a) ** 2 exactly in floating point, and autograd's gradients agree too"
    ),
}


def _describe(old: str, new: str) -> str:
    return f"{old.strip()} -> {new.strip() or '(line removed)'}".replace("\n", " ")


def plant(module_id: str, path: Path) -> list[Mutant]:
    """The catalogue's bugs for one module, each as a whole mutated module file."""
    from feedback import function_at

    text = path.read_text(encoding="utf-8")
    mutants = []
    for bug_module, kind, old, new in BUGS:
        if bug_module != module_id:
            continue
        if text.count(old) != 1:
            raise SystemExit(f"{path.name}: {old!r} occurs {text.count(old)} times, not once")
        offset = text.index(old) + (len(old) - len(old.lstrip()))
        line = text.count("\n", 0, offset) + 1
        holder = function_at(text, line)
        mutants.append(
            Mutant(module_id, holder[0] if holder else "?", kind, _describe(old, new), line, text.replace(old, new))
        )
    return mutants


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="Only this module (repeatable): 01, 9, tensor...")
    parser.add_argument("--timeout", type=float, default=300, help="Seconds for one tito test run.")
    parser.add_argument("--list", action="store_true", help="List the bugs; run nothing.")
    parser.add_argument("--show", type=int, default=0, help="Show this many lines of output for each miss.")
    parser.add_argument("-v", "--verbose", action="store_true", help="One line per bug as it runs.")
    args = parser.parse_args()
    EQUIVALENT.update(HELD_OUT_EQUIVALENT)
    course = load_course(ROOT.parent)
    modules = [course.module(key) for key in args.module] if args.module else list(course.modules)
    workdir = Path(tempfile.mkdtemp(prefix="tito-heldout-"))
    results = {}
    try:
        copy_course(workdir)
        for module in modules:
            source = module.source.relative_to(ROOT.parent).as_posix()
            mutants = plant(module.id, module.source)
            if args.list:
                for m in mutants:
                    print(f"{m.module} {m.function:28} {m.kind:9} line {m.line}: {m.change}")
                continue
            if not mutants:
                continue
            outcomes = run_mutants(workdir, module, source, mutants, args.timeout, args.verbose)
            if outcomes is not None:
                results[module.id] = outcomes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.list:
        report(results, args.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

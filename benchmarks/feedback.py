"""The bug catalogue: does `tito test NN` catch a realistic bug, and send the student to it?

Works on a copy of this course (the reference edition, every solution written). For each module it
plants one bug at a time in a solution block, made mechanically by AST mutation operators (not a hand
list):

    operator   `+` <-> `-`, `*` <-> `/`, `@` -> `*`, `**` -> `*`; `<` <-> `<=`, `>` <-> `>=`, `==` <-> `!=`;
               `and` <-> `or`; True <-> False
    term       `a + b` / `a - b` -> `a` (a dropped bias, a dropped max-shift); `-x` -> `x`
    axis       axis=/dim= k -> another axis, or dropped; keepdims=... -> False, or dropped
    transpose  `x.T` -> `x`; `x.transpose(...)` -> `x`
    bound      a bound in a slice, range() or an ordering comparison: k -> k + 1 (off by one)
    arguments  the first two positional arguments of a call swapped

A function gets up to --per-function mutants, kinds in turn. Each is written into the copy and
`tito test NN --all-failures` runs on it (one at a time: two cores are shared). From the output:

    caught     tito test failed
    located    the first `modules/...py:LINE` the output shows is in the module file, inside the
               function that holds the bug (the first line a student reads names that place)
    groups     failure groups shown (lines starting FAILED or ERROR)
    traceback  a raw Python traceback was printed

Survivors are listed with their change, those judged equivalent (no behaviour can tell them from the
original) in EQUIVALENT, with the reason. Targets: caught >= 95% of the non-equivalent bugs, located
>= 90% of those caught, at most 3 groups for one bug, no raw traceback.

    python benchmarks/feedback.py [--module 01 ...] [--limit N] [--per-function K] [--list] [-v]

Run time: about 2 to 5 s per bug on a quiet core (module 09 is the slowest); --limit caps the bugs
per module, --module picks modules. Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tito.course import load_course  # noqa: E402
from tito.release.solutions import find_blocks  # noqa: E402

COPIED = ("course.yaml", "conftest.py", "pyproject.toml", "modules", "tests", "tinytorch", "datasets")
PLACE = re.compile(r"(modules/[\w./-]+\.py):(\d+)")
GROUP = re.compile(r"^(FAILED|ERROR) ", re.MULTILINE)

# Mutants judged equivalent: (module id, function, change) -> why no test can tell them apart.
UNIFORM = "np.random.uniform(-bound, bound, size={0}) -> np.random.uniform(bound, -bound, size={0})"
SAME_DRAW = "NumPy's uniform(high, low) draws from the same interval with the same distribution"
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("03", "kaiming_uniform", UNIFORM.format("shape")): SAME_DRAW,
    ("03", "xavier_uniform", UNIFORM.format("shape")): SAME_DRAW,
    ("03", "Linear.__init__", UNIFORM.format("self.out_features")): SAME_DRAW,
    ("09", "maxpool2d_loops", "value > best -> value >= best"): "a tie keeps the same largest value",
    (
        "05",
        "run_backward",
        "parent_grad is None or not parent.requires_grad -> parent_grad is None and (not parent.requires_grad)",
    ): ("an operation returns None exactly for the inputs that do not require a gradient, so both tests agree"),
}


@dataclass
class Mutant:
    module: str  # "01"
    function: str  # "Tensor.mean"
    kind: str
    change: str  # "keepdims=keepdims -> keepdims=False" (line N)
    line: int
    text: str  # the whole mutated module file


@dataclass
class Outcome:
    mutant: Mutant
    caught: bool
    located: bool
    groups: int
    traceback: bool
    first: str  # the first line of the output that names a place
    seconds: float
    output: str = ""


# --- mutation operators -------------------------------------------------------------------------
SWAP_OPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.MatMult: ast.Mult,
    ast.Pow: ast.Mult,
}
SWAP_COMPARE = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
AXIS_WORDS = ("axis", "dim", "axes")
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _variants(node: ast.AST):
    """(kind, replacement node) for each bug the operators can plant at `node`."""
    if isinstance(node, ast.BinOp):
        if type(node.op) in SWAP_OPS:
            yield "operator", ast.BinOp(node.left, SWAP_OPS[type(node.op)](), node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            yield "term", node.left
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAP_COMPARE:
        yield "operator", ast.Compare(node.left, [SWAP_COMPARE[type(node.ops[0])]()], node.comparators)
    elif isinstance(node, ast.BoolOp):
        yield "operator", ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        if not isinstance(node.operand, ast.Constant):
            yield "term", node.operand
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "operator", ast.Constant(not node.value)
    elif isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
        yield "transpose", node.value
    elif isinstance(node, ast.Call):
        yield from _call_variants(node)


def _call_variants(node: ast.Call):
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in ("transpose", "swapaxes", "permute"):
        if isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy"):
            if node.args:
                yield "transpose", node.args[0]
        else:
            yield "transpose", func.value
    for index, keyword in enumerate(node.keywords):
        others = node.keywords[:index] + node.keywords[index + 1 :]
        if keyword.arg in AXIS_WORDS:
            yield "axis", ast.Call(func, node.args, others)
            value = keyword.value
            if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
                changed = ast.keyword(keyword.arg, ast.Constant(0 if value.value != 0 else 1))
                yield "axis", ast.Call(func, node.args, [*others[:index], changed, *others[index:]])
        elif keyword.arg == "keepdims":
            yield "keepdims", ast.Call(func, node.args, others)
            if not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                changed = ast.keyword("keepdims", ast.Constant(False))
                yield "keepdims", ast.Call(func, node.args, [*others[:index], changed, *others[index:]])
    if len(node.args) >= 2 and not any(isinstance(arg, ast.Starred) for arg in node.args[:2]):
        first, second = node.args[0], node.args[1]
        yield "arguments", ast.Call(func, [second, first, *node.args[2:]], node.keywords)


def _bound_variants(tree: ast.AST):
    """Integers in slices, range() calls and comparisons, each one off by one: (node, replacement)."""
    for node in ast.walk(tree):
        places: list[ast.AST] = []
        if isinstance(node, ast.Slice):
            places = [part for part in (node.lower, node.upper) if part is not None]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
            places = list(node.args)
        elif isinstance(node, ast.Compare) and all(isinstance(op, ORDERING) for op in node.ops):
            places = [node.left, *node.comparators]
        for place in places:
            if isinstance(place, ast.Constant) and type(place.value) is int:
                yield place, ast.Constant(place.value + 1)
            elif not isinstance(place, ast.Constant):
                yield place, ast.BinOp(place, ast.Add(), ast.Constant(1))


# --- planting -------------------------------------------------------------------------------------
def _offsets(text: str) -> list[int]:
    """The byte offset of each line's start (AST columns are UTF-8 byte offsets)."""
    starts, total = [0], 0
    for line in text.encode("utf-8").splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def _replace(text: str, node: ast.AST, replacement: ast.AST) -> str:
    data = text.encode("utf-8")
    starts = _offsets(text)
    begin = starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
    end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
    new = ast.unparse(replacement)
    if isinstance(replacement, (ast.BinOp, ast.BoolOp, ast.Compare, ast.UnaryOp)):
        new = f"({new})"
    return (data[:begin] + new.encode("utf-8") + data[end:]).decode("utf-8")


def _functions(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


def function_at(text: str, line: int) -> tuple[str, int, int] | None:
    """(qualified name, first line, last line) of the innermost function holding `line`."""
    best = None
    for name, node in _functions(ast.parse(text)):
        if node.lineno <= line <= node.end_lineno and (best is None or node.lineno > best[1]):
            best = (name, node.lineno, node.end_lineno)
    return best


def plant(module_id: str, path: Path, per_function: int) -> list[Mutant]:
    """Up to `per_function` mutants for each function holding a solution block, kinds in turn."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    blocks = [(block.begin, block.end) for block in find_blocks(text, str(path))]
    mutants: list[Mutant] = []
    for name, function in _functions(tree):
        inside = [(b, e) for b, e in blocks if function.lineno <= b <= function.end_lineno]
        if not inside or name.rsplit(".", 1)[-1].startswith("test_"):
            continue

        def in_block(node, inside=inside) -> bool:
            first, last = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0)
            return any(b < first and last < e for b, e in inside)

        by_kind: dict[str, list[tuple[ast.AST, ast.AST]]] = {}
        for node in ast.walk(function):
            if in_block(node):
                for kind, replacement in _variants(node):
                    by_kind.setdefault(kind, []).append((node, replacement))
        for node, replacement in _bound_variants(function):
            if in_block(node):
                by_kind.setdefault("bound", []).append((node, replacement))
        chosen = _round_robin(by_kind, per_function, text)
        for kind, node, replacement in chosen:
            new = _replace(text, node, replacement)
            old_code, new_code = ast.get_source_segment(text, node), ast.unparse(replacement)
            change = f"{old_code} -> {new_code}".replace("\n", " ")
            mutants.append(Mutant(module_id, name, kind, change, node.lineno, new))
    return mutants


def _round_robin(by_kind, limit: int, text: str):
    """One of each kind in turn, skipping changes that compile to the same code."""
    chosen, seen = [], set()
    queues = {kind: list(items) for kind, items in sorted(by_kind.items())}
    while len(chosen) < limit and any(queues.values()):
        for kind in list(queues):
            while queues[kind]:
                node, replacement = queues[kind].pop(0)
                try:
                    new = _replace(text, node, replacement)
                    compiled = ast.dump(ast.parse(new))
                except SyntaxError:
                    continue
                if compiled in seen or compiled == ast.dump(ast.parse(text)):
                    continue
                seen.add(compiled)
                chosen.append((kind, node, replacement))
                break
            if len(chosen) >= limit:
                break
    return chosen


# --- running --------------------------------------------------------------------------------------
def copy_course(target: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb*"))
        elif source.is_file():
            shutil.copy2(source, target / name)


def run_tito(course: Path, module_id: str, timeout: float) -> tuple[int, str, float]:
    env = dict(os.environ, TITO_COURSE_ROOT=str(course), COLUMNS="250", NO_COLOR="1", TERM="dumb")
    started = time.perf_counter()
    command = [sys.executable, "-m", "tito", "test", module_id, "--all-failures", "--timeout", str(int(timeout))]
    try:
        done = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=timeout + 30)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = 124, f"{exc.stdout or ''}{exc.stderr or ''}"
    return code, output, time.perf_counter() - started


def judge(mutant: Mutant, source: str, code: int, output: str, seconds: float) -> Outcome:
    place = PLACE.search(output)
    located = False
    first = ""
    if place:
        first = next(line for line in output.splitlines() if place.group(0) in line).strip()
        holder = function_at(mutant.text, mutant.line)
        line = int(place.group(2))
        located = place.group(1) == source and holder is not None and holder[1] <= line <= holder[2]
    return Outcome(
        mutant,
        caught=code != 0,
        located=located,
        groups=len(GROUP.findall(output)),
        traceback="Traceback (most recent call last)" in output,
        first=first,
        seconds=seconds,
        output=output,
    )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="Only this module (repeatable): 01, 9, tensor...")
    parser.add_argument("--limit", type=int, default=None, help="At most this many bugs per module.")
    parser.add_argument("--per-function", type=int, default=2, help="Bugs planted per solution function.")
    parser.add_argument("--timeout", type=float, default=300, help="Seconds for one tito test run.")
    parser.add_argument("--list", action="store_true", help="List the bugs; run nothing.")
    parser.add_argument("--show", type=int, default=0, help="Show this many lines of output for each miss.")
    parser.add_argument("-v", "--verbose", action="store_true", help="One line per bug as it runs.")
    return parser.parse_args()


def run_mutants(workdir: Path, module, source: str, mutants: list, timeout: float, verbose: bool) -> list | None:
    """Plant each mutant in turn in the copy's module file and judge `tito test` on it; None when the
    unchanged copy already fails its tests. The original file is put back and exported again."""
    target = workdir / source
    original = target.read_text(encoding="utf-8")
    code, output, _ = run_tito(workdir, module.id, timeout)
    if code != 0:
        print(f"{module.name}: the unchanged copy fails its tests; skipped.\n{output[-2000:]}")
        return None
    outcomes = []
    try:
        for mutant in mutants:
            target.write_text(mutant.text, encoding="utf-8")
            code, output, seconds = run_tito(workdir, module.id, timeout)
            outcomes.append(judge(mutant, source, code, output, seconds))
            if verbose:
                print(_line(outcomes[-1]), flush=True)
    finally:
        target.write_text(original, encoding="utf-8")
    run_tito(workdir, module.id, timeout)  # export the original again for later modules
    return outcomes


def main() -> int:
    args = parse_args()
    course = load_course(ROOT)
    modules = [course.module(key) for key in args.module] if args.module else list(course.modules)
    workdir = Path(tempfile.mkdtemp(prefix="tito-feedback-"))
    results: dict[str, list[Outcome]] = {}
    try:
        copy_course(workdir)
        for module in modules:
            source = module.source.relative_to(ROOT).as_posix()
            mutants = plant(module.id, module.source, args.per_function)[: args.limit]
            if args.list:
                for m in mutants:
                    print(f"{m.module} {m.function:32} {m.kind:10} line {m.line}: {m.change}")
                continue
            outcomes = run_mutants(workdir, module, source, mutants, args.timeout, args.verbose)
            if outcomes is not None:
                results[module.id] = outcomes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.list:
        report(results, args.show)
    return 0


def _line(outcome: Outcome) -> str:
    m = outcome.mutant
    state = "located" if outcome.located else ("caught" if outcome.caught else "SURVIVED")
    if not outcome.caught and (m.module, m.function, m.change) in EQUIVALENT:
        state = "equivalent"
    extra = f" groups={outcome.groups}" + (" TRACEBACK" if outcome.traceback else "")
    return f"{m.module} {m.function}:{m.line} [{m.kind}] {m.change[:70]} -> {state}{extra} | {outcome.first[:110]}"


def report(results: dict[str, list[Outcome]], show: int = 0) -> None:
    rows = []
    totals = {"planted": 0, "equivalent": 0, "caught": 0, "located": 0, "tracebacks": 0, "groups": []}
    for module_id, outcomes in results.items():
        equivalent = [
            o for o in outcomes if not o.caught and (o.mutant.module, o.mutant.function, o.mutant.change) in EQUIVALENT
        ]
        caught = [o for o in outcomes if o.caught]
        located = [o for o in caught if o.located]
        groups = [o.groups for o in caught]
        rows.append(
            (
                module_id,
                len(outcomes),
                len(equivalent),
                len(caught),
                len(located),
                statistics.median(groups) if groups else 0,
                max(groups, default=0),
                sum(o.traceback for o in outcomes),
            )
        )
        totals["planted"] += len(outcomes)
        totals["equivalent"] += len(equivalent)
        totals["caught"] += len(caught)
        totals["located"] += len(located)
        totals["tracebacks"] += sum(o.traceback for o in outcomes)
        totals["groups"] += groups
    print("| Module | Planted | Equivalent | Caught | Located | Groups (median / max) | Raw tracebacks |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for module_id, planted, equivalent, caught, located, median, most, tracebacks in rows:
        real = planted - equivalent
        print(
            f"| {module_id} | {planted} | {equivalent} | {caught} of {real} ({_pct(caught, real)}) | "
            f"{located} of {caught} ({_pct(located, caught)}) | {median:g} / {most} | {tracebacks} |"
        )
    real = totals["planted"] - totals["equivalent"]
    groups = totals["groups"]
    print(
        f"| all | {totals['planted']} | {totals['equivalent']} | {totals['caught']} of {real} "
        f"({_pct(totals['caught'], real)}) | {totals['located']} of {totals['caught']} "
        f"({_pct(totals['located'], totals['caught'])}) | "
        f"{statistics.median(groups) if groups else 0:g} / {max(groups, default=0)} | {totals['tracebacks']} |"
    )
    misses = [
        o
        for outcomes in results.values()
        for o in outcomes
        if not (o.caught and o.located and o.groups <= 3 and not o.traceback)
    ]
    if misses:
        print("\nNot caught, not located, more than 3 groups, or a traceback:")
        for outcome in misses:
            print("  " + _line(outcome))
            if show and outcome.caught:
                print("\n".join("      | " + line for line in outcome.output.splitlines()[:show]))


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


if __name__ == "__main__":
    raise SystemExit(main())

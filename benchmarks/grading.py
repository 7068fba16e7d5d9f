"""What grading costs: seconds per module run with and without the bubblewrap sandbox, and a class.

1. The sandbox alone: `python -I -c "import numpy"` started directly and inside bwrap (with the mounts
   and namespaces a graded run gets), alternating, `--repeats` times each; the medians and their
   difference are the sandbox's own start-up cost.
2. Per module: the reference files of this course graded `--repeats` times, once in the sandbox and
   once with --no-sandbox (the in-process guard), alternating; medians of the run's wall time (start
   to last record, the process's import and checks included).
3. A class: `--students` copies of the reference submission graded on all nine modules with
   `--workers` runs at a time, timed end to end (the grading kit, reference batches and reports
   included), then extrapolated linearly to 100 students: the figure for 100 is an extrapolation
   from that measured sample, and the script says so.

    python benchmarks/grading.py [--repeats 5] [--students 8] [--workers N]

Needs bubblewrap (`apt-get install bubblewrap`). Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tito.course import load_course  # noqa: E402
from tito.grading.grader import grade_students  # noqa: E402
from tito.grading.kit import build_kit  # noqa: E402
from tito.grading.sandbox import Sandbox  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per module and mode (default 5)")
    parser.add_argument("--students", type=int, default=8, help="students in the measured class sample (default 8)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="runs at once (default: CPU count)")
    args = parser.parse_args()
    if min(args.repeats, args.students, args.workers) < 1:
        parser.error("--repeats, --students and --workers must be positive.")
    return args


def sandbox_start(box: Sandbox, repeats: int) -> tuple[float, float]:
    """Median seconds for python + NumPy started directly, and inside the sandbox."""
    program = [sys.executable, "-I", "-c", "import numpy"]
    inner = box.numpy_program()  # as a graded run does (as root: a user of its own first)
    with tempfile.TemporaryDirectory() as empty:
        os.chmod(empty, 0o755)
        boxed = box.command(Path(empty), Path(__file__), inner)
        plain, inside = [], []
        for _ in range(repeats * 4):
            for sink, run in (
                (plain, lambda: subprocess.run(program, check=True, stdin=subprocess.DEVNULL)),
                (inside, lambda: box.run_plain(boxed).check_returncode()),  # its seccomp filter on a pipe
            ):
                started = time.perf_counter()
                run()
                sink.append(time.perf_counter() - started)
    return statistics.median(plain), statistics.median(inside)


def per_module(course, kit, folder: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """module id -> (median seconds in the sandbox, median seconds with --no-sandbox)."""
    times: dict[str, dict[bool, list[float]]] = {m.id: {True: [], False: []} for m in course.modules}
    for _ in range(repeats):
        for sandbox in (True, False):
            (grade,) = grade_students(course, [("reference", folder)], kit=kit, sandbox=sandbox, workers=1)
            for item in grade.modules:
                assert item.score == 1.0, (item.module.name, [r.reason for r in item.results if not r.passed])
                times[item.module.id][sandbox].append(item.seconds)
    return {key: (statistics.median(v[True]), statistics.median(v[False])) for key, v in times.items()}


def main() -> None:
    args = parse_args()
    course = load_course(ROOT)
    box = Sandbox.find()
    temp = Path(tempfile.mkdtemp(prefix="tito-bench-"))
    try:
        folder = temp / "reference"
        folder.mkdir()
        for module in course.modules:
            shutil.copy(module.source, folder / module.source.name)
        started = time.perf_counter()
        kit = build_kit(course, temp / "kit", list(course.modules))
        kit_seconds = time.perf_counter() - started
        print(
            f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
            f"bubblewrap as {'root (own user id per run)' if box.as_root else 'this user'}."
        )

        plain, inside = sandbox_start(box, args.repeats)
        print(
            f"\nStarting python + NumPy: {plain * 1e3:.0f} ms directly, {inside * 1e3:.0f} ms in the sandbox: "
            f"the sandbox adds {(inside - plain) * 1e3:.0f} ms per run."
        )

        print(f"\nOne module's run, median of {args.repeats} (wall seconds, process start to last result):")
        print(f"  {'module':<18} {'sandbox':>8} {'guard':>8} {'added':>8}")
        rows = per_module(course, kit, folder, args.repeats)
        for module in course.modules:
            boxed, guarded = rows[module.id]
            print(f"  {module.name:<18} {boxed:8.3f} {guarded:8.3f} {boxed - guarded:+8.3f}")
        added = [boxed - guarded for boxed, guarded in rows.values()]
        print(f"  sandbox's added time per run: median {statistics.median(added):+.3f} s, largest {max(added):+.3f} s")

        students = [(f"s{i:03d}", folder) for i in range(args.students)]
        started = time.perf_counter()
        grade_students(course, students, workers=args.workers)
        measured = time.perf_counter() - started
        per_student = (measured - kit_seconds) / args.students
        print(
            f"\nA class, measured: {args.students} students x {len(course.modules)} modules in {measured:.1f} s "
            f"with {args.workers} runs at once (grading kit {kit_seconds:.1f} s of it)."
        )
        print(
            f"A class of 100 students x {len(course.modules)} modules, extrapolated from that sample: "
            f"{kit_seconds + 100 * per_student:.0f} s ({(kit_seconds + 100 * per_student) / 60:.1f} min) on this machine."
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()

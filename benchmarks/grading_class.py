"""A class of 30 synthetic submissions through `tito grade`, then a grader killed half-way and resumed.

The class (this course, all nine modules): 10 honest students (the reference files), 8 partial ones
(the reference for the first k modules, the starter for the rest, k = 1..8), 6 that handed in the
starter, and 6 hostile ones (the reference, with one module file turned against the grader: memory
files at import, a fork bomb, a parser bomb, a line too long, two copies of a file, an exception
dressed as a pass).

1. `tito grade SUBS --out A`, timed: every student and module must be in A/grades.csv.
2. `tito grade SUBS --out B`, killed with SIGKILL once 10 students are stored; its temporary folder
   is left behind (it could not clean up).
3. `tito grade SUBS --out B --resume`: it removes that folder, grades only the students not stored,
   and B/grades.csv must equal A/grades.csv.

    python benchmarks/grading_class.py [--workers N]

Needs bubblewrap. Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tito.course import load_course  # noqa: E402
from tito.release import build_student_edition  # noqa: E402

HOSTILE = {
    "memfd": "import os\nfor _ in range(100):\n    try:\n        os.memfd_create('x')\n    except OSError:\n        break\n",
    "forks": "import os\nfor _ in range(300):\n    try:\n        if os.fork() == 0:\n            os._exit(0)\n"
    "    except OSError:\n        break\n",
    "parser": "f = " + "lambda: " * 3000 + "1\n",
    "longline": "z = 1" + " " * 20000 + "\n",
    "dressed": "raise type('\\x1b[32mPASSED', (Exception,), {})('<b>all checks passed</b>')\n",
}


def make_class(course, subs: Path, work: Path) -> None:
    build_student_edition(course, work / "edition", check_leaks=False)
    starter = {m.id: work / "edition" / "modules" / m.name / m.source.name for m in course.modules}

    def student(name: str, files: dict) -> None:
        folder = subs / name
        folder.mkdir(parents=True)
        for module in course.modules:
            shutil.copy(files[module.id], folder / module.source.name)

    reference = {m.id: m.source for m in course.modules}
    for i in range(10):
        student(f"honest-{i:02d}", reference)
    for k in range(1, 9):
        student(f"partial-{k}", {m.id: (m.source if n < k else starter[m.id]) for n, m in enumerate(course.modules)})
    for i in range(6):
        student(f"starter-{i}", starter)
    victims = list(course.modules)
    for (name, code), module in zip(HOSTILE.items(), victims[1:]):
        student(f"hostile-{name}", reference)
        path = subs / f"hostile-{name}" / module.source.name
        path.write_text(path.read_text() + "\n# %%\n#| export\n" + code)
    student("hostile-twice", reference)
    (subs / "hostile-twice" / victims[0].name).mkdir()
    shutil.copy(victims[0].source, subs / "hostile-twice" / victims[0].name / victims[0].source.name)


def tito_grade(subs: Path, out: Path, env: dict, workers: int, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tito", "grade", str(subs), "--out", str(out), "--workers", str(workers), *extra]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    course = load_course(ROOT)
    work = Path(tempfile.mkdtemp(prefix="tito-class-"))
    temp = work / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    env["TMPDIR"] = str(temp)
    try:
        subs = work / "subs"
        make_class(course, subs, work)
        students = len(list(subs.iterdir()))
        print(
            f"Machine: {os.cpu_count()} CPUs (shared), load {os.getloadavg()[0]:.1f}; {students} students x 9 modules."
        )

        started = time.perf_counter()
        whole = tito_grade(subs, work / "A", env, args.workers)
        _, errors = whole.communicate()
        seconds = time.perf_counter() - started
        assert whole.returncode == 0, errors
        table = rows(work / "A" / "grades.csv")
        assert len(table) == 1 + students * 9, len(table)
        errors_rows = [r for r in table[1:] if r[6] != "graded"]
        print(f"1. Whole class: {seconds:.1f} s, {seconds / students:.2f} s per student; grades.csv has all "
              f"{students * 9} rows, {len(errors_rows)} grader errors.")  # fmt: skip
        by_kind: dict[str, list[float]] = {}
        for row in table[1:]:
            by_kind.setdefault(row[0].split("-")[0], []).append(float(row[3]))
        for kind, scores in by_kind.items():
            print(f"   {kind:<8} mean module score {sum(scores) / len(scores):.3f} over {len(scores)} rows")

        killed = tito_grade(subs, work / "B", env, args.workers)
        while len(list((work / "B" / "results").glob("*.json"))) < 10 and killed.poll() is None:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        stored = len(list((work / "B" / "results").glob("*.json")))
        left = list(temp.glob("tito-grade-*"))
        print(f"2. Killed with SIGKILL after {stored} students were stored; it left {len(left)} temporary folder(s).")

        started = time.perf_counter()
        resumed = tito_grade(subs, work / "B", env, args.workers, "--resume")
        _, errors = resumed.communicate()
        assert resumed.returncode == 0, errors
        same = rows(work / "B" / "grades.csv") == table
        print(f"3. --resume: {time.perf_counter() - started:.1f} s for the {students - stored} students left; "
              f"grades.csv {'identical to' if same else 'DIFFERENT FROM'} the whole run's; "
              f"temporary folders left: {len(list(temp.glob('tito-grade-*')))}.")  # fmt: skip
        if not same:
            for a, b in zip(table, rows(work / "B" / "grades.csv")):
                if a != b:
                    print("   ", a, "!=", b)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

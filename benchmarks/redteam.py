"""A red team against `tito grade`, with attacks the grading issues never named, behind both walls.

Each attack is a variant of a fixture module file (tests/fixtures/grading/course: module 01 calc, and
module 02 stats, which is graded on the reference calc and so can read it). The whole set is graded
as one class, twice: in bubblewrap, and on the unprivileged-user path (bubblewrap taken off PATH;
needs root and a Python other users can read, e.g. a venv made from /usr/bin/python3). After each
grading the script checks the four promises:

- no score above the honest one (1.0 for the honest student, the attack's own honest score else);
- no class-wide failure: grades.csv has every student and module, and no row is a grader error;
- no text of the reference (its solution lines, the course's secret) in grades.csv, reports or results;
- nothing left behind: no process of the attack's marker, no /tmp/tito-grade-* folder, no file
  written outside the runs.

    python benchmarks/redteam.py [--wall bwrap|user|both]

Nothing here is part of the test suite; it prints one line per attack and wall, and a verdict, and
exits 1 when a promise failed. CI runs `--wall user` under a Python other users can read.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "tito"))

from grading_helpers import grading_course, processes_with, snapshot  # noqa: E402

from tito.grading.errors import SandboxUnavailable  # noqa: E402
from tito.grading.submissions import grade_submissions  # noqa: E402
from tito.grading.walls import wall_without_bubblewrap  # noqa: E402

MARKER = str(900000 + os.getpid() % 90000)
SECRET = "instructor-secret-7f3a9"

# name -> (module, {old: new} replacements of the honest file, the honest score of what is left)
CALC = {
    # values that are not what they claim
    "longdouble": ("    return np.add(a, b)", "    return np.add(a, b).astype(np.longdouble)", 0.8),
    "complex": ("    return np.add(a, b)", "    return np.add(a, b) + 0j", 0.8),
    "object-array": ("    return np.add(a, b)", "    return np.array(list(np.add(a, b)), dtype=object)", 0.8),
    "eq-liar": (
        "    return np.add(a, b)",
        "    class Liar(np.ndarray):\n        def __eq__(self, other):\n            return True\n"
        "    return np.zeros(6).view(Liar)",
        0.8,
    ),
    "huge-int": ("    return np.add(a, b)", "    return 2 ** 4000", 0.8),
    "subnormal-zero": ("    return np.add(a, b)", "    return np.full(6, 5e-324)", 0.8),
    # exceptions that try to speak
    "homoglyph": (
        "    return np.add(a, b)",
        "    raise type('Valu\\u0395Error', (Exception,), {})('<script>x</script>')",
        0.8,
    ),
    "name-raises": (
        "    return np.add(a, b)",
        "    class M(type):\n        @property\n        def __name__(cls):\n            raise SystemExit\n"
        "    raise M('E', (Exception,), {})()",
        0.8,
    ),
    "str-bomb": (
        "    return np.add(a, b)",
        "    class E(Exception):\n        def __str__(self):\n            return 'x' * 10**8\n    raise E()",
        0.8,
    ),
    # the run's own process and its neighbours
    "kill-all": (
        "    return np.add(a, b)",
        "    import os, signal\n    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "    return np.add(a, b)",
        None,  # kills its own run: anything up to 1.0 of its own is honest (it computes add correctly)
    ),
    "threads": (
        "    return np.add(a, b)",
        "    import threading, time\n    for _ in range(500):\n        try:\n"
        "            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "        except RuntimeError:\n            break\n    return np.add(a, b)",
        1.0,
    ),
    "double-fork-writer": (
        "    return np.add(a, b)",
        "    import os, time\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        f"            os.execv('/bin/sleep', ['sleep', '{MARKER}'])\n        os._exit(0)\n    return np.add(a, b)",
        1.0,
    ),
    "ptrace-sibling": (
        "    return np.add(a, b)",
        "    import ctypes\n    libc = ctypes.CDLL(None)\n"
        "    if libc.syscall(101, 16, os.getppid(), 0, 0) == 0:\n        return np.add(a, b) * 0\n"
        "    raise RuntimeError()",
        0.8,
    ),
    "shm-fill": (
        "    return np.add(a, b)",
        "    for i in range(10000):\n        try:\n            open(f'/dev/shm/f{i}', 'wb').write(bytes(2**20))\n"
        "        except OSError:\n            break\n    return np.add(a, b)",
        1.0,
    ),
    "tmp-inodes": (
        "    return np.add(a, b)",
        "    for i in range(50000):\n        try:\n            open(f'/tmp/i{i}', 'w').close()\n"
        "        except OSError:\n            break\n    return np.add(a, b)",
        1.0,
    ),
    "proc-snoop": (
        "    return np.add(a, b)",
        "    import glob\n    seen = ''.join(open(p, 'rb').read().decode('latin-1') for p in glob.glob('/proc/[0-9]*/cmdline'))\n"
        "    raise KeyError(seen[:2000])",
        0.8,
    ),
    # parsing: an exported cell too wide or too deep
    "lambda-chain": (None, "\n# %%\n#| export\nf = " + "lambda: " * 3000 + "1\n", 0.0),
    "fstring-nest": (None, "\n# %%\n#| export\ns = " + "f'{" * 300 + "1" + "}'" * 300 + "\n", 0.0),
    "many-cells": (None, "\n# %%\n#| export\nx = 1\n" * 20000, 1.0),
}
STATS = {
    # the reference calc is in module 02's package: try to carry it out
    "ref-in-dtype": (
        "    total = 0.0\n",
        "    import tinytorch.calc as c\n    code = open(c.__file__).read()\n"
        "    return {'mean': code}  # not even a number\n",
        0.0,
    ),
    "ref-in-shape": (
        "    total = 0.0\n",
        "    import numpy as np, tinytorch.calc as c\n    code = open(c.__file__, 'rb').read()[:40]\n"
        "    return np.zeros(tuple(code[:8]))\n",
        0.0,
    ),
    "ref-in-exception-type": (
        "    total = 0.0\n",
        "    import tinytorch.calc as c\n    code = open(c.__file__).read()\n"
        "    raise type(code[:60], (Exception,), {})()\n",
        0.0,
    ),
    "ref-in-where": (
        "    total = 0.0\n",
        "    import tinytorch.calc as c\n    exec(compile('raise ValueError', c.__file__, 'exec'))\n",
        0.0,
    ),
}


def class_folder(course, subs: Path) -> dict[str, float | None]:
    """One folder per attack (and an honest student); the honest score of each."""
    calc, stats = course.module("01").source.read_text(), course.module("02").source.read_text()
    honest = {"alice": 1.0}
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "calc.py").write_text(calc)
    (subs / "alice" / "stats.py").write_text(stats)
    for name, (old, new, score) in CALC.items():
        (subs / name).mkdir()
        text = calc + new if old is None else calc.replace(old, new, 1)
        (subs / name / "calc.py").write_text(text.replace("import ctypes\n", "import ctypes\nimport os\n", 1))
        honest[name] = score
    for name, (old, new, score) in STATS.items():
        (subs / name).mkdir()
        (subs / name / "stats.py").write_text(stats.replace(old, new, 1))
        honest[name] = score
    return honest


def grade(wall: str, work: Path) -> list[str]:
    course = grading_course(work / "course")
    subs, out, outside = work / "subs", work / "grades", work / "outside"
    outside.mkdir()
    honest = class_folder(course, subs)
    secret_lines = [
        line.strip()
        for m in course.modules
        for line in m.source.read_text().splitlines()
        if len(line.strip()) > 12 and "np." in line
    ]
    before = snapshot(course.root, subs, outside)
    options = {"modules": [course.module("01"), course.module("02")], "timeout": 20, "workers": 2}
    saved_path = os.environ["PATH"]
    try:
        if wall == "user":
            empty = work / "bin"
            empty.mkdir()
            os.environ["PATH"] = str(empty)  # no bwrap: the unprivileged-user path
            try:
                grade_submissions(course, subs, out, **options)
                raise SystemExit("bubblewrap was still found")
            except SandboxUnavailable:
                pass
            if wall_without_bubblewrap() != "user":
                raise SystemExit("the user path needs root and a Python other users can read")
            grade_submissions(course, subs, out, sandbox=False, **options)
        else:
            grade_submissions(course, subs, out, **options)
    finally:
        os.environ["PATH"] = saved_path
    with (out / "grades.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    everything = "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    problems, lines = [], []
    for name, score in honest.items():
        mine = [r for r in rows if r["student"] == name]
        module = "02_stats" if name in STATS else "01_calc"
        got = float(next(r["score"] for r in mine if r["module"] == module)) if mine else None
        ok = len(mine) == 2 and all(r["status"] == "graded" for r in mine)
        ok = ok and got is not None and got <= (1.0 if score is None else score) + 1e-9
        lines.append(
            f"  {wall:<5} {name:<22} score {got}  (honest {score if score is not None else '<= 1.0'})  {'ok' if ok else 'FAIL'}"
        )
        if not ok:
            problems.append(f"{name}: score {got} or rows {mine}")
    leaked = [line for line in secret_lines if line in everything] + ([SECRET] if SECRET in everything else [])
    leaked = [line for line in leaked if not any(line in (subs / n / "calc.py").read_text() for n in ("alice",))]
    if leaked:
        problems.append(f"reference text in the output: {leaked[:3]}")
    if processes_with(f"sleep {MARKER}"):
        problems.append("a process outlived the grading")
    if list(Path(tempfile.gettempdir()).glob(f"tito-grade-{os.getpid()}-*")):
        problems.append("a temporary folder was left behind")
    if snapshot(course.root, subs, outside) != before:
        problems.append("a file outside the runs changed")
    return lines + [f"  {wall}: " + ("all promises held" if not problems else "FAILED: " + "; ".join(problems))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wall", choices=["bwrap", "user", "both"], default="both")
    walls = ["bwrap", "user"] if parser.parse_args().wall == "both" else [parser.parse_args().wall]
    print(f"{len(CALC) + len(STATS)} attacks, {', '.join(walls)}; machine shared, {os.cpu_count()} CPUs.")
    held = True
    for wall in walls:
        work = Path(tempfile.mkdtemp(prefix="tito-redteam-"))
        try:
            for line in grade(wall, work):
                print(line, flush=True)
            held = held and line.endswith("all promises held")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if held else 1)  # CI runs the user wall (.ci/run)


if __name__ == "__main__":
    main()

"""A fault battery for tito: hostile state, manifests, references, options, module files, file systems,
releases, signals at random moments and concurrent commands. Not part of the test run.

    python benchmarks/faults.py            # every case; prints a line per failure and the totals
    python benchmarks/faults.py --quick    # a sample of each family
    python benchmarks/faults.py --seed 7   # other random moments for the signal cases
    python benchmarks/faults.py --only held-out   # the cases of benchmarks/faults_heldout.py

Every case runs real `python -m tito ...` processes in a fresh copy of a small fixture course (the one
tests/tito/course_builder.py builds) and checks the invariants of issue 23, whatever the command:

- it ends within its time limit, never with a traceback, with an exit code the case allows;
- a refusal is one `Error:` line; an argument echoed back is shortened;
- the progress record is unchanged by a refusal, readable afterwards, and never loses a module;
- a module is recorded completed only when its whole test run passed;
- no temporary file of an atomic write is left, and no process the command started outlives it;
- a student edition holds only what its allowlist names and no solution line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "tito"))

from course_builder import build_course  # noqa: E402

TIME_LIMIT = 90.0  # seconds any one command may take
PROGRESS = ".tito/progress.yaml"
STARTUP_SIGNALS: list[str] = []  # signal cases that landed in Python's start-up, before tito's code
GOOD_RECORD = "schema: 1\nmodules: {}\nmilestones: {}\nhistory: []\n"


@dataclass
class Case:
    family: str
    name: str
    args: list[str]
    setup: object = None  # setup(root) before the command
    codes: tuple[int, ...] = (1,)  # allowed exit codes
    check: object = None  # check(root, result) -> problem or None, after the command
    completed: bool = False  # start from a course whose module 01 is completed
    signal_at: tuple[int, float] | None = None  # (signal, seconds after start)
    env: dict = field(default_factory=dict)


@dataclass
class Result:
    code: int | None
    out: str
    err: str
    seconds: float


# --- the base courses ------------------------------------------------------------------------------------


def make_base(folder: Path) -> dict[str, Path]:
    """Two fresh fixture courses, built once and copied for every case: plain, and 01 completed."""
    plain = build_course(folder / "plain", 4)
    plain.write(
        "milestones/first/first.py",
        'CONFIG = {"epochs": 1}\n\n\ndef run(config):\n    return {"test_accuracy": 0.95}\n',
    )
    plain.export()
    done = folder / "done"
    shutil.copytree(plain.root, done)
    run_tito(done, ["module", "complete", "01"])
    assert "01" in (done / PROGRESS).read_text(), "the base course could not complete module 01"
    return {"plain": plain.root, "done": done}


def run_tito(root: Path, args: list[str], env: dict | None = None, signal_at=None) -> Result:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "tito", *args],
        cwd=root,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TITO_NO_TUNING": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    if signal_at is not None:
        signum, delay = signal_at
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signum)
    try:
        out, err = process.communicate(timeout=TIME_LIMIT)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        code = None
    return Result(code, out, err, time.monotonic() - started)


# --- the invariants --------------------------------------------------------------------------------------


def state_of(root: Path) -> bytes | None:
    path = root / PROGRESS
    try:
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def processes_in(root: Path) -> list[int]:
    """Processes whose working directory is inside `root` (what a command could have left running)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == str(root) or cwd.startswith(str(root) + "/")):
            found.append(int(entry.name))
    return found


def temporary_files(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob(".*.tmp") if ".git" not in p.parts]


def before_tito(text: str) -> bool:
    """A traceback from Python's own start-up (site, runpy), before any file of tito ran: a signal
    there meets Python's default handlers, which tito cannot replace before its code runs."""
    return "/tito/" not in text and "KeyboardInterrupt" in text


def judge(case: Case, root: Path, before: bytes | None, result: Result) -> str | None:
    text = result.out + result.err
    if result.code is None:
        return f"did not end within {TIME_LIMIT:g} s"
    if "Traceback" in text and case.signal_at and before_tito(text):
        STARTUP_SIGNALS.append(case.name)
    elif "Traceback" in text:
        return "traceback: " + text.strip().splitlines()[-1][:200]
    if result.code not in case.codes:
        return f"exit {result.code}, expected {case.codes}: {text.strip()[-300:]}"
    errors = [line for line in text.splitlines() if line.startswith("Error: ")]
    if result.code in (1, 2) and case.signal_at is None and len(errors) > 1:
        return f"{len(errors)} error lines"
    if len(text) > 20000:
        return f"{len(text)} characters of output (an argument echoed whole?)"
    leftovers = processes_in(root)
    if leftovers:
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return f"{len(leftovers)} process(es) outlived the command"
    tmp = temporary_files(root)
    if tmp:
        return f"temporary files left: {tmp[:3]}"
    after = state_of(root)
    if result.code != 0 and case.signal_at is None and before is not None and after is not None and after != before:
        if "recorded nothing" not in text:  # a refusal that put back the record it held says so
            return "a refused command changed progress.yaml"
    if before is not None and b"'01'" in before and after is not None and b"'01'" not in after:
        return "module 01's record was lost"
    if after is not None:
        import yaml

        from tito import schema
        from tito.progress_record import shape_problem

        try:
            problem = shape_problem(schema.load_yaml(after.decode("utf-8")))
        except (schema.SchemaError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problem = str(exc)
        if problem and before is None:
            return f"tito left an unreadable record: {problem}"
    if case.check is not None:
        return case.check(root, result)
    return None


def run_case(case: Case, bases: dict[str, Path], scratch: Path) -> str | None:
    root = Path(tempfile.mkdtemp(dir=scratch)) / "course"
    shutil.copytree(bases["done" if case.completed else "plain"], root, symlinks=True)
    try:
        if case.setup is not None:
            case.setup(root)
        before = state_of(root)
        result = run_tito(root, case.args, case.env, case.signal_at)
        return judge(case, root, before, result)
    except Exception as exc:  # a broken case is a failure of the battery, reported as one
        return f"the case itself failed: {type(exc).__name__}: {exc}"
    finally:
        for path in root.rglob("*"):  # undo chmods so the copy can be removed
            try:
                if not path.is_symlink():
                    path.chmod(0o755 if path.is_dir() else 0o644)
            except OSError:
                pass
        shutil.rmtree(root.parent, ignore_errors=True)


# --- case families ---------------------------------------------------------------------------------------


def write(relative: str, content, mode: str = "w"):
    def setup(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return setup


def chain(*steps):
    def setup(root: Path) -> None:
        for step in steps:
            step(root)

    return setup


def special(relative: str, kind: str):
    def setup(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        elif kind == "loop":
            path.symlink_to(path.with_name(path.name + ".loop"))
            path.with_name(path.name + ".loop").symlink_to(path)
        elif kind == "devzero":
            path.symlink_to("/dev/zero")
        elif kind == "dangling":
            path.symlink_to(path.with_name("nowhere"))
        elif kind == "readonly":
            path.write_text(GOOD_RECORD)
            path.chmod(0o444)

    return setup


RECORD_FIELDS = {
    "schema": "1",
    "modules": "{'01': {status: completed, started_at: '2025-01-01T00:00:00Z', tests: {passed: 2, failed: 0, skipped: 0}}}",
    "milestones": "{}",
    "history": "[]",
}
BAD_VALUES = [
    "null",
    "[]",
    "{}",
    "-1",
    "1.5",
    ".inf",
    ".nan",
    "'x'",
    "true",
    "[[[[[[1]]]]]]",
    "!!binary aGk=",
    "2025-13-45",
]


def state_cases() -> list[Case]:
    cases = []
    for key in RECORD_FIELDS:
        for value in BAD_VALUES:
            fields = {**RECORD_FIELDS, key: value}
            text = "".join(f"{k}: {v}\n" for k, v in fields.items())
            for args in (["module", "status"], ["module", "complete", "02"]):
                cases.append(Case("state", f"{key}={value} / {' '.join(args)}", args, write(PROGRESS, text), (0, 1)))
    entry = "{status: completed, started_at: '2025-01-01T00:00:00Z'"
    for field_name, value in [
        ("status", "done"),
        ("tests", "{passed: -1, failed: 0, skipped: 0}"),
        ("tests", "{passed: x, failed: 0, skipped: 0}"),
        ("seconds", ".nan"),
        ("seconds", "-3"),
        ("completed_at", "12"),
        ("source_hash", "[1]"),
        ("colour", "red"),
    ]:
        text = f"schema: 1\nmodules: {{'01': {entry}, {field_name}: {value}}}}}\nmilestones: {{}}\nhistory: []\n"
        cases.append(Case("state", f"modules.01.{field_name}={value}", ["module", "status"], write(PROGRESS, text)))
    raw = {
        "binary": b"\x00\x01\x02\xff" * 100,
        "not UTF-8": b"schema: 1\nname: \xff\xfe\n",
        "NUL": b"schema: 1\x00\n",
        "empty": b"",
        "truncated": GOOD_RECORD[:20].encode(),
        "duplicate key": (GOOD_RECORD + "schema: 1\n").encode(),
        "anchor bomb": (
            "a: &a [x,x,x,x,x,x,x,x,x]\n"
            + "".join(
                f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
            )
        ).encode(),
        "deep nesting": ("x: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
        "newer schema": GOOD_RECORD.replace("schema: 1", "schema: 9").encode(),
        "python tag": b"!!python/object/apply:os.system ['true']\n",
        "huge (5 MB)": GOOD_RECORD.encode() + b"#" * (5 * 1024**2),
        "a list": b"- 1\n- 2\n",
        "BOM": b"\xef\xbb\xbf" + GOOD_RECORD.encode(),
    }
    for name, data in raw.items():
        for args in (["module", "status"], ["module", "start", "01"], ["milestone", "status"]):
            cases.append(Case("state", f"{name} / {' '.join(args)}", args, write(PROGRESS, data), (0, 1)))
    for kind in ("fifo", "folder", "loop", "devzero", "dangling", "readonly"):
        for args in (["module", "status"], ["module", "start", "01"]):
            cases.append(
                Case("state", f"progress.yaml is {kind} / {' '.join(args)}", args, special(PROGRESS, kind), (0, 1))
            )
    for name, setup in {
        "lock is a folder": special(".tito/progress.yaml.lock", "folder"),
        "backup is a FIFO": special(".tito/progress.yaml.bak", "fifo"),
        ".tito is a file": chain(lambda r: shutil.rmtree(r / ".tito", ignore_errors=True), write(".tito", "x")),
        "corrupt file and corrupt backup": chain(
            write(PROGRESS, "schema: [\n"), write(".tito/progress.yaml.bak", "x: [")
        ),
    }.items():
        cases.append(Case("state", name, ["module", "start", "02"], setup, (0, 1), completed=True))

    def bak_advice(root, result):
        text = result.out + result.err
        return "advice to restore a corrupt backup" if "cp .tito/progress.yaml.bak" in text else None

    cases.append(
        Case(
            "state",
            "advice never names a corrupt backup",
            ["module", "status"],
            chain(write(PROGRESS, "schema: [\n"), write(".tito/progress.yaml.bak", "schema: [\n")),
            check=bak_advice,
        )
    )
    return cases


MANIFEST_EDITS = [
    ("edition: reference", "edition: teacher"),
    ("edition: reference", "edition: [1]"),
    ("schema: 1", "schema: 2"),
    ("schema: 1", "schema: one"),
    ("name: Fixture", "name: [a, b]"),
    ("name: Fixture", "name: Fixture\nname: Other"),
    ("id: '01'", "id: 1"),
    ("id: '01'", "id: '1'"),
    ("id: '02'", "id: '01'"),
    ("slug: alpha", "slug: Alpha"),
    ("slug: alpha", "slug: '../x'"),
    ("slug: alpha", "slug: alpha\n  slug: beta"),
    ("title: Alpha", "title: [x]"),
    ("title: Alpha", "title: 'root:x:0 [red]x[/red]'"),
    ("requires: []", "requires: ['09']"),
    ("requires: []", "requires: '01'"),
    ("requires:\n  - '01'", "requires:\n  - '02'"),
    ("hours: 1", "hours: -1"),
    ("hours: 1", "hours: .inf"),
    ("hours: 1", "hours: 1\n  timeout: 0"),
    ("hours: 1", "hours: 1\n  timeout: .inf"),
    ("hours: 1", "hours: 1\n  timeout: 1.0e+308"),
    ("hours: 1", "hours: 1\n  timeout: x"),
    ("hours: 1", "hours: 1\n  colour: red"),
    ("metric: test_accuracy", "metric: [1]"),
    ("at_least: 0.9", "at_least: .nan"),
    ("at_least: 0.9", "at_least: x"),
    ("year: 1957", "year: x"),
    ("id: first", "id: '01'"),
    ("modules:", "modules: 5\nold_modules:"),
    ("milestones:", "milestones: {}\nold_milestones:"),
]


def manifest_edit(old: str, new: str):
    def setup(root: Path) -> None:
        path = root / "course.yaml"
        text = path.read_text()
        path.write_text(text.replace(old, new, 1))

    return setup


def manifest_cases() -> list[Case]:
    cases = []
    for old, new in MANIFEST_EDITS:
        for args in (["module", "list"], ["module", "status"], ["export", "01"]):
            cases.append(Case("manifest", f"{new[:30]!r} / {' '.join(args)}", args, manifest_edit(old, new), (0, 1)))
    for name, data in {
        "binary": b"\x00\xff" * 50,
        "empty": b"",
        "huge (5 MB)": b"#" * (5 * 1024**2),
        "not UTF-8": b"name: \xff\n",
        "anchor bomb": b"a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b]\n",
    }.items():
        cases.append(Case("manifest", name, ["module", "list"], write("course.yaml", data)))
    for kind in ("fifo", "folder", "loop", "devzero"):
        cases.append(Case("manifest", f"course.yaml is {kind}", ["module", "list"], special("course.yaml", kind), (1,)))

    def relative_paths(root, result):
        text = result.out + result.err
        return "an absolute path in a course.yaml error" if str(root) in text else None

    cases.append(
        Case(
            "manifest",
            "errors are relative",
            ["module", "list"],
            manifest_edit("edition: reference", "edition: x"),
            check=relative_paths,
        )
    )
    return cases


REFERENCES = [
    "",
    " ",
    "0",
    "00",
    "99",
    "-1",
    "1e3",
    "1.0",
    "٣",
    "９",
    "01_beta",
    "ALPHA",
    "../01",
    "01;ls",
    "[red]x[/red]",
    ":x:",
    "9" * 5000,
    "a" * 100_000,
]


def reference_cases() -> list[Case]:
    cases = []
    for ref in REFERENCES:
        for args in (
            ["module", "start", ref],
            ["module", "complete", ref],
            ["test", ref],
            ["export", ref],
            ["milestone", "info", ref],
            ["milestone", "run", ref],
        ):
            cases.append(Case("references", f"{args[:-1]} {ref[:12]!r}", args, codes=(0, 1, 2)))
    options = [
        (["test", "01", "--timeout"], ["0", "-1", "inf", "nan", "1e308", "86401", "abc", "9" * 400]),
        (["module", "complete", "01", "--timeout"], ["0", "inf", "nan", "1e308", "-inf"]),
        (["milestone", "run", "first", "--seed"], ["-1", str(2**64), "x", "1.5"]),
        (["milestone", "run", "first", "--epochs"], ["0", "-1", str(10**30)]),
        (["milestone", "run", "first", "--lr"], ["0", "-1", "inf", "nan", "-1e308"]),
        (["milestone", "run", "first", "--batch-size"], ["0", str(10**20)]),
        (["data", "download", "tinydigits", "--timeout"], ["0", "inf", "nan"]),
        (["data", "download", "tinydigits", "--retries"], ["-1", str(10**20)]),
        (["release", "gradescope", "/tmp/faults-gs", "--points"], ["0", "inf", "nan"]),
        (["release", "gradescope", "/tmp/faults-gs", "--timeout"], ["0", "inf", "nan"]),
    ]
    for prefix, values in options:
        for value in values:
            cases.append(Case("options", f"{' '.join(prefix[-2:])} {value[:12]}", [*prefix, value], codes=(2,)))
    return cases


MODULE_FILE = "modules/01_alpha/alpha.py"


def module_edit(old: str, new: str):
    def setup(root: Path) -> None:
        path = root / MODULE_FILE
        path.write_text(path.read_text().replace(old, new, 1))

    return setup


def package_test(body: str):
    head = "import os, subprocess, sys, time, atexit\n\nimport pytest\n\npytestmark = pytest.mark.m01\n\n\n"
    return write("tests/01_alpha/test_zz_hostile.py", head + textwrap.dedent(body))


def not_recorded(root: Path, result: Result) -> str | None:
    text = state_of(root) or b""
    return "module 01 was recorded" if b"'01'" in text else None


def recorded(root: Path, result: Result) -> str | None:
    text = state_of(root) or b""
    return None if b"'01'" in text else "module 01 was not recorded"


DAEMON = """
def test_daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
"""
HOSTILE_TESTS = {
    "KeyboardInterrupt": "def test_x():\n    raise KeyboardInterrupt\n\ndef test_y():\n    assert 1 + 1 == 2\n",
    "pytest.exit(0)": "def test_x():\n    pytest.exit('bye', returncode=0)\n\ndef test_y():\n    assert 1 + 1 == 2\n",
    "sys.exit(0)": "def test_x():\n    sys.exit(0)\n",
    "os._exit(0)": "def test_x():\n    os._exit(0)\n",
    "shouldstop": "def test_x(request):\n    request.session.shouldstop = 'stop'\n\ndef test_y():\n    assert 1 + 1 == 2\n",
    "report forged at exit": "def test_x():\n    p = sys.argv[sys.argv.index('--tito-report') + 1]\n    atexit.register(lambda: open(p, 'w').write('{\"tests\": 5, \"errors\": []}'))\n",
    "report emptied at exit": "def test_x():\n    p = sys.argv[sys.argv.index('--tito-report') + 1]\n    atexit.register(lambda: open(p, 'w').write('{\"tests\": [], \"errors\": []}'))\n",
    "session file forged": "def test_x():\n    p = sys.argv[sys.argv.index('--tito-session') + 1]\n    atexit.register(lambda: open(p, 'w').write('[1]'))\n",
    "double-fork daemon": DAEMON,
    "Popen new session": "def test_x():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n",
    "child holds stdout": "def test_x():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n",
    "deletes progress": "def test_x():\n    if os.path.exists('.tito/progress.yaml'):\n        os.remove('.tito/progress.yaml')\n",
    "empties progress": f"def test_x():\n    open('.tito/progress.yaml', 'w').write({GOOD_RECORD!r})\n",
    "endless loop": "def test_x():\n    while True:\n        pass\n",
    "sleeps": "def test_x():\n    time.sleep(300)\n",
    "prints without end": "def test_x():\n    while True:\n        print('x' * 4096)\n",
    "writes to fd 1 without end": "def test_x():\n    while True:\n        os.write(1, b'y' * 65536)\n",
    "chdir": "def test_x():\n    os.chdir('/')\n",
    "closes stdout": "def test_x():\n    os.close(1)\n",
}
MODULE_FAULTS = {
    "two default_exp": ("#| default_exp core.alpha", "#| default_exp core.alpha\n\n# %%\n#| default_exp core.other"),
    "no default_exp": ("#| default_exp core.alpha", ""),
    "bad default_exp": ("#| default_exp core.alpha", "#| default_exp Core..X"),
    "syntax error": ("return 2 * x", "return 2 *"),
    "NUL byte": ("return 2 * x", "return 2 * x\x00"),
    "deep nesting": ("return 2 * x", "return " + "(" * 1000 + "x" + ")" * 1000),
    "import-time loop": ("# %%\n#| export", "# %%\nwhile True:\n    pass\n\n# %%\n#| export"),
    "import-time exit": ("# %%\n#| export", "# %%\nimport os\nos._exit(0)\n\n# %%\n#| export"),
    "wrong answer": ("return 2 * x", "return 3 * x"),
}


def module_cases() -> list[Case]:
    cases = []
    for name, body in HOSTILE_TESTS.items():
        for args in (["module", "complete", "01", "--timeout", "8"], ["test", "01", "--timeout", "8"]):
            completed = name in ("deletes progress", "empties progress")
            harmless = name in ("chdir", "closes stdout")  # a whole run that passed: recorded, rightly
            check = None if completed or harmless else not_recorded
            codes = (0, 1) if harmless else (1,)
            cases.append(Case("module files", f"{name} / {args[0]}", args, package_test(body), codes, check, completed))
    runtime = ("import-time loop", "import-time exit", "wrong answer")  # they export; their tests fail
    for name, (old, new) in MODULE_FAULTS.items():
        for args in (["module", "complete", "01", "--timeout", "8"], ["export", "01"]):
            codes = (0,) if args[0] == "export" and name in runtime else (1,)
            cases.append(Case("module files", f"{name} / {args[0]}", args, module_edit(old, new), codes, not_recorded))
    raw = {
        "not UTF-8": b"x = '\xff'\n",
        "empty": b"",
        "BOM only": b"\xef\xbb\xbf",
        "huge line": b"x = 1  # " + b"y" * (2 * 1024**2),
    }
    for name, data in raw.items():
        cases.append(
            Case("module files", name, ["module", "complete", "01"], write(MODULE_FILE, data), (1,), not_recorded)
        )
    for kind in ("fifo", "folder", "loop", "devzero", "dangling"):
        for args in (["module", "complete", "01"], ["export", "01"], ["test", "01"]):
            cases.append(
                Case(
                    "module files",
                    f"module file is {kind} / {args[0]}",
                    args,
                    special(MODULE_FILE, kind),
                    (1,),
                    not_recorded,
                )
            )
    cases.append(Case("module files", "a clean module completes", ["module", "complete", "01"], None, (0,), recorded))
    return cases


def filesystem_cases() -> list[Case]:
    cases = []
    for kind in ("fifo", "folder", "loop", "devzero"):
        for args in (["export", "--check"], ["export", "--all"], ["export", "01"], ["module", "complete", "01"]):
            cases.append(
                Case(
                    "file systems",
                    f"package file is {kind} / {' '.join(args)}",
                    args,
                    special("tinytorch/core/alpha.py", kind),
                    (1,),
                )
            )
    cases.append(
        Case(
            "file systems",
            "tinytorch/core is a file",
            ["export", "--all"],
            chain(lambda r: shutil.rmtree(r / "tinytorch/core"), write("tinytorch/core", "x")),
        )
    )
    cases.append(
        Case(
            "file systems",
            "package file read-only",
            ["export", "01"],
            chain(module_edit("return 2 * x", "return x + x"), lambda r: (r / "tinytorch/core/alpha.py").chmod(0o444)),
        )
    )
    cases.append(
        Case(
            "file systems",
            ".tito read-only",
            ["module", "start", "01"],
            chain(write(PROGRESS, GOOD_RECORD), lambda r: (r / ".tito").chmod(0o555)),
        )
    )
    for out in ("/proc/faults-out", "/dev/null/out", "/etc/hostname/out", "/sys/faults"):
        cases.append(Case("file systems", f"release student {out}", ["release", "student", out], codes=(1, 2)))
    cases.append(
        Case(
            "file systems",
            "garbage tinydigits.npz",
            ["milestone", "run", "first", "--data-dir", "npz", "--no-live"],
            write("npz/tinydigits.npz", b"PK\x03\x04garbage"),
            (0, 1, 2),
        )
    )
    return cases


SOLUTION = "return 2 * x"


def edition_clean(out: Path):
    def check(root: Path, result: Result) -> str | None:
        if not out.exists():
            return None
        names = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
        for name in names:
            if name.startswith(("gs/", ".ci/", "notes/", "secret")):
                return f"{name} reached the student edition"
            data = (out / name).read_bytes()
            if SOLUTION.encode() in data and not name.startswith("tinytorch/"):
                return f"a solution line reached {name}"
        return None

    return check


def release_cases(scratch: Path) -> list[Case]:
    cases = []
    for out in (".", "./edition", "modules/edition", "tests", "gs", ".tito/x"):
        for kind in ("student", "gradescope"):
            cases.append(Case("release", f"{kind} into {out}", ["release", kind, out], codes=(2,)))
    extras = chain(
        write("gs/autograder.zip", "    return 2 * x\n"),
        write(".ci/run", "#!/bin/sh\n"),
        write("notes/answers.md", "return 2 * x\n"),
        write("secret.txt", "x\n"),
    )
    for index in range(6):
        out = scratch / f"edition-{index}"
        shutil.rmtree(out, ignore_errors=True)
        cases.append(
            Case("release", f"allowlist #{index}", ["release", "student", str(out)], extras, (0, 1), edition_clean(out))
        )
    cases.append(Case("release", "OUT is a file", ["release", "student", "/etc/hostname"], codes=(2,)))
    cases.append(Case("release", "OUT not empty", ["release", "student", "/etc"], codes=(2,)))
    return cases


def signal_cases(rng: random.Random, count: int) -> list[Case]:
    commands = [
        (["module", "complete", "01"], 4.0),
        (["module", "complete", "02"], 4.0),
        (["export", "--all"], 1.5),
        (["test", "01"], 4.0),
        (["module", "status"], 1.0),
        (["module", "reset", "01", "--yes"], 1.5),
    ]
    cases = []
    for index in range(count):
        args, span = rng.choice(commands)
        signum = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
        delay = round(rng.uniform(0.0, span), 3)
        codes = (0, 1, 128 + signum, -signum)  # -signum: ended by the signal's default action, as the shell's 128+n
        name = f"#{index} {signal.Signals(signum).name} at {delay} s / {' '.join(args)}"
        cases.append(Case("signals", name, args, codes=codes, completed=True, signal_at=(signum, delay)))
    return cases


def concurrency_rounds(bases: dict[str, Path], scratch: Path, rounds: int) -> list[tuple[str, str | None]]:
    """Parallel commands on one course: no lost update, no corrupt record, no leftover process."""
    results = []
    plans = [
        ("four completes of four modules", [["module", "complete", m] for m in ("01", "02", "03", "04")]),
        ("four completes of one module", [["module", "complete", "01"]] * 4),
        ("complete against reset", [["module", "complete", "02"], ["module", "reset", "01", "--yes"]]),
        ("export against test", [["export", "--all"], ["test", "01"], ["export", "--all"]]),
    ]
    for index in range(rounds):
        name, commands = plans[index % len(plans)]
        root = Path(tempfile.mkdtemp(dir=scratch)) / "course"
        shutil.copytree(bases["done"], root, symlinks=True)
        if name.startswith("four completes of four"):  # a student may complete them in any order here
            course_yaml = root / "course.yaml"
            course_yaml.write_text(course_yaml.read_text().replace("requires:\n  - '0", "requires: []\n  #- '0"))
        with ThreadPoolExecutor(len(commands)) as pool:
            outcomes = list(pool.map(lambda args: run_tito(root, args), commands))
        problem = None
        for args, result in zip(commands, outcomes):
            if result.code is None or "Traceback" in result.out + result.err:
                problem = f"{' '.join(args)}: {'timeout' if result.code is None else 'traceback'}"
        record = state_of(root) or b""
        import yaml

        data = yaml.safe_load(record) if record else {}
        if problem is None and name.startswith("four completes of four"):
            done = [m for m in ("01", "02", "03", "04") if data["modules"].get(m, {}).get("status") == "completed"]
            passed = [args[-1] for args, result in zip(commands, outcomes) if result.code == 0]
            if sorted(set(passed) | {"01"}) != sorted(done):
                problem = f"lost update: passed {passed}, recorded {done}"
        if problem is None and processes_in(root):
            problem = "processes outlived the commands"
        if problem is None and temporary_files(root):
            problem = "temporary files left"
        results.append((f"concurrency: {name} #{index}", problem))
        shutil.rmtree(root.parent, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A sample of each family.")
    parser.add_argument("--seed", type=int, default=23, help="Seed for the signal cases' random moments.")
    parser.add_argument("--workers", type=int, default=2, help="Cases run at once.")
    parser.add_argument("--signals", type=int, default=60, help="How many signal cases.")
    parser.add_argument("--rounds", type=int, default=8, help="How many concurrency rounds.")
    parser.add_argument("--only", default="", help="Run only the families whose name contains this.")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="tito-faults-"))
    try:
        bases = make_base(scratch / "base")
        cases = state_cases() + manifest_cases() + reference_cases() + module_cases() + filesystem_cases()
        cases += release_cases(scratch) + signal_cases(rng, options.signals)
        from faults_heldout import heldout_cases  # here: that file imports this one's helpers

        cases += heldout_cases(scratch)
        if options.only:
            cases = [case for case in cases if options.only in case.family]
        if options.quick:
            cases = [case for index, case in enumerate(cases) if index % 7 == 0]
        with ThreadPoolExecutor(options.workers) as pool:
            outcomes = list(
                pool.map(lambda case: (f"{case.family}: {case.name}", run_case(case, bases, scratch)), cases)
            )
        if not options.only or "concurrency" in options.only:
            outcomes += concurrency_rounds(bases, scratch, 2 if options.quick else options.rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    families: dict[str, list[int]] = {}
    for name, problem in outcomes:
        family = name.split(":")[0]
        families.setdefault(family, [0, 0])[0] += 1
        if problem:
            families[family][1] += 1
            print(f"FAIL {name}: {problem}")
    seconds = time.monotonic() - started
    for family, (count, failed) in families.items():
        print(f"  {family:14} {count:4} cases, {failed} failures")
    failures = sum(failed for _, failed in families.values())
    print(f"{len(outcomes)} cases, {failures} failures, {seconds:.0f} s")
    if STARTUP_SIGNALS:
        print(
            f"({len(STARTUP_SIGNALS)} signal(s) landed in Python's own start-up, before tito's code: Python's traceback)"
        )
    print(json.dumps({"cases": len(outcomes), "failures": failures, "seconds": round(seconds)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

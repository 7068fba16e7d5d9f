"""The held-out family of the fault battery (benchmarks/faults.py --only held-out): the cases an
independent battery tried after issue 23, as a careless student or a busy instructor would.

Odd encodings and line ends in course.yaml and module files, hostile environment variables
(TITO_COURSE_ROOT, TINYTORCH_DATA, COLUMNS, TERM, HOME, TMPDIR), extreme arguments, tests that
crash the test process (os.abort, a segfault, SIGKILL), leave a thread running or fail inside pytest's
own code, a moved `#| default_exp`, and `tito grade` pointed at the course itself. Every case is also
judged by the battery's common invariants (no traceback, one error line, no lost record, ...).
"""

from __future__ import annotations

from pathlib import Path

import faults
from faults import Case, Result, not_recorded, package_test, recorded

MODULE_FILE = "modules/01_alpha/alpha.py"


def says(*needles: str, absent: tuple[str, ...] = ()):
    """A check: the output holds every needle and none of `absent`."""

    def check(root: Path, result: Result) -> str | None:
        text = result.out + result.err
        missing = [needle for needle in needles if needle not in text]
        present = [word for word in absent if word in text]
        if missing or present:
            return f"output lacks {missing} or holds {present}: {text.strip()[-300:]}"
        return None

    return check


def both(*checks):
    def check(root: Path, result: Result) -> str | None:
        return next((problem for c in checks if (problem := c(root, result))), None)

    return check


def edited(relative: str, change):
    def setup(root: Path) -> None:
        path = root / relative
        path.write_bytes(change(path.read_bytes()))

    return setup


def symlink(relative: str, target: str):
    def setup(root: Path) -> None:
        (root / relative).symlink_to(target if target.startswith("/") else root / target)

    return setup


def moved_module_folder(root: Path) -> None:
    (root / "modules" / "01_alpha").rename(root / "alpha_elsewhere")
    (root / "modules" / "01_alpha").symlink_to(root / "alpha_elsewhere")


def no_old_package_file(root: Path, result: Result) -> str | None:
    return "tinytorch/alpha.py, no longer exported, is still there" if (root / "tinytorch/alpha.py").exists() else None


def heldout_cases(scratch: Path) -> list[Case]:
    family = "held-out"
    cases: list[Case] = []
    loop = scratch / "loop"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    a_file = scratch / "a-file"
    a_file.write_text("not a folder\n")

    # encodings and line ends
    bom = edited("course.yaml", lambda b: b"\xef\xbb\xbf" + b)
    crlf = edited("course.yaml", lambda b: b.replace(b"\n", b"\r\n"))
    utf16 = edited("course.yaml", lambda b: b.decode().encode("utf-16"))
    cases += [
        Case(family, "course.yaml with a BOM", ["module", "list"], bom, (0,), says("Alpha")),
        Case(family, "course.yaml with CRLF", ["module", "list"], crlf, (0,), says("Alpha")),
        Case(family, "course.yaml in UTF-16", ["module", "list"], utf16, (1,), says("not UTF-8")),
        Case(
            family,
            "module file with BOM and CRLF",
            ["module", "complete", "01"],
            edited(MODULE_FILE, lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n")),
            (0,),
            recorded,
        ),
        Case(
            family,
            "module file in Latin-1",
            ["export", "--all"],
            edited(MODULE_FILE, lambda b: b + b"# caf\xe9\n"),
            (1,),
            says("not UTF-8"),
        ),
        Case(family, "module folder a symlink", ["module", "complete", "01"], moved_module_folder, (0,), recorded),
        Case(
            family,
            "symlink to /etc/passwd in a module",
            ["module", "complete", "01"],
            symlink("modules/01_alpha/evil.py", "/etc/passwd"),
            (0,),
            recorded,
        ),
    ]

    for title in ('"\\e[2J\\e]0;pwned\\a"', '"[bold red]x[/] :smile:"', "x" * 201):
        title_edit = edited("course.yaml", lambda b, t=title: b.replace(b"title: Alpha", f"title: {t}".encode()))
        codes = (0,) if "bold" in title else (1,)
        shown = ("[bold red]x[/] :smile:",) if "bold" in title else ("printable characters",)
        cases.append(
            Case(family, f"title {title[:20]}", ["module", "list"], title_edit, codes, says(*shown, absent=("\x1b",)))
        )

    # the environment
    root_error = says("unset TITO_COURSE_ROOT")
    for name, value in {"a symlink loop": str(loop), "5000 letters": "a" * 5000, "a file": str(a_file)}.items():
        cases.append(
            Case(
                family,
                f"TITO_COURSE_ROOT is {name}",
                ["module", "list"],
                env={"TITO_COURSE_ROOT": value},
                check=root_error,
            )
        )
    for columns in ("0", "1", "-3", "abc"):
        cases.append(
            Case(
                family,
                f"COLUMNS={columns}",
                ["module", "list"],
                codes=(0,),
                env={"COLUMNS": columns},
                check=says("Alpha"),
            )
        )
    for env in ({"TERM": "dumb"}, {"HOME": ""}, {"TMPDIR": "/nonexistent"}, {"TMPDIR": str(a_file)}):
        cases.append(
            Case(family, f"{env} / complete", ["module", "complete", "01"], codes=(0,), env=env, check=recorded)
        )
    for command in (["list"], ["path", "mnist"], ["download", "mnist"], ["verify", "mnist"]):
        cases.append(
            Case(
                family,
                f"TINYTORCH_DATA a file / data {command[0]}",
                ["data", *command],
                env={"TINYTORCH_DATA": str(a_file)},
                check=says("unset TINYTORCH_DATA"),
            )
        )

    # arguments
    cases += [
        Case(family, "a 300-letter slug", ["dev", "new-module", "05", "a" * 300], codes=(2,), check=says("at most")),
        Case(family, "a 300-digit module id", ["dev", "new-module", "9" * 300, "zz"], codes=(2,)),
        Case(family, "10,000 module arguments", ["test", *map(str, range(10000))], codes=(2,)),
        Case(
            family,
            "grade ''",
            ["grade", "", "--out", str(scratch / "grades")],
            codes=(2,),
            check=says("holds the course itself", absent=("Grading",)),
        ),
        Case(
            family,
            "grade .",
            ["grade", ".", "--out", str(scratch / "grades")],
            codes=(2,),
            check=says("holds the course itself", absent=("Grading",)),
        ),
    ]

    # tests that end the test process in odd ways
    endings = {
        "os.abort": ("def test_a():\n    os.abort()\n", "killed by SIGABRT"),
        "a segfault": ("def test_a():\n    import ctypes\n    ctypes.string_at(0)\n", "killed by SIGSEGV"),
        "SIGKILL itself": ("def test_a():\n    os.kill(os.getpid(), 9)\n", "killed by SIGKILL"),
        "a thread left": (
            "def test_a():\n    import threading\n    threading.Thread(target=time.sleep, args=(600,)).start()\n",
            "thread(s) running",
        ),
        "endless recursion": ("def f():\n    return f()\n\ndef test_a():\n    f()\n", "Fix tests/01_alpha/"),
        "reading stdin": ("def test_a():\n    sys.stdin.read()\n", "Fix tests/01_alpha/"),
        "closing stdout": ("def test_a():\n    os.close(1)\n    os.close(2)\n", ""),
    }
    for name, (body, needle) in endings.items():
        check = not_recorded if not needle else both(not_recorded, says(needle, absent=("site-packages", "pluggy")))
        codes = (0,) if name == "closing stdout" else (1,)
        cases.append(
            Case(
                family,
                f"a test: {name}",
                ["module", "complete", "01"],
                package_test(body),
                codes,
                recorded if name == "closing stdout" else check,
            )
        )

    # a moved default_exp
    moved = edited(MODULE_FILE, lambda b: b.replace(b"#| default_exp alpha", b"#| default_exp moved.alpha"))
    cases += [
        Case(
            family,
            "moved default_exp / complete",
            ["module", "complete", "01"],
            moved,
            (1,),
            both(not_recorded, no_old_package_file),
        ),
        Case(family, "moved default_exp / export --check", ["export", "--check"], moved, (1,), says("left over")),
        Case(family, "moved default_exp / export --all", ["export", "--all"], moved, (0,), no_old_package_file),
    ]
    return cases


if __name__ == "__main__":
    raise SystemExit(f"run it through the battery: python {Path(faults.__file__).name} --only held-out")

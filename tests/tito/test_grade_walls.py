"""The grader's walls one by one: the seccomp filter, linear reading of module files, safe ids for
any folder name, and exception names from a fixed list only."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tito.exporter.cells import parse_cells
from tito.grading import seccomp
from tito.grading.compare import EXCEPTIONS, exception_name
from tito.grading.prepare import MAX_LINE, long_line
from tito.grading.students import student_ids

PROBE = """
import ctypes, errno, os, sys
sys.path.insert(0, {root!r})
from tito.grading import seccomp
seccomp.install()
libc = ctypes.CDLL(None, use_errno=True)
def denied(*call):
    return libc.syscall(*call) == -1 and ctypes.get_errno() == errno.EPERM
print(denied(319, b"x", 0), denied(248, b"user", b"k", b"v", 1, -4), denied(250, 0, -4, 0),
      denied(29, 0, 4096, 0o1000 | 0o600), denied(68, 0, 0o1000 | 0o600), denied(240, b"/q", 0o102, 0o600, None))
print(os.getpid() > 0, sum(range(10)))
"""


@pytest.mark.skipif(sys.platform != "linux" or seccomp.platform.machine() not in seccomp.ARCHES, reason="Linux only")
def test_the_filter_denies_kernel_state_and_allows_ordinary_work():
    root = str(__import__("pathlib").Path(seccomp.__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", PROBE.format(root=root)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # memfd_create, add_key, keyctl, shmget, msgget, mq_open: each EPERM; getpid and arithmetic still work
    assert done.stdout.split("\n")[:2] == ["True True True True True True", "True 45"]


def test_the_filter_refuses_every_other_architecture_first():
    program = seccomp.program("x86_64")
    assert len(program) % 8 == 0 and len(program) // 8 == 4 + 1 + len(set(seccomp.DENIED)) + 6  # 5: the socket rule
    assert program[8:16] == seccomp._instruction(seccomp.BPF_JEQ_K, 1, 0, 0xC000003E)
    with pytest.raises(seccomp.SeccompUnavailable):
        seccomp.program("sparc")


@pytest.mark.parametrize(
    "line",
    [
        "#| export a" + " " * 200_000 + "b",
        "#|" + " " * 200_000 + "x",
        "#| " + "-" * 200_000 + " !",
        "# %%" + " " * 200_000,
    ],
)
def test_reading_directives_is_linear_however_the_line_is_built(line):
    started = time.perf_counter()
    parse_cells("# %%\n" + line + "\nx = 1\n")
    assert time.perf_counter() - started < 0.5


def test_a_line_past_the_cap_is_found_before_any_parsing():
    assert long_line(b"a = 1\n" + b"x" * (MAX_LINE + 1) + b"\n") == 2
    assert long_line("é".encode() * MAX_LINE) is None  # characters, not bytes
    assert long_line(b"ok\n" * 1000) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=12))
def test_every_folder_name_gets_a_unique_safe_short_id(names):
    ids = student_ids(names)
    assert len(set(ids)) == len(ids)
    for key in ids:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", key) and len(key) < 90 and not key.startswith(".")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_an_exception_is_named_from_the_fixed_list_or_not_at_all(text):
    assert exception_name(text) in EXCEPTIONS | {"an exception"}
    assert exception_name("ValueError: " + text) == "ValueError"

"""The grader's small parts: the result records, the starter test, the scrubber and the comparison."""

from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tito.grading import channel
from tito.grading.compare import Scrubber, same_values
from tito.grading.starter import unchanged_from_starter

STARTER = '''
def add(a, b):
    """a + b"""
    # Hint: one line.
    raise NotImplementedError("TinyTorch 01: implement add")


def given(a):
    return a
'''


def test_records_carry_numbers_and_text_and_nothing_else():
    values = {
        "matrix": np.arange(6, dtype=np.float32).reshape(2, 3),
        "scalar": 2.5,
        "flag": True,
        "ints": np.array([1, -2], dtype=np.int64),
        "name": "relu",
        "names": ["a", "b"],
    }
    data = channel.encode("hello") + channel.encode("check", "adds", values)
    stream = channel.decode(data)
    assert not stream.malformed and [r.kind for r in stream.records] == ["hello", "check"]
    got = stream.records[1].values()
    assert got["matrix"].dtype == np.float32 and got["matrix"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert got["scalar"].shape == () and float(got["scalar"]) == 2.5 and bool(got["flag"]) is True
    assert got["ints"].tolist() == [1, -2] and got["name"] == "relu" and got["names"] == ["a", "b"]


def test_values_that_are_not_plain_numbers_make_an_error_record():
    for bad in (np.array([object()]), {"nested": 1}, np.array([1 + 2j])):
        (record,) = channel.decode(channel.encode("check", "c", {"value": bad})).records
        assert record.arrays == {} and "could not be sent" in record.error


def test_malformed_data_stops_the_reading_and_keeps_what_came_before():
    good = channel.encode("check", "first", {"x": np.ones(3)})
    head = b'{"kind": "check", "check": "second", "arrays": {"x": {"dtype": "<f8", "shape": [1000000000], "offset": 0, "nbytes": 8}}}'
    huge = channel.MAGIC + struct.pack(">I", len(head)) + head + struct.pack(">Q", 8) + b"\0" * 8
    pickled = channel.MAGIC + struct.pack(">I", 5) + b"cos\ns" + b"\0" * 8
    objects = head.replace(b"<f8", b"|O").replace(b"1000000000", b"1")
    for tail in (
        huge,
        pickled,
        b"garbage",
        good[: len(good) // 2],
        channel.MAGIC + struct.pack(">I", 10**6),
        channel.MAGIC + struct.pack(">I", len(objects)) + objects + struct.pack(">Q", 8) + b"\0" * 8,
    ):
        stream = channel.decode(good + tail)
        assert stream.malformed and [r.check for r in stream.records] == ["first"]


def test_a_file_is_the_starter_until_a_stub_function_changes():
    assert unchanged_from_starter(STARTER, STARTER)
    edited_prose = STARTER.replace("# Hint: one line.", "# my own note").replace('"""a + b"""', '"""adds"""')
    assert unchanged_from_starter(edited_prose + "\n# more notes\n", STARTER)
    assert not unchanged_from_starter(
        STARTER.replace('raise NotImplementedError("TinyTorch 01: implement add")', "return a + b"), STARTER
    )
    assert not unchanged_from_starter(STARTER.replace("def add", "def plus"), STARTER)
    assert not unchanged_from_starter("def add(:\n", STARTER)


def test_the_scrubber_withholds_course_code_and_shortens_the_rest():
    scrubber = Scrubber(["return Tensor._wrap(np.clip(self.data, min, max))", "shift = x.detach().clip(min=0)"])
    assert scrubber.clean("ValueError: return Tensor._wrap(np.clip(self.data, min, max)) was") == (
        "(the message quoted the course's code and is not shown)"
    )
    assert scrubber.clean("KeyError:   shift = x.detach().clip(min=0)").startswith("(the message")
    assert scrubber.clean("TypeError: unsupported operand") == "TypeError: unsupported operand"
    assert len(scrubber.clean("x" * 1000)) == 200


def test_values_are_compared_by_shape_kind_and_tolerance():
    reference = {"out": np.array([1.0, 2.0]), "count": np.array(3), "names": ["w", "b"]}
    assert same_values({**reference, "out": np.array([1.0, 2.0 + 1e-7])}, reference, 1e-4, 1e-5) is None
    assert same_values({**reference, "out": np.array([1.0, np.nan])}, reference, 1e-4, 1e-5) == (
        "`out` differs from the reference in 1 of 2 entries"
    )
    assert same_values({**reference, "out": np.ones(3)}, reference, 1e-4, 1e-5) == (
        "`out` does not have the reference's shape (2,)"
    )
    assert (
        same_values({**reference, "names": ["b", "w"]}, reference, 1e-4, 1e-5)
        == "`names` is not what the reference gives"
    )
    assert same_values({"out": reference["out"], "names": ["w", "b"]}, reference, 1e-4, 1e-5) == "returned no `count`"
    assert (
        same_values({**reference, "count": "3"}, reference, 1e-4, 1e-5)
        == "`count` is text where the reference has numbers"
    )


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process tree from /proc")
def test_a_graded_run_leaves_no_process_behind_even_one_in_a_session_of_its_own():
    """The grader kills a run with tito/process_tree.py's kill_tree, so a process that left the run's
    group (setsid) goes too, where killing the group alone would have left it running."""
    from tito.grading import graded_run

    escape = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    outcome = graded_run.run(
        [sys.executable, "-c", escape], env=dict(os.environ), cwd=".", timeout=3, running=graded_run.Running()
    )
    assert outcome.timed_out
    escaped = int(outcome.output_tail.split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(escaped):
        time.sleep(0.05)
    assert not _alive(escaped)


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie (killed, not yet reaped by init) does not count."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status

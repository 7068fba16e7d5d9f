"""A pytest plugin that tells tito how far a run got: the test running now, and whether it ran to its end.

tito counts a run as a pass only when it was whole: pytest's test loop ran to its end (no
KeyboardInterrupt, no `pytest.exit`, no `session.shouldstop`) and every collected test reported an
outcome. This plugin writes, to the JSON file named by `--tito-session PATH`:

  {"current": "<node id or 'collecting <file>'>", "collected": N, "finished": true|false}

`current` is rewritten as each test (or each file's collection) starts, so when tito stops a run at
its time limit it can name what was running; `finished` becomes true only after the loop returned.

A thread a test started and never ended would hold the process open (Python waits for such threads
at exit) until tito's time limit, and the run would be blamed on an endless loop. So, last of all,
such threads get THREAD_GRACE seconds to end; those still running are counted (`"threads_left": N`)
and the process ends at once with pytest's own exit code.
"""

from __future__ import annotations

import concurrent.futures.thread
import json
import os
import sys
import threading
import time

import pytest

THREAD_GRACE = 3.0  # seconds the threads a test left get to end after pytest is done


def pytest_addoption(parser):
    parser.getgroup("tito").addoption("--tito-session", default=None, help="Write how far the run got here.")


def pytest_configure(config):
    path = config.getoption("tito_session", None)
    if path:
        config.pluginmanager.register(Progress(path), "tito-session")


class Progress:
    def __init__(self, path: str):
        self.path = path
        self.state: dict = {"current": "", "collected": None, "finished": False}
        self.exitstatus: int | None = None

    def _write(self, **changes) -> None:
        self.state.update(changes)
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.state, handle)
        os.replace(tmp, self.path)

    def pytest_collectstart(self, collector):
        if isinstance(collector, pytest.File):
            self._write(current=f"collecting {collector.nodeid}")

    def pytest_collection_finish(self, session):
        self._write(current="", collected=len(session.items))

    def pytest_runtest_logstart(self, nodeid, location):
        self._write(current=nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session):
        outcome = yield
        stopped = session.shouldstop or session.shouldfail
        if outcome.excinfo is None and not stopped:
            self._write(current="", finished=True)

    def pytest_sessionfinish(self, session, exitstatus):
        self.exitstatus = int(exitstatus)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        left = threads_left(THREAD_GRACE)
        if left and self.exitstatus is not None:
            self._write(threads_left=left)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(self.exitstatus)


def threads_left(grace: float) -> int:
    """How many threads that Python would wait for at exit are still running after `grace` seconds."""
    deadline = time.monotonic() + grace
    pools = getattr(concurrent.futures.thread, "_threads_queues", {})  # Python ends idle pool workers itself at exit
    waiting = [
        t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon and t not in pools
    ]
    for thread in waiting:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in waiting)

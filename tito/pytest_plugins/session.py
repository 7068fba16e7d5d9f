"""A pytest plugin that tells tito how far a run got: the test running now, and whether it ran to its end.

tito counts a run as a pass only when it was whole: pytest's test loop ran to its end (no
KeyboardInterrupt, no `pytest.exit`, no `session.shouldstop`) and every collected test reported an
outcome. This plugin writes, to the JSON file named by `--tito-session PATH`:

  {"current": "<node id or 'collecting <file>'>", "collected": N, "finished": true|false}

`current` is rewritten as each test (or each file's collection) starts, so when tito stops a run at
its time limit it can name what was running; `finished` becomes true only after the loop returned.
"""

from __future__ import annotations

import json
import os

import pytest


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

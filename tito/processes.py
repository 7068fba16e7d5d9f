"""Child processes that end when tito ends: a time limit on the whole tree, and clean signals.

tito runs a module's tests in a pytest subprocess. Whatever happens, that process and everything it
started must stop with tito, and tito's temporary folders must go:

- the child starts a session of its own (its own process group), so a kill reaches its whole group;
- on Linux it also gets PR_SET_PDEATHSIG, so it is killed even if tito itself is SIGKILLed;
- on a time limit, and on Ctrl-C, SIGTERM or SIGHUP (a closed terminal) while it runs, tito kills the
  tree: the group, plus any descendant that started a session of its own, found through /proc;
- `signals_raise()` turns SIGTERM and SIGHUP into `Stopped` (a KeyboardInterrupt), so the `finally`
  blocks that remove temporary folders run, exactly as they do for Ctrl-C.

This is the one process-tree killer of tito: test runs and graded runs use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


class Stopped(KeyboardInterrupt):
    """tito was asked to stop by a signal (SIGTERM, SIGHUP); `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_raise():
    """While the block runs, SIGTERM and SIGHUP raise Stopped instead of ending tito on the spot."""
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {}

    def handler(signum, frame):
        raise Stopped(signum)

    try:
        for signum in wanted:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: signals cannot be caught here, leave them alone
        previous.clear()
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _die_with_parent() -> None:
    """Runs in the child before it executes: ask Linux to SIGKILL it when tito dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (Linux); [] where /proc cannot tell."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(c) for c in task.read_text().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            queue.extend(children)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL the process group led by `pid` and every descendant, whatever group it moved to."""
    if os.name != "posix":
        return
    below = descendants(pid)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    for child in below:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)


@dataclass
class Finished:
    output: str
    exit_code: int | None  # None when it was stopped at the time limit
    timed_out: bool
    seconds: float


def run(command: list[str], *, cwd, env, timeout: float | None, capture: bool = True) -> Finished:
    """Run `command` to the end or to `timeout` seconds; the whole tree dies with tito in any case."""
    posix = os.name == "posix"
    started = time.perf_counter()
    with signals_raise():
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            text=True,
            errors="replace",
            start_new_session=posix,
            preexec_fn=_die_with_parent if posix and sys.platform == "linux" else None,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
            kill_tree(process.pid)  # anything the run left behind in its group
            return Finished(output or "", process.returncode, False, time.perf_counter() - started)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            output, _ = process.communicate()
            return Finished(output or "", None, True, time.perf_counter() - started)
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: the tree goes with us
            kill_tree(process.pid)
            process.kill()
            process.wait()
            raise

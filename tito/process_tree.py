"""Child processes that end when tito ends: a time limit on the whole tree, and clean signals.

tito runs a module's tests in a pytest subprocess. Whatever happens, that process and everything it
started must stop with tito, and tito's temporary folders must go:

- the child starts a session of its own (its own process group), so a kill reaches its whole group;
- on Linux it also gets PR_SET_PDEATHSIG, so it is killed even if tito itself is SIGKILLed, and tito
  makes itself a child subreaper, so a daemon the tests start (double fork, setsid) becomes tito's
  child instead of init's: when the run ends, whatever it left running is killed and counted;
- on a time limit, and on Ctrl-C, SIGTERM or SIGHUP (a closed terminal) while it runs, tito kills the
  tree: the group, plus any descendant that started a session of its own, found through /proc (psutil
  on macOS and Windows, where there is no /proc);
- the output is read by a thread that keeps its tail, so neither endless printing nor a leftover
  process holding the pipe open can hold tito;
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
POSIX = os.name == "posix"
LINUX = sys.platform.startswith("linux")
OUTPUT_TAIL_BYTES = 64 * 1024


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


def become_subreaper() -> bool:
    """Linux: make tito the parent of every orphan below it (PR_SET_CHILD_SUBREAPER), so a daemon a
    test starts (double fork, setsid) stays in view and can be ended. False where it is not possible."""
    if not LINUX:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> list[int]:
    """The direct children of `pid`, read from /proc (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(c) for c in task.read_text().split())
        except (OSError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: /proc on Linux, psutil elsewhere; [] where neither can tell."""
    if not LINUX:
        return _psutil_descendants(pid)
    found, queue = [], [pid]
    while queue:
        below = children(queue.pop())
        found.extend(below)
        queue.extend(below)
    return found


def _psutil_descendants(pid: int) -> list[int]:
    try:
        import psutil

        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except Exception:  # psutil missing, or the process already gone: nothing more to find
        return []


def _kill(pid: int) -> None:
    if POSIX:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        return
    try:
        import psutil

        psutil.Process(pid).kill()
    except Exception:  # already gone
        pass


def kill_tree(pid: int) -> None:
    """Kill the process `pid`, its process group (POSIX) and every descendant, whatever group it moved to."""
    below = descendants(pid)
    if POSIX:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    _kill(pid)
    for child in below:
        _kill(child)


def end_leftovers(known: set[int]) -> int:
    """Kill and reap every process below tito that is not below a child in `known`; return how many.

    With tito a subreaper (Linux), what a run left behind (daemons included) has become tito's child,
    so it is found here. A few rounds, because a process may fork while it is being killed.
    """
    ended: set[int] = set()
    for _ in range(20):
        found = [pid for pid in children(os.getpid()) if pid not in known] if LINUX else []
        found = [p for pid in found for p in (pid, *descendants(pid))]
        alive = [pid for pid in found if _running(pid)]
        if not alive:
            break
        for pid in alive:
            _kill(pid)
            ended.add(pid)
        for pid in found:
            with contextlib.suppress(OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.01)
    return len(ended)


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


@dataclass
class Finished:
    output: str
    exit_code: int | None  # None when it was stopped at the time limit
    timed_out: bool
    seconds: float
    left_running: int = 0  # processes the run started that were still running when it ended (tito ended them)


def run(command: list[str], *, cwd, env, timeout: float | None, capture: bool = True) -> Finished:
    """Run `command` to the end or to `timeout` seconds; the whole tree dies with tito in any case.

    The output is read by a thread that keeps only its last OUTPUT_TAIL_BYTES, so a test that prints
    without end costs memory for nothing but that tail, and tito waits for the command itself, never
    for a pipe a leftover process holds open: the time limit bounds tito's wait, nothing else.
    """
    started = time.perf_counter()
    become_subreaper()
    known = set(children(os.getpid())) if LINUX else set()
    with signals_raise():
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            start_new_session=POSIX,
            preexec_fn=_die_with_parent if LINUX else None,
            creationflags=0 if POSIX else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
        tail = _Tail(process.stdout) if capture else None
        timed_out = False
        try:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            kill_tree(process.pid)  # the time limit, or anything the run left behind in its group
            process.wait()
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: the tree goes with us
            kill_tree(process.pid)
            process.kill()
            process.wait()
            end_leftovers(known)
            raise
        left = end_leftovers(known)
        seconds = time.perf_counter() - started
        output = tail.text() if tail is not None else ""
    return Finished(output, None if timed_out else process.returncode, timed_out, seconds, left)


class _Tail(threading.Thread):
    """Reads a pipe to its end in the background, keeping only its last OUTPUT_TAIL_BYTES."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.data = pipe, b""
        self.start()

    def run(self) -> None:
        try:
            while chunk := os.read(self.pipe.fileno(), 65536):
                self.data = (self.data + chunk)[-OUTPUT_TAIL_BYTES:]
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        """What was read, once the writers are gone (a writer out of reach is not waited for long)."""
        self.join(timeout=2.0)
        if not self.is_alive():
            self.pipe.close()
        return self.data.decode("utf-8", "replace")

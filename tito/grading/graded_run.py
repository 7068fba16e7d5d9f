"""Start one graded process, collect what it sends, and make sure it is gone afterwards.

The process gets the write end of a pipe (the channel) as an inherited file descriptor; its stdout
and stderr go to a second pipe. Both are read at once until the process ends, its time runs out,
or the channel passes its size limit; output beyond the last few kilobytes is read and dropped, so
printing 100 MB costs the grader nothing but the reading. Then its process tree is killed by
tito/process_tree.py's `kill_tree`, the one process-tree killer (the group, and any descendant that
started a session of its own). With bwrap that takes the whole sandbox: its PID namespace dies with
its first process, which the kernel tears down on its own.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from tito.process_tree import descendants, kill_tree

MAX_CHANNEL_BYTES = 16 * 1024**2
OUTPUT_TAIL_BYTES = 4096
AFTER_EXIT_SECONDS = 0.5  # a pipe still held open by a leftover process stops being read after this


@dataclass
class Outcome:
    channel: bytes
    output_tail: str
    returncode: int | None
    timed_out: bool
    overflowed: bool  # the channel passed MAX_CHANNEL_BYTES; the rest was ignored
    seconds: float
    over_memory: bool = False  # its processes together used more memory than the run's budget


class Running:
    """The process groups still running, so Ctrl-C can stop every one of them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.groups: set[int] = set()
        self.stopping = False

    def add(self, pid: int) -> None:
        with self.lock:
            self.groups.add(pid)
            if self.stopping:
                kill_tree(pid)

    def discard(self, pid: int) -> None:
        with self.lock:
            self.groups.discard(pid)

    def stop_all(self) -> None:
        with self.lock:
            self.stopping = True
            for pid in list(self.groups):
                kill_tree(pid)


def run(
    argv: list[str],
    *,
    env: dict,
    cwd: str,
    timeout: float,
    running: Running,
    channel_limit: int = MAX_CHANNEL_BYTES,
    seccomp: bytes = b"",
    memory: int = 0,
    members: Callable[[int], list[int]] | None = None,
) -> Outcome:
    """Run `argv` with the channel on a descriptor named in its job; see the module docstring. With
    `seccomp`, the filter's bytes wait on a pipe whose descriptor replaces "@SECCOMP_FD@" in `argv`.

    With `memory`, the run is stopped once its processes together hold more than `memory` bytes
    (proportional set size, read every MEMORY_EVERY seconds): RLIMIT_AS bounds each process alone, so
    64 processes of 2 GB each could take the machine. `members(pid)` names the run's processes
    (default: the first process and its descendants)."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    passed = [write_end]
    if seccomp:
        filter_read, filter_write = os.pipe()
        os.write(filter_write, seccomp)  # a few hundred bytes: well inside a pipe's buffer
        os.close(filter_write)
        os.set_inheritable(filter_read, True)
        passed.append(filter_read)
        argv = [part.replace("@SECCOMP_FD@", str(filter_read)) for part in argv]
    argv = [part.replace("@CHANNEL_FD@", str(write_end)) for part in argv]
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=tuple(passed),
            start_new_session=True,
        )
    finally:
        for fd in passed:
            os.close(fd)
    output = process.stdout
    assert output is not None  # stdout=PIPE above
    running.add(process.pid)
    try:
        watch = None
        if memory:
            find = members or (lambda pid: [pid, *descendants(pid)])
            watch = lambda: run_memory(find(process.pid)) > memory  # noqa: E731
        channel, tail, timed_out, overflowed, over_memory = _collect(
            process, output, read_end, started + timeout, channel_limit, watch
        )
    finally:
        kill_tree(process.pid)
        process.wait()
        running.discard(process.pid)
        os.close(read_end)
        output.close()
    return Outcome(
        channel,
        tail.decode("utf-8", "replace"),
        process.returncode,
        timed_out,
        overflowed,
        round(time.monotonic() - started, 3),
        over_memory,
    )


def kill_user(uid: int, rounds: int = 20) -> int:
    """SIGKILL every process owned by `uid` (a run's own user: nothing else runs as it), until none
    is left; how many were killed. Catches what a process-group kill cannot: a daemon that started a
    session of its own, a process re-parented to init."""
    import signal

    killed = 0
    for _ in range(rounds):
        found = [pid for pid in pids_of(uid) if pid != os.getpid()]
        if not found:
            return killed
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    return killed


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")  # where any user may create files
WRITABLE_ROOTS = ("/tmp", "/var", "/run", "/dev", "/home", "/srv", "/opt", "/mnt", "/media")
WALK_DEPTH = 4
MAX_WALKED = 100_000  # folders looked at, at most: the walk stays a fraction of a second on any machine


def shared_folders(roots: tuple[str, ...] = WRITABLE_ROOTS, depth: int = WALK_DEPTH) -> tuple[str, ...]:
    """Every folder where any user may create entries (write permission for others), within `depth`
    levels of `roots`, with SHARED_FOLDERS: not only /tmp but /run/lock, /var/crash, /tmp/.X11-unix, a
    1777 folder someone made. A fixed list missed /run/lock, so a run's files outlived it there. Found
    once per grading; links are not followed."""
    found = {folder for folder in SHARED_FOLDERS if os.path.isdir(folder)}
    level, walked = [(root, 0) for root in roots], 0
    while level and walked < MAX_WALKED:
        folder, deep = level.pop()
        walked += 1
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_mode & 0o002:
                    found.add(entry.path)
            except OSError:
                continue
            if deep + 1 < depth:
                level.append((entry.path, deep + 1))
    return tuple(sorted(found))


def remove_files_of(uid: int, folders: tuple[str, ...] = SHARED_FOLDERS) -> int:
    """Delete what `uid` left in the folders every user may write to (a run's own user owns nothing
    else); how many entries were removed. With bubblewrap these are the run's own tmpfs and vanish
    with it; without, this is how a run's files stop outliving it."""
    import shutil

    removed = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                continue
    return removed


def pids_of(uid: int) -> list[int]:
    """The processes `uid` runs (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


MEMORY_EVERY = 0.1  # seconds between two readings of a run's memory


def run_memory(pids: list[int]) -> int:
    """Bytes the processes hold between them: each one's proportional set size (a page shared by n
    processes counts 1/n in each), or its resident size where the kernel gives no rollup."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            try:
                with open(f"/proc/{pid}/statm", "rb") as handle:
                    total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                continue
    return total


def _collect(
    process: subprocess.Popen[bytes],
    output: IO[bytes],
    channel_fd: int,
    deadline: float,
    limit: int,
    over_memory: Callable[[], bool] | None = None,
) -> tuple[bytes, bytes, bool, bool, bool]:
    chunks: list[bytes] = []
    size, tail = 0, b""
    timed_out = overflowed = False
    weighed = 0.0
    selector = selectors.DefaultSelector()
    selector.register(channel_fd, selectors.EVENT_READ, "channel")
    selector.register(output, selectors.EVENT_READ, "output")
    exited_at = None
    while selector.get_map():
        now = time.monotonic()
        if exited_at is None and process.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > AFTER_EXIT_SECONDS:
            break  # something left behind holds a pipe open; the group kill below ends it
        if now >= deadline:
            timed_out = True
            break
        if over_memory is not None and exited_at is None and now - weighed >= MEMORY_EVERY:
            weighed = now
            if over_memory():
                selector.close()
                return b"".join(chunks), tail, False, False, True
        for key, _ in selector.select(timeout=min(MEMORY_EVERY, deadline - now)):
            fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
            data = os.read(fd, 65536)
            if not data:
                selector.unregister(key.fileobj)
            elif key.data == "channel":
                if size + len(data) > limit:
                    overflowed = True
                    selector.close()
                    return b"".join(chunks), tail, False, True, False
                chunks.append(data)
                size += len(data)
            else:
                tail = (tail + data)[-OUTPUT_TAIL_BYTES:]
    selector.close()
    return b"".join(chunks), tail, timed_out, overflowed, False

"""The audit-hook guard for `tito grade --no-sandbox`: a warning light, not a wall.

Without the operating-system sandbox, each graded process installs a Python audit hook (PEP 578)
before any student code runs. It refuses writing outside the run's folder, reading the instructor's
course, other submissions and the grading output, starting or signalling processes, the network,
ctypes, raising resource limits and walking the garbage collector. Code written to defeat it can:
it runs in the same process (a private `_posixsubprocess` call, `os.open` with a `dir_fd`, a frame
walk to the hook's closure). That is why every report of a --no-sandbox run carries a warning, and
why the score never depends on what this process says about itself: verdicts come from comparing
its numbers with the reference's, computed in the grader's own process.

A refusal raises PermissionError in the student's code, and is reported with the line of the
student's package that caused it. Lines the course itself gave (the starter's own code) are the
grader's to filter out: a report speaks only of what the student wrote.
"""

from __future__ import annotations

import os
import pathlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

# Events whose path arguments (by position) are written or deleted, and where their dir_fd sits.
WRITES = {
    "os.remove": ((0,), 1),
    "os.rmdir": ((0,), 1),
    "os.mkdir": ((0,), 2),
    "os.mkfifo": ((0,), 2),
    "os.mknod": ((0,), 3),
    "os.chmod": ((0,), 2),
    "os.chown": ((0,), 3),
    "os.chflags": ((0,), None),
    "os.lchflags": ((0,), None),
    "os.truncate": ((0,), None),
    "os.utime": ((0,), 3),
    "os.setxattr": ((0,), None),
    "os.removexattr": ((0,), None),
    "os.rename": ((0, 1), 2),  # os.replace raises this event too
    "os.link": ((0, 1), 2),  # a hard link to an outside file would let writes reach it
    "os.symlink": ((1,), 2),
    "shutil.rmtree": ((0,), 1),
    "shutil.move": ((0, 1), None),
    "shutil.copyfile": ((1,), None),
    "shutil.copymode": ((1,), None),
    "shutil.copystat": ((1,), None),
    "shutil.copytree": ((1,), None),
    "shutil.chown": ((0,), None),
    "shutil.unpack_archive": ((1,), None),
    "shutil.make_archive": ((0,), None),
}
# Events whose path arguments are read.
READS = {
    "os.listdir": (0,),
    "os.scandir": (0,),
    "os.chdir": (0,),
    "glob.glob": (0,),
    "glob.glob/2": (0,),
    "shutil.copyfile": (0,),
    "shutil.copytree": (0,),
    "shutil.unpack_archive": (0,),
}
FORBIDDEN = {
    "subprocess.Popen": "starting a process",
    "os.system": "starting a process",
    "os.exec": "starting a process",
    "os.posix_spawn": "starting a process",
    "os.spawn": "starting a process",
    "os.fork": "starting a process",
    "os.forkpty": "starting a process",
    "pty.spawn": "starting a process",
    "os.startfile": "starting a process",
    "os.kill": "signalling a process",
    "os.killpg": "signalling a process",
    "signal.pthread_kill": "signalling a process",
    "resource.setrlimit": "changing resource limits",
    "resource.prlimit": "changing resource limits",
    "gc.get_objects": "walking the garbage collector",
    "gc.get_referrers": "walking the garbage collector",
    "gc.get_referents": "walking the garbage collector",
    "sys.remote_exec": "attaching to a process",
    "webbrowser.open": "opening a browser",
}
FORBIDDEN_PREFIXES = {"socket.": "using the network", "ctypes.": "loading C code through ctypes"}
# Path arguments the hook reads itself; any other object (one with an __fspath__ of its own) is refused.
PLAIN_PATHS = (str, bytes, pathlib.PosixPath, pathlib.PurePosixPath, os.DirEntry)
UNKNOWN = "(a path object the guard does not read)"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
ALWAYS_WRITABLE = ("/dev/null",)


@dataclass(frozen=True)
class Policy:
    """Folders, as absolute resolved paths. `readable` wins over `hidden`; `writable` over both."""

    writable: tuple[str, ...]
    hidden: tuple[str, ...]
    readable: tuple[str, ...] = ()
    package: str = ""  # the student's package folder: refusals name the line there that caused them
    report: Callable[[str, str], None] | None = None  # report(message, student's package line or "") per refusal


def prepare() -> None:
    """Import what a run needs while nothing is guarded (NumPy loads C libraries through ctypes)."""
    import ctypes  # noqa: F401
    import linecache  # noqa: F401

    import numpy  # noqa: F401


def install(policy: Policy) -> None:
    """Install the hook. It cannot be removed: it lasts as long as the process."""
    sys.addaudithook(make_hook(policy))


def make_hook(policy: Policy):
    """The audit hook for `policy` (a closure, so the policy is not reachable as a global)."""
    writable = tuple(policy.writable)
    hidden = tuple(policy.hidden)
    readable = tuple(policy.readable)
    report = policy.report
    package = policy.package.rstrip("/") + "/"
    busy = threading.local()
    import linecache

    getframe, getline = sys._getframe, linecache.getline
    fspath, realpath, join, isabs, getcwd = os.fspath, os.path.realpath, os.path.join, os.path.isabs, os.getcwd
    isdir = os.path.isdir

    def under(path: str, folders: tuple[str, ...]) -> bool:
        return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)

    def resolve(value, dir_fd=None) -> str | None:
        if isinstance(value, int):
            return None  # an already-open descriptor: it was checked when it was opened
        if type(value) not in PLAIN_PATHS:
            # Never call an object's own __fspath__ here: it would run the student's code inside the
            # hook, where events are not checked (and could name another path the second time).
            return UNKNOWN
        text = fspath(value)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if not isabs(text):
            base = getcwd()
            if isinstance(dir_fd, int) and dir_fd >= 0:  # events pass -1 for "no dir_fd"
                try:
                    base = os.readlink(f"/proc/self/fd/{dir_fd}")
                except OSError:
                    return "/proc/self/fd/unknown/" + text  # cannot tell where: refuse writes
            text = join(base, text)
        return realpath(text)

    def may_write(path: str) -> bool:
        return path != UNKNOWN and (path in ALWAYS_WRITABLE or under(path, writable))

    def may_read(path: str) -> bool:
        return path != UNKNOWN and (under(path, writable) or under(path, readable) or not under(path, hidden))

    def refuse(action: str, path: str | None, why: str = "outside this run's folder") -> None:
        message = f"tito grade guard refused {action}{' ' + path if path else ''}: {why}"
        if report is not None:
            report(message, culprit())
        raise PermissionError(message)

    def culprit() -> str:
        """The innermost line of the student's package on the stack, or "" when none is."""
        frame: FrameType | None = getframe(1)
        while frame is not None:
            if package != "/" and frame.f_code.co_filename.startswith(package):
                return getline(frame.f_code.co_filename, frame.f_lineno).strip()
            frame = frame.f_back
        return ""

    def check(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            target = resolve(path)
            if target is None:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing:
                if not may_write(target):
                    refuse("writing", target)
            elif not may_read(target):
                refuse("reading", target, "another submission's or the instructor's files")
            elif not under(target, writable) and mode is None and isdir(target):
                # an os.open()ed folder outside the copy would let dir_fd calls write through it
                refuse("opening the folder", target)
            return
        if event in FORBIDDEN:
            refuse(FORBIDDEN[event], None, "submissions may not do this while being graded")
        for prefix, action in FORBIDDEN_PREFIXES.items():
            if event.startswith(prefix):
                refuse(action, None, "submissions may not do this while being graded")
        if event in WRITES:
            positions, fd_at = WRITES[event]
            dir_fd = args[fd_at] if fd_at is not None and fd_at < len(args) else None
            for position in positions:
                if position < len(args):
                    target = resolve(args[position], dir_fd)
                    if target is not None and not may_write(target):
                        refuse(f"{event}() on", target)
        if event in READS:
            for position in READS[event]:
                if position < len(args):
                    target = resolve(args[position])
                    if target is not None and not may_read(target):
                        refuse(f"{event}() on", target, "another submission's or the instructor's files")

    def hook(event: str, args: tuple) -> None:
        if getattr(busy, "on", False):
            return  # the hook's own path checks must not check themselves
        busy.on = True
        try:
            check(event, args)
        finally:
            busy.on = False

    return hook

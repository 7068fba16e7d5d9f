"""What runs inside one graded run: set the limits, run a module's checks, send back plain numbers.

The grader starts `python -I -c <bootstrap>` with the job (a dict) written into the bootstrap itself,
so nothing on disk that a submission could change decides what the process does. Two jobs:

- "student": inside the sandbox (or, with --no-sandbox, behind the audit-hook guard). Drop root if
  the grader is root, lower the resource limits, then import the checks and run each one on the
  student's package with the run's seed, sending each result as a record down the channel (a pipe
  inherited as a file descriptor). The first record, "hello", is sent before any student code runs,
  so the grader can tell a sandbox that never started from a submission that crashed.
- "reference": in the grader's own trusted process, without a sandbox: for each seed of a batch,
  fork a child that runs the same checks on the reference package and writes its records to a file.
"""

from __future__ import annotations

import os
import signal
import sys

from tito.grading import channel
from tito.grading.declare import load_checks, rng_for

FRAMES_SENT = 8  # the innermost package frames of a failing check, enough to reach the student's line


class CheckTimeout(BaseException):
    """A check ran past its own time limit (raised by the interval timer)."""


def _first_line(exc: BaseException) -> str:
    """The exception's type name: the grader shows no more of it (and only names from a fixed list)."""
    try:
        return str(type(exc).__name__)[:60]
    except BaseException:  # noqa: BLE001 - a metaclass can make even its name raise
        return "Exception"


def _package_frames(exc: BaseException, package: str) -> str:
    """Where in the package the exception passed, innermost first: "tinytorch/nn/linear.py:42;...".

    The grader maps these through the package's line maps to the student's own file and line.
    """
    if not package:
        return ""
    root = os.path.join(package, "")
    frames, tb = [], exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root):
            frames.append(f"{filename[len(root) :]}:{tb.tb_lineno}")
        tb = tb.tb_next
    return ";".join(frames[::-1][:FRAMES_SENT])  # a record's extra fields are plain strings


def run_checks(checks_path: str, seed: int, send, package: str = "") -> None:
    """Run every check with its own generator; `send(bytes)` each result as soon as it is known.

    `package` is the folder the student's tinytorch is imported from: a check that raises also sends
    where in it the exception passed.
    """
    try:
        checks = load_checks(checks_path)
    except BaseException as exc:  # noqa: BLE001 - reported, never raised into the grader
        send(channel.encode("broken", error=f"the checks could not be loaded: {_first_line(exc)}"))
        return

    def on_alarm(signum, frame):
        raise CheckTimeout()

    for item in checks:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, item.seconds)
        try:
            values = item.function(rng_for(seed, item.name))
            signal.setitimer(signal.ITIMER_REAL, 0)
            if not isinstance(values, dict):
                raise TypeError(f"the check returned a {type(values).__name__}, not a dict")
            record = channel.encode("check", item.name, values)
        except CheckTimeout:
            record = channel.encode("check", item.name, timeout=item.seconds)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from student code too
            signal.setitimer(signal.ITIMER_REAL, 0)
            record = channel.encode("check", item.name, error=_first_line(exc), where=_package_frames(exc, package))
        send(record)


def _drop_privileges(uid: int) -> None:
    """As root inside the sandbox: become `uid`, a user that owns nothing and runs nothing else."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _limit(limits: dict) -> None:
    """Lower soft and hard limits together, so the student's code cannot raise them again."""
    import resource

    for name, value in limits.items():
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def _writer(fd: int):
    write = os.write

    def send(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[write(fd, view) :]

    return send


def _use_package(folder: str) -> None:
    """Import tinytorch from `folder` only: first on the path, and no editable-install finder that
    could fill a gap from the instructor's own checkout."""
    sys.path.insert(0, folder)
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]


def student(job: dict) -> None:
    exit_now = os._exit  # bound before any student code can replace it
    if job.get("seccomp"):  # without bubblewrap: the same filter bwrap would load, while still root
        from tito.grading import seccomp

        seccomp.install()
    if job.get("uid") is not None:
        _drop_privileges(int(job["uid"]))
    _limit(job["limits"])
    send = _writer(int(job["fd"]))
    if job.get("guard"):
        from tito.grading import guard

        guard.prepare()
        guard.install(
            guard.Policy(
                **job["guard"], report=lambda text, line: send(channel.encode("refusal", error=text, line=line))
            )
        )
    sys.dont_write_bytecode = True
    os.chdir(job["workdir"])
    _use_package(job["package"])
    send(channel.encode("hello"))
    try:
        run_checks(job["checks"], int(job["seed"]), send, package=job["package"])
        send(channel.encode("end"))
    finally:
        exit_now(0)  # no atexit handlers: a submission may have registered one that never returns


def reference(job: dict) -> None:
    """One child per seed, so no state of one run (a global seed, a mode flag) reaches the next."""
    sys.dont_write_bytecode = True
    _use_package(job["package"])
    # NumPy is imported once here, not in every child (it was half of a child's time). With the job's
    # one-thread BLAS it starts no thread, so the forks are safe, and numpy.random is not loaded yet.
    import numpy  # noqa: F401

    for seed, path in job["runs"]:
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                send = _writer(fd)
                send(channel.encode("hello"))
                run_checks(job["checks"], int(seed), send)
                send(channel.encode("end"))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


def main(job: dict) -> None:
    (student if job["mode"] == "student" else reference)(job)

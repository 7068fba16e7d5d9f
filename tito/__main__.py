"""Entry point for `tito` and `python -m tito`. Imports nothing heavy so `tito --version` is instant.

Signals, at any moment, end tito quietly (exit 128 + the signal's number, no traceback):
- while tito is still importing, Ctrl-C, SIGTERM and SIGHUP end it at once: nothing is written yet;
- once a command runs, Ctrl-C raises KeyboardInterrupt and SIGTERM and SIGHUP raise
  process_tree.Stopped (a KeyboardInterrupt), so every `finally` runs: test processes are ended and the
  temporary files of atomic writes are removed before tito exits.
An OSError no command expected (a disk that filled up, a folder that vanished) is one line, too.
"""

import os
import signal
import sys

CAUGHT = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_stopped_by: list[int] = []  # the signal that stopped a running command, if one did


def _exit_now(signum, frame) -> None:
    os._exit(128 + signum)


def _raise_stopped(signum, frame) -> None:
    from tito.process_tree import Stopped

    _stopped_by.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)


for _signum in CAUGHT:  # at once, while this very file is imported: the window before it is tiny
    signal.signal(_signum, _exit_now)


def main() -> None:
    for signum in CAUGHT:
        signal.signal(signum, _exit_now)
    if sys.argv[1:] == ["--version"]:  # answer before building the whole command line
        from tito import __version__

        print(f"tito {__version__}")
        return
    from tito.milestones.tuning import choose_openblas_kernels

    choose_openblas_kernels()  # for `tito milestone run`: must happen before anything imports NumPy
    from tito.cli import app
    from tito.files import problem

    for signum in CAUGHT:
        signal.signal(signum, _raise_stopped)
    try:
        app(prog_name="tito")
    except SystemExit as exc:
        if _stopped_by and exc.code == 130:  # typer turns every KeyboardInterrupt into exit 130
            sys.exit(128 + _stopped_by[0])
        raise
    except KeyboardInterrupt:
        sys.exit(128 + (_stopped_by[0] if _stopped_by else signal.SIGINT))
    except OSError as exc:
        where = f"{_shown(exc.filename)} " if exc.filename else ""
        print(f"Error: {where}{problem(exc, 'read or written')}; tito stopped there.", file=sys.stderr)
        sys.exit(1)
    finally:  # the work is done and its exit code decided: a late signal must not kill the exit itself
        for signum in CAUGHT:
            signal.signal(signum, signal.SIG_IGN)


def _shown(path) -> str:
    """A path relative to the working directory (the course) when it is below it."""
    relative = os.path.relpath(os.fspath(path))
    return os.fspath(path) if relative.startswith("..") else relative


if __name__ == "__main__":
    main()

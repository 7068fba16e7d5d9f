"""The operating-system sandbox every graded run executes in: bubblewrap (`bwrap`).

A run sees a filesystem made for it and nothing else of the host:

- /usr (and the /bin, /lib... links into it), the Python installation and tito's own package, all
  read-only; any `tinytorch` installed beside Python is covered by an empty folder;
- its inputs, read-only: the package to grade at /grading/package and the checks at /grading/checks.py;
- /tmp, its working folder and $HOME, a small tmpfs that vanishes with the run (so filling the disk
  fills only that);
- a fresh /proc and a minimal /dev.

It runs in new PID, network, IPC, UTS and mount namespaces (so no network at all, no other process
to see or signal), in a new session, with resource limits on CPU time, address space, file size,
open files and processes (set by the harness before any student code runs). When the run's first
process ends, or the grader kills bwrap at the time limit, the kernel kills every process left in
its PID namespace: nothing survives a run.

Two modes, because RLIMIT_NPROC does not bind root: an ordinary user gets `--unshare-all` (bwrap
makes a user namespace, and the process limit then counts only that run's processes); root keeps no
user namespace and the harness drops to a user id of its own (one per concurrent run, owning
nothing) before any student code runs. Both set no_new_privs and mount everything nosuid.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tito
from tito.grading import seccomp

INSTALL_HINT = (
    "tito grade runs each submission in a bubblewrap sandbox, and `bwrap` is not installed: install it "
    "(Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`), or, for "
    "trusted code only, grade without it with `tito grade --no-sandbox` (noted in every report)."
)
TOOL_INSIDE = "/opt/tito"
PACKAGE_INSIDE = "/grading/package"
CHECKS_INSIDE = "/grading/checks.py"
WORK_INSIDE = "/tmp"
SCRATCH_BYTES = 64 * 1024**2
SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
FIRST_UID = 1_900_000_000  # root mode: each run's user id is drawn from FIRST_UID .. LAST_UID
LAST_UID = 4_000_000_000
SHM_BYTES = 1024**2  # /dev/shm: POSIX shared memory is a file there, so a small tmpfs caps it
SECCOMP_FD = "@SECCOMP_FD@"


class SandboxError(Exception):
    """The sandbox cannot run here; the message says why and what to do."""


@dataclass
class Sandbox:
    """How to start a graded run inside bwrap on this machine."""

    bwrap: str
    as_root: bool
    python_folders: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()  # covered with an empty tmpfs: see `masks_for`
    seccomp: bytes = b""  # the filter of seccomp.py, loaded by bwrap before the run's program starts

    @classmethod
    def find(cls, hidden=()) -> Sandbox:
        path = shutil.which("bwrap")
        if path is None or os.name != "posix":
            raise SandboxError(INSTALL_HINT)
        folders = python_folders()
        sandbox = cls(path, os.geteuid() == 0, folders, masks_for(folders, [str(Path(h).resolve()) for h in hidden]))
        try:
            sandbox.seccomp = seccomp.program()
        except seccomp.SeccompUnavailable:
            pass  # an architecture without a filter here: the namespaces and limits still hold
        sandbox.probe()
        return sandbox

    def command(self, package: Path, checks: Path, program: list[str]) -> list[str]:
        """bwrap's command line for `program`, with `package` and `checks` bound as the run's inputs."""
        args = [self.bwrap]
        if self.as_root:
            args += [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--cap-drop",
                "ALL",
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
            ]
        else:
            args += ["--unshare-all"]
        args += ["--die-with-parent", "--new-session", "--clearenv"]
        if self.seccomp:
            args += ["--seccomp", SECCOMP_FD]  # process.run puts the filter on a pipe and names its fd here
        for name, value in sandbox_environment().items():
            args += ["--setenv", name, value]
        # The scratch tmpfs first: a Python installed under /tmp (a CI runner's venv) is bound on top of it.
        mounts: list[tuple[str, ...]] = [
            ("--size", str(SCRATCH_BYTES), "--tmpfs", WORK_INSIDE),
            ("--ro-bind", "/usr", "/usr"),
        ]
        for name in SYSTEM_LINKS:
            host = Path("/") / name
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                mounts.append(("--ro-bind", str(host), str(host)))
        mounts.append(("--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"))
        mounts += [("--ro-bind", folder, folder) for folder in self.python_folders]
        mounts += [("--tmpfs", folder) for folder in self.masks]
        mounts += [
            ("--ro-bind", folder, folder)
            for folder in python_paths()  # a Python inside a covered folder
            if any(_inside(folder, mask) and folder != mask for mask in self.masks)
        ]
        mounts += [
            ("--ro-bind", str(Path(tito.__file__).resolve().parent), f"{TOOL_INSIDE}/tito"),
            ("--ro-bind", str(package), PACKAGE_INSIDE),
            ("--ro-bind", str(checks), CHECKS_INSIDE),
        ]
        made: set[str] = {"/"}
        for mount in mounts:
            for parent in reversed(Path(mount[-1]).parents):  # bwrap would make missing parents mode 0700
                if str(parent) not in made and not _inside(str(parent), "/usr"):
                    args += ["--dir", str(parent)]
                    made.add(str(parent))
            args += list(mount)
        if self.as_root:
            args += ["--chmod", "1777", WORK_INSIDE]
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
        args += ["--chdir", WORK_INSIDE, "--", *program]
        return args

    def numpy_program(self) -> list[str]:
        """Python importing NumPy as a graded run would: as root, after becoming a user of its own."""
        code = "import numpy"
        if self.as_root:
            code = f"import os; os.setgroups([]); os.setgid({FIRST_UID}); os.setuid({FIRST_UID}); {code}"
        return [sys.executable, "-I", "-c", code]

    def run_plain(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a command() line outside the grader (the probe, benchmarks), its filter on a pipe."""
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, self.seccomp)
            os.close(write_end)
            argv = [part.replace(SECCOMP_FD, str(read_end)) for part in argv]
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, pass_fds=(read_end,)
            )
        finally:
            os.close(read_end)

    def probe(self) -> None:
        """Start a sandbox that imports NumPy; SandboxError with bwrap's own words if it cannot."""
        program = self.numpy_program()
        try:
            with tempfile.TemporaryDirectory() as empty:
                os.chmod(empty, 0o755)
                done = self.run_plain(self.command(Path(empty), Path(tito.__file__), program), timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxError(
                f"bubblewrap did not start a sandbox ({exc}); grade with --no-sandbox, or fix bwrap."
            ) from None
        if done.returncode != 0:
            said = " ".join((done.stderr or done.stdout).strip().split())[-300:]
            raise SandboxError(
                f"bubblewrap cannot start a sandbox here ({said or f'exit code {done.returncode}'}): allow "
                "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run as root, "
                "or grade with `tito grade --no-sandbox`."
            )


def sandbox_environment() -> dict:
    """The whole environment of a graded run: nothing of the instructor's (tokens, paths) gets in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": WORK_INSIDE,
        "TMPDIR": WORK_INSIDE,
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TINYTORCH_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def installed_packages() -> list[str]:
    """Any tinytorch installed beside this Python (a non-editable install of the reference edition)."""
    found = []
    for site_folder in {
        *site_packages(),
        *(str(p) for b in ("/usr/lib", "/usr/local/lib") for p in Path(b).glob("python3*/*-packages")),
    }:
        candidate = Path(site_folder) / "tinytorch"
        if candidate.is_dir():
            found.append(str(candidate.resolve()))
    return sorted(set(found))


def masks_for(folders, hidden) -> tuple[str, ...]:
    """Folders to cover with an empty tmpfs: hidden ones (the course, the submissions) that sit under a
    bound folder, and any tinytorch installed beside Python (a non-editable install of the reference
    edition would hand the solutions to every run)."""
    bound = ["/usr", *folders]
    masks = [h for h in hidden if any(_inside(h, b) for b in bound)]
    masks += [p for p in installed_packages() if any(_inside(p, b) for b in bound)]
    return tuple(sorted(set(masks)))


def site_packages() -> set[str]:
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    paths |= set(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    return {os.path.realpath(p) for p in paths if p and os.path.isdir(p)}


def python_folders() -> tuple[str, ...]:
    """The folders that make up this Python: prefixes, the standard library, site-packages; only the
    outermost of nested ones, and none under /usr (bound whole)."""
    kept: list[str] = []
    for path in python_paths():
        if path == "/" or _inside(path, "/usr") or any(_inside(path, k) for k in kept):
            continue
        kept.append(path)
    return tuple(kept)


def python_paths() -> list[str]:
    """Every folder of this Python installation, real paths, shortest first."""
    paths = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        os.path.dirname(sys.executable),
    }
    paths |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= set(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    return sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)}, key=len)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")

"""Process-level speed settings for a training run, applied before NumPy does its first heavy work.

Two settings made a NumPy CNN markedly faster on the machines this course was tuned on (see
README.md in milestones/, "What tito does to the process"):

- `OPENBLAS_CORETYPE=SkylakeX`: the OpenBLAS bundled with NumPy 2.x does not recognise AMD Zen 5 and
  falls back to its AVX2 kernels; naming the AVX-512 kernels roughly doubles float32 matrix-multiply
  speed there. OpenBLAS reads the variable once, when NumPy is first imported, so tito's entry point
  sets it (`choose_openblas_kernels`) before importing anything else, for `tito milestone run` only,
  only if the user has not set it, and only on AMD CPUs with AVX-512 (Intel AVX-512 CPUs are
  recognised already; other CPUs have no AVX-512 kernels to pick).
- glibc malloc tuning (Linux only): NumPy's large temporaries are allocated with mmap by default and
  given back after every use, so each training step pays page faults to map fresh memory again.
  Keeping freed memory in the heap (no mmap, a huge trim threshold, a generous top pad) removes that
  churn, and two arenas at most keep the spatial layers' helper threads on the same warm heaps as the
  main thread (their own arena, grown and trimmed apart, made a small convolution's backward pass
  1.5x slower on two threads). Set through `mallopt` for this process only; child processes are
  unaffected.
- BLAS threads: a milestone script may ask for a number (`BLAS_THREADS = 1`). OpenBLAS's worker
  threads help large matrix products on an idle machine, but on small ones, or when other programs
  busy the cores, they wait on each other and can make a step ten times slower. Set at run time
  through threadpoolctl, unless the user has set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS.

Every setting is skipped when it does not apply; `apply()` returns what it did so the run can say so.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

# glibc's mallopt parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
M_ARENA_MAX = -8

TRIM_THRESHOLD = 2**31 - 1  # (the largest value mallopt takes) keep freed heap memory for the run
TOP_PAD = 1 << 30  # grow the heap in 1 GiB steps so it is not extended on every large temporary
ARENAS = 2  # the layers' helper threads allocate from the same warm heaps as the main thread


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU vendor and its feature flags, read from /proc/cpuinfo (empty where there is none)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", set()
    vendor, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        if vendor and flags:
            break
    return vendor, flags


def openblas_coretype(environ=os.environ, cpuinfo: Path = Path("/proc/cpuinfo"), modules=sys.modules) -> str | None:
    """The OPENBLAS_CORETYPE to set, or None to leave OpenBLAS to its own detection."""
    if "OPENBLAS_CORETYPE" in environ or "numpy" in modules:
        return None
    vendor, flags = cpu_flags(cpuinfo)
    if vendor == "AuthenticAMD" and "avx512f" in flags:
        return "SkylakeX"
    return None


def tune_malloc() -> bool:
    """Keep freed memory in glibc's heap for this process; False where that is not possible."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD), (M_ARENA_MAX, ARENAS))
    return all(libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1 for param, value in settings)


def set_blas_threads(count: int, environ=os.environ) -> bool:
    """Let BLAS use `count` threads from now on; False if tuning is off, the user chose already, or no
    BLAS is found.

    threadpoolctl, the library made for this, finds NumPy's BLAS (OpenBLAS, MKL or BLIS) and sets it.
    """
    if environ.get("TITO_NO_TUNING") or "OPENBLAS_NUM_THREADS" in environ or "OMP_NUM_THREADS" in environ:
        return False
    import numpy  # noqa: F401  (loads BLAS, so that it can be found)
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=int(count), user_api="blas")
    counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return bool(counts) and all(found == int(count) for found in counts)


_chosen_coretype: str | None = None  # what choose_openblas_kernels set in this process


def is_training_command(argv: list[str]) -> bool:
    """Is this process `tito milestone run ID`, with any options before or between the words?"""
    words = [arg for arg in argv[1:] if not arg.startswith("-")]
    return words[:2] == ["milestone", "run"]


def choose_openblas_kernels(argv: list[str] = sys.argv, environ=os.environ) -> str | None:
    """Set OPENBLAS_CORETYPE for a training process, before anything imports NumPy.

    tito's entry point calls this first thing, because the command line itself imports NumPy.
    """
    global _chosen_coretype
    if environ.get("TITO_NO_TUNING") or not is_training_command(argv):
        return None
    coretype = openblas_coretype(environ)
    if coretype:
        environ["OPENBLAS_CORETYPE"] = _chosen_coretype = coretype
    return coretype


def apply(environ=os.environ) -> list[str]:
    """Apply the settings that fit this machine; return a short description of each one applied.

    `TITO_NO_TUNING=1` turns them all off (to measure what they are worth).
    """
    if environ.get("TITO_NO_TUNING"):
        return []
    applied = []
    coretype = openblas_coretype(environ) or _chosen_coretype
    if coretype:
        environ["OPENBLAS_CORETYPE"] = coretype
        applied.append(f"OPENBLAS_CORETYPE={coretype}")
    if tune_malloc():
        applied.append("malloc keeps freed memory (mallopt)")
    return applied

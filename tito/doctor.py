"""`tito system doctor` as a library: checks of the Python, NumPy/BLAS, package, manifest and progress.

Each check returns a Check with a status: "ok", "warn" (works, but could be better) or "fail" (tito
or the course will not work until it is fixed). numpy is imported here only inside the checks, so
importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tito.course import Course, tree_problems
from tito.milestones.tuning import cpu_flags  # the one reader of /proc/cpuinfo

MIN_PYTHON = (3, 10)
# OpenBLAS core types whose kernels use AVX-512.
AVX512_CORES = ("skylakex", "cooperlake", "sapphirerapids")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    advice: str = ""  # a sentence ending in the next command to run, for warn and fail


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Check(
            "Python",
            "fail",
            f"{version} at {sys.executable}",
            "TinyTorch needs Python 3.10 or newer: install it, then run `tito system doctor`.",
        )
    return Check("Python", "ok", f"{version} at {sys.executable}")


def check_numpy() -> Check:
    try:
        import numpy
    except ImportError as exc:
        return Check(
            "NumPy",
            "fail",
            f"not importable ({exc})",
            'Install it with `pip install -e ".[dev]"`, then run `tito system doctor`.',
        )
    return Check("NumPy", "ok", f"{numpy.__version__} at {Path(numpy.__file__).parent}")


def blas_info() -> dict:
    """What BLAS NumPy uses: name, version, core type and threads where they can be found."""
    info: dict = {}
    try:
        import numpy
    except ImportError:
        return info
    try:
        config = numpy.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["name"], info["version"] = blas.get("name"), blas.get("version")
    except (TypeError, AttributeError, KeyError):  # NumPy < 1.25 has no mode="dicts"
        pass
    from threadpoolctl import threadpool_info  # the one owner of BLAS threads and kernels in tito

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            info.setdefault("name", pool.get("internal_api"))
            info["coretype"] = pool.get("architecture")
            info["threads"] = pool.get("num_threads")
            break
    return info


def cpu_has_avx512() -> bool | None:
    """True/False from /proc/cpuinfo's flags; None where that cannot be read (not Linux)."""
    _, flags = cpu_flags()
    return "avx512f" in flags if flags else None


def check_blas() -> list[Check]:
    info = blas_info()
    if not info:
        return [Check("BLAS", "warn", "unknown (NumPy is not importable)")]
    parts = [str(info.get("name") or "unknown"), str(info.get("version") or "")]
    if info.get("threads"):
        parts.append(f"{info['threads']} threads")
    core = info.get("coretype")
    parts.append(f"core type {core}" if core else "core type unknown")
    checks = [Check("BLAS", "ok", ", ".join(p for p in parts if p))]
    avx512 = cpu_has_avx512()
    if avx512 and core and core.lower() not in AVX512_CORES:
        checks.append(
            Check(
                "AVX-512",
                "warn",
                f"this CPU has AVX-512 but OpenBLAS picked its {core} kernels (about half the matrix-multiply speed)",
                "Set `export OPENBLAS_CORETYPE=SkylakeX` before starting Python, then run `tito system doctor`.",
            )
        )
    elif avx512 and core:
        checks.append(Check("AVX-512", "ok", f"this CPU has AVX-512 and OpenBLAS uses it ({core} kernels)"))
    elif avx512 is False:
        checks.append(Check("AVX-512", "ok", "this CPU has no AVX-512; nothing to tune"))
    return checks


def _package_files(course: Course) -> tuple[list[str], int]:
    """(the dotted names of every generated package file, how many modules write them), from the exporter."""
    from tito import exporter

    modules = [m for m in exporter.exportable(course) if exporter.is_exported(course, m)]
    names = sorted({target for m in modules for target in exporter.declared_targets(course, m)})
    return names, len(modules)


def check_package(course: Course) -> Check:
    """Import the course tree's tinytorch and every exported package file, in a fresh process."""
    from tito.testing import test_environment

    names, modules = _package_files(course)
    script = (
        "import importlib, json, sys, tinytorch\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module('tinytorch.' + name)\n"
        "print(json.dumps({'file': tinytorch.__file__}))\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", script, json.dumps(names)],
            cwd=course.root,
            env=test_environment(course),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return Check(
            "Package",
            "fail",
            "importing tinytorch took over 120 s",
            "Look for slow top-level code in the exported modules, then run `tito system doctor`.",
        )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return Check(
            "Package",
            "fail",
            f"tinytorch does not import: {last}",
            "Fix the module named above, then run `tito export --all`.",
        )
    found = Path(json.loads(result.stdout.strip().splitlines()[-1])["file"]).resolve().parent
    if found != course.package_root.resolve():
        return Check(
            "Package",
            "fail",
            f"tinytorch imports from {found}, not {course.package_root}",
            f'Reinstall from the course with `pip install -e ".[dev]"` in {course.root}, then run `tito system doctor`.',
        )
    return Check(
        "Package", "ok", f"tinytorch imports from {course.package_root}, and so do the {_files(len(names), modules)}"
    )


def _files(files: int, modules: int) -> str:
    """ "17 package files of 9 modules": the one way doctor counts what was exported."""
    return f"{files} package file{'s' if files != 1 else ''} of {modules} module{'s' if modules != 1 else ''}"


def check_export(course: Course) -> Check:
    from tito import exporter

    try:
        plans = exporter.plan_export(course, exporter.exportable(course))
    except exporter.ExportError as exc:
        return Check("Export", "warn", str(exc), "Fix that module file, then run `tito export --all`.")
    stale = [course.shown(p.target) for p in plans if p.differs()]
    if stale:
        return Check("Export", "warn", f"out of date: {', '.join(stale)}", "Run `tito export --all`.")
    files = len([p for p in plans if p.module is not None])
    modules = len({p.module.id for p in plans if p.module is not None})
    return Check("Export", "ok", f"the {_files(files, modules)} and the name index match their module files")


def check_tree(course: Course) -> Check:
    problems = tree_problems(course)
    if problems:
        return Check(
            "Manifest",
            "fail",
            "; ".join(problems),
            "Make course.yaml and the folders agree, then run `tito system doctor`.",
        )
    return Check(
        "Manifest", "ok", f"{len(course.modules)} modules and {len(course.milestones)} milestones match the folders"
    )


def check_progress(course: Course) -> Check:
    from tito.progress_record import completed_ids
    from tito.progress_store import ProgressError, ProgressStore

    store = ProgressStore(course)
    try:
        data = store.read()
    except ProgressError as exc:
        return Check("Progress", "fail", str(exc))
    state = "exists" if store.path.exists() else "not created yet"
    return Check(
        "Progress",
        "ok",
        f"{course.shown(store.path)} {state}; {len(completed_ids(data))} of {len(course.modules)} modules completed",
    )


def run_checks(course: Course | None) -> list[Check]:
    checks = [check_python(), check_numpy(), *check_blas()]
    if course is not None:
        checks += [check_tree(course), check_export(course), check_package(course), check_progress(course)]
    env = os.environ.get("OPENBLAS_CORETYPE")
    if env:
        checks.append(Check("OPENBLAS_CORETYPE", "ok", env))
    return checks

"""Lets a plain `pytest` run every module file's inline tests, as listed in course.yaml.

Module files (modules/01_tensor/tensor.py) do not match pytest's test_*.py pattern, so this hook
collects exactly the module files the manifest lists (no naming convention decides it) and tags
their tests with the module's marker, so `pytest -m m01` runs module 01's inline and package tests.
A module file passed to pytest explicitly is collected by pytest itself; this hook then steps aside,
so no test runs twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent
_sources: dict[Path, str] | None = None


def _module_sources() -> dict[Path, str]:
    """Each listed module file, mapped to its marker (read once from course.yaml)."""
    global _sources
    if _sources is None:
        from tito.course import CourseError, load_course

        try:
            course = load_course(_ROOT)
        except CourseError as exc:
            raise pytest.UsageError(str(exc)) from None
        _sources = {module.source.resolve(): module.marker for module in course.modules}
    return _sources


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix != ".py" or parent.session.isinitpath(file_path):
        return None
    if file_path.resolve() in _module_sources():
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(items):
    sources = _module_sources()
    for item in items:
        marker = sources.get(Path(item.path).resolve())
        if marker:
            item.add_marker(marker)

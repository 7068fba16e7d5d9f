"""Fixtures for tito's tests: tiny fixture courses built by course_builder.py."""

from __future__ import annotations

import pytest
from course_builder import FixtureCourse, build_course


@pytest.fixture
def make_course(tmp_path):
    """Build more fixture courses: make_course("name", count=8, edition="student")."""

    def make(name: str = "course", count: int = 2, **options) -> FixtureCourse:
        return build_course(tmp_path / name, count, **options)

    return make


@pytest.fixture
def fixture_course(tmp_path, monkeypatch) -> FixtureCourse:
    """A two-module reference-edition course; tito commands run inside it."""
    fixture = build_course(tmp_path / "course")
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    return fixture


@pytest.fixture
def plain_output(monkeypatch):
    """Wide plain output (no colour, no wrapping), and doctor's package import (a subprocess) skipped."""
    from tito import console, doctor

    monkeypatch.setenv("COLUMNS", "4000")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(console, "_console", None)
    monkeypatch.setattr(doctor, "check_package", lambda course: doctor.Check("Package", "ok", "not checked here"))


@pytest.fixture
def tito():
    """Run a tito command in-process: tito("module", "complete", "01") -> click Result."""
    from typer.testing import CliRunner

    from tito.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke

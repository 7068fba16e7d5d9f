"""What the milestone runs share: a scratch course over this checkout's modules and package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tito.course import load_course

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path, monkeypatch):
    root = tmp_path / "course"
    root.mkdir()
    # The milestone runs need the modules exported, not a completion record: in a student edition this
    # scratch course has no progress of its own, so it reads as the reference edition does.
    manifest = (REPO / "course.yaml").read_text(encoding="utf-8")
    (root / "course.yaml").write_text(re.sub(r"(?m)^edition:.*$", "edition: reference", manifest), encoding="utf-8")
    for name in ("modules", "tinytorch", "milestones", "datasets"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    monkeypatch.chdir(root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    monkeypatch.setenv("TITO_NO_TUNING", "1")  # leave this test process's malloc and environment alone
    return load_course(root)

"""Where a run leaves its record: `.tito/runs/<milestone>/<timestamp>/` with metrics.json and plots."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from tito.course import Course
from tito.files import atomic_write
from tito.plain_data import plain_data


def new_run_dir(course: Course, milestone_id: str, now: datetime | None = None) -> Path:
    """A fresh folder named by the UTC start time, such as 20250131-093000 (-2, -3... if taken)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    parent = course.state_dir / "runs" / milestone_id
    parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", *(f"-{n}" for n in range(2, 1000))):
        folder = parent / f"{stamp}{suffix}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent}: too many runs started at {stamp}")


def write_metrics(folder: Path, record: dict) -> Path:
    path = folder / "metrics.json"
    atomic_write(path, json.dumps(plain_data(record, for_json=True), indent=2) + "\n")
    return path

"""What `.tito/progress.yaml` holds: its shape (PROGRESS, every field's type), the check of a loaded
record against it, and the small edits every write makes (an event, the bounded history, the best run).

tito/progress_store.py reads and writes the file; this module says what a good record is.
"""

from __future__ import annotations

from datetime import datetime, timezone

import yaml

from tito import schema
from tito.plain_data import plain_data

SCHEMA = 1
HISTORY_LIMIT = 200
MODULE_STATUSES = ("started", "completed")


TIME = schema.Kind("a quoted time like '2025-01-31T09:30:00Z'", lambda v: isinstance(v, str))
RUN = schema.Record(
    {
        "at": schema.Field(TIME, required=True),
        "achieved": schema.Field(schema.FLAG, required=True),
        "metrics": schema.Field(schema.MapOf(schema.NUMBER), required=True),
        "seconds": schema.Field(schema.NOT_NEGATIVE, required=True),
        "run_dir": schema.Field(schema.TEXT, required=True),
    }
)
TEST_COUNTS = schema.Record(
    {name: schema.Field(schema.COUNT, required=True) for name in ("passed", "failed", "skipped")},
    rest=schema.COUNT,
    name="a mapping of test counts",
)
MODULE_ENTRY = schema.Record(
    {
        "status": schema.Field(schema.one_of(*MODULE_STATUSES), required=True),
        "started_at": schema.Field(TIME),
        "completed_at": schema.Field(TIME),
        "source_hash": schema.Field(schema.TEXT),
        "tests": schema.Field(TEST_COUNTS),
        "seconds": schema.Field(schema.NOT_NEGATIVE),
    }
)
MILESTONE_ENTRY = schema.Record(
    {"runs": schema.Field(schema.COUNT), "best": schema.Field(RUN), "last": schema.Field(RUN)}
)
EVENT = schema.Record(
    {"at": schema.Field(TIME, required=True), "event": schema.Field(schema.TEXT, required=True)}, rest=schema.SCALAR
)
PROGRESS = schema.Record(
    {
        "schema": schema.Field(schema.WHOLE, required=True),
        "modules": schema.Field(
            schema.MapOf(MODULE_ENTRY, keys=schema.Kind("a quoted id like '01'", lambda v: isinstance(v, str))),
            required=True,
        ),
        "milestones": schema.Field(schema.MapOf(MILESTONE_ENTRY), required=True),
        "history": schema.Field(schema.ListOf(EVENT), required=True),
    },
    name="a mapping with schema, modules, milestones and history",
)


def now() -> str:
    """The current UTC time as an ISO 8601 string with seconds, such as 2025-01-31T09:30:00Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_progress() -> dict:
    return {"schema": SCHEMA, "modules": {}, "milestones": {}, "history": []}


def completed_ids(data: dict) -> set[str]:
    return {key for key, entry in data["modules"].items() if entry.get("status") == "completed"}


def shape_problem(data) -> str | None:
    """What is wrong with a loaded progress record, or None if it follows PROGRESS."""
    if data is None:
        return "is empty"
    if isinstance(data, dict):
        version = data.get("schema")
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA:
            return f"has schema {version}, newer than this tito understands ({SCHEMA}); upgrade tito"
        if version != SCHEMA:
            return f"has schema {version!r}; this tito reads schema {SCHEMA}"
    try:
        schema.check(data, PROGRESS)
    except schema.SchemaError as exc:
        return f"does not have the expected shape: {exc}" + (f" (line {exc.line})" if exc.line else "")
    return None


def dump(data: dict) -> str:
    text = "# TinyTorch progress, written by tito. Edit with care; see `tito module status`.\n"
    return text + yaml.safe_dump(plain_data(data), sort_keys=False, allow_unicode=True)


def add_event(data: dict, event: str, **fields) -> None:
    data["history"].append({"at": now(), "event": event, **fields})


def trim_history(data: dict) -> None:
    excess = len(data["history"]) - HISTORY_LIMIT
    if excess > 0:
        del data["history"][:excess]


def better_run(run: dict, best: dict | None, metric: str | None) -> bool:
    if best is None:
        return True
    new, old = run["metrics"].get(metric), best["metrics"].get(metric)
    if not isinstance(new, (int, float)):
        return False
    return not isinstance(old, (int, float)) or new >= old  # a tie goes to the newer run (its pictures)

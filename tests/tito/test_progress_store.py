"""The progress store: its record, its atomic locked writes, and unusable files left untouched."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from tito import progress_record
from tito.progress_store import ProgressError, ProgressStore


@pytest.fixture
def store(fixture_course) -> ProgressStore:
    return ProgressStore(fixture_course.course)


def test_a_missing_file_reads_as_an_empty_record_and_is_not_created(store):
    assert store.read() == {"schema": 1, "modules": {}, "milestones": {}, "history": []}
    assert store.module_entry("01") is None
    assert not store.path.exists()


def test_completion_is_recorded_with_counts_hash_and_seconds(store):
    store.record_module_started("alpha")
    store.record_module_completed("1", passed=3, failed=0, skipped=1, seconds=2.345, source_hash="sha256:ab")
    entry = store.module_entry("01_alpha")
    assert entry["status"] == "completed"
    assert entry["tests"] == {"passed": 3, "failed": 0, "skipped": 1}
    assert entry["seconds"] == 2.35
    assert entry["source_hash"] == "sha256:ab"
    assert entry["started_at"] <= entry["completed_at"]
    on_disk = yaml.safe_load(store.path.read_text())
    assert on_disk["modules"]["01"]["status"] == "completed"
    assert [event["event"] for event in on_disk["history"]] == ["module_started", "module_completed"]


def test_starting_a_completed_module_keeps_it_completed(store):
    store.record_module_completed("01", passed=1, failed=0, skipped=0, seconds=1, source_hash="h")
    store.record_module_started("01")
    assert store.module_entry("01")["status"] == "completed"


def test_reset_marks_not_completed_and_drops_the_test_record(store):
    store.record_module_completed("01", passed=1, failed=0, skipped=0, seconds=1, source_hash="h")
    store.reset_module("01")
    entry = store.module_entry("01")
    assert entry["status"] == "started"
    assert "tests" not in entry and "completed_at" not in entry
    assert store.completed_ids() == set()


def test_an_unknown_module_is_a_key_error_naming_it(store):
    with pytest.raises(KeyError, match="'99'"):
        store.record_module_started("99")


def test_milestone_keeps_the_best_achieved_run_and_the_last_run(store):
    store.record_milestone_run("first", metrics={"test_accuracy": 0.95}, seconds=10, achieved=True, run_dir="runs/a")
    store.record_milestone_run("first", metrics={"test_accuracy": 0.99}, seconds=11, achieved=False, run_dir="runs/b")
    store.record_milestone_run("first", metrics={"test_accuracy": 0.93}, seconds=12, achieved=True, run_dir="runs/c")
    entry = store.milestone_entry("first")
    assert entry["runs"] == 3
    assert entry["best"]["run_dir"] == "runs/a"  # 0.99 did not achieve; 0.93 is worse than 0.95
    assert entry["last"]["run_dir"] == "runs/c"
    store.record_milestone_run("first", metrics={"test_accuracy": 0.97}, seconds=9, achieved=True, run_dir="runs/d")
    assert store.milestone_entry("first")["best"]["metrics"] == {"test_accuracy": 0.97}


def test_a_milestone_with_no_achieved_run_has_no_best(store):
    store.record_milestone_run("first", metrics={"test_accuracy": 0.5}, seconds=1, achieved=False, run_dir="r")
    assert "best" not in store.milestone_entry("first")


def test_numpy_metric_values_are_stored_as_plain_numbers(store):
    store.record_milestone_run(
        "first", metrics={"test_accuracy": np.float32(0.96)}, seconds=1, achieved=True, run_dir="r"
    )
    assert (
        type(yaml.safe_load(store.path.read_text())["milestones"]["first"]["best"]["metrics"]["test_accuracy"]) is float
    )


def test_each_write_keeps_the_previous_good_file_as_bak(store):
    store.record_module_started("01")
    first = store.path.read_bytes()
    store.record_module_started("02")
    assert store.backup_path.read_bytes() == first
    assert "'02'" in store.path.read_text()


def test_history_is_bounded(store, monkeypatch):
    monkeypatch.setattr(progress_record, "HISTORY_LIMIT", 5)
    for _ in range(8):
        store.record_module_started("01")
    history = store.read()["history"]
    assert len(history) == 5


def test_an_exception_inside_update_writes_nothing(store):
    store.record_module_started("01")
    before = store.path.read_bytes()

    def broken(data):
        data["modules"]["02"] = {"status": "completed"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.update(broken)
    assert store.path.read_bytes() == before


def test_update_refuses_to_write_a_record_of_the_wrong_shape(store):
    with pytest.raises(ValueError, match="status"):
        store.update(lambda data: data["modules"].update({"01": {"status": "done"}}))
    assert not store.path.exists()


BROKEN_FILES = {
    "not yaml": (b"schema: 1\nmodules: {01: [\n", "is not valid YAML (expected the node content"),
    "a list": (b"- 1\n- 2\n", "the file must be a mapping with schema, modules, milestones and history, not [1, 2]"),
    "modules as a list": (
        b"schema: 1\nmodules: []\nmilestones: {}\nhistory: []\n",
        "modules must be a mapping, not []",
    ),
    "a wrong status": (
        b"schema: 1\nmodules: {'01': {status: finished}}\nmilestones: {}\nhistory: []\n",
        "modules['01'].status must be one of started, completed, not 'finished' (line 2)",
    ),
    "a newer schema": (b"schema: 9\nmodules: {}\nmilestones: {}\nhistory: []\n", "newer than this tito"),
    "empty": (b"", "progress.yaml is empty"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_an_unusable_file_is_reported_and_kept_byte_for_byte(store, case):
    content, problem = BROKEN_FILES[case]
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(content)
    with pytest.raises(ProgressError) as error:
        store.record_module_started("01")
    message = str(error.value)
    assert ".tito/progress.yaml" in message and problem in message
    assert "tito has not changed it" in message and "`tito module status`" in message
    assert store.path.read_bytes() == content
    assert not store.backup_path.exists()


def test_the_recovery_advice_names_the_backup_when_there_is_one(store):
    store.record_module_started("01")
    store.record_module_started("02")
    store.path.write_text("schema: [\n")
    with pytest.raises(ProgressError, match=r"cp \.tito/progress\.yaml\.bak \.tito/progress\.yaml"):
        store.read()


def test_eight_processes_recording_at_once_lose_no_entry(make_course):
    fixture = make_course("eight", count=8)
    script = textwrap.dedent(
        """
        import sys
        from tito.course import load_course
        from tito.progress_store import ProgressStore
        store = ProgressStore(load_course(sys.argv[1]))
        module = sys.argv[2]
        for attempt in range(5):
            store.record_module_started(module)
            store.record_module_completed(module, passed=attempt + 1, failed=0, skipped=0, seconds=0.1,
                                          source_hash="sha256:" + module)
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(fixture.root), f"{n:02d}"], stderr=subprocess.PIPE, text=True
        )
        for n in range(1, 9)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    data = ProgressStore(fixture.course).read()
    assert sorted(data["modules"]) == [f"{n:02d}" for n in range(1, 9)]
    assert all(entry["tests"]["passed"] == 5 for entry in data["modules"].values())
    assert len(data["history"]) == 8 * 10

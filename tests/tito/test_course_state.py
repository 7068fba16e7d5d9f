"""Every command that shows or uses module or milestone state agrees, in every state of the course.

A fixture course of three chained modules and two milestones (`first` needs 01, `second` needs 01 and
02) is put in each state, in both editions. The rule (tito/course_state.py) is restated here on its
own, then each command's output is read back and compared with it: `module status` (both tables and
its next step), `module list` (its next step), `milestone list`, `milestone status`, `milestone info`,
`module start` (refused or noted while locked) and `milestone run` (refused while locked).
"""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml
from course_builder import build_course
from typer.testing import CliRunner

from tito import exporter
from tito.cli import app
from tito.progress_store import ProgressStore, file_hash

MILESTONES = {"first": ("01",), "second": ("01", "02")}
REQUIRES = {"01": (), "02": ("01",), "03": ("02",)}
NAMES = {"01": "01_alpha", "02": "02_beta", "03": "03_gamma"}
STATE_WORD = re.compile(r"\b(locked|ready|started|completed|achieved)\b")
SCRIPT = textwrap.dedent(
    '''
    """A fixture milestone that trains nothing: it reports one epoch and returns its accuracy."""

    DATASETS = ("easy",)
    CONFIG = {"dataset": "easy", "epochs": 1}


    def run(config):
        progress = config["progress"]
        progress("start", epochs=1, batches=1)
        progress("batch", epoch=1, batch=1, loss=0.5, samples=4)
        progress("epoch", epoch=1, loss=0.5, test_accuracy=0.95)
        return {"test_accuracy": 0.95}
    '''
).lstrip()

# name: (exported, completed, started, achieved)
SCENARIOS = {
    "fresh": ((), (), (), ()),
    "all exported, nothing recorded": (("01", "02", "03"), (), (), ()),
    "part way": (("01",), ("01",), ("02",), ()),
    "a milestone's modules done": (("01", "02"), ("01", "02"), (), ()),
    "a milestone achieved": (("01", "02"), ("01", "02"), ("03",), ("first",)),
}


def expected(edition, exported, completed, started, achieved):
    """The rule, restated: ({module id: state}, {milestone id: state}, {milestone id: missing ids})."""
    done = set(completed if edition == "student" else exported)
    modules = {}
    for key, requires in REQUIRES.items():
        if key in completed:
            modules[key] = "completed"
        elif key in started:
            modules[key] = "started"
        else:
            modules[key] = "ready" if done.issuperset(requires) else "locked"
    missing = {key: [m for m in requires if m not in done] for key, requires in MILESTONES.items()}
    milestones = {key: "achieved" if key in achieved else "locked" if missing[key] else "ready" for key in MILESTONES}
    return modules, milestones, missing


def make_course(root, edition, exported, completed, started, achieved):
    fixture = build_course(root, 3, edition=edition)
    manifest = yaml.safe_load((root / "course.yaml").read_text())
    second = {**manifest["milestones"][0], "id": "second", "title": "The second milestone", "requires": ["01", "02"]}
    manifest["milestones"].append(second)
    (root / "course.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for key in MILESTONES:
        fixture.write(f"milestones/{key}/README.md", f"# {key}\n\nA story.\n")
        fixture.write(f"milestones/{key}/{key}.py", SCRIPT)
    course = fixture.course
    if exported:
        exporter.write_plans(course, exporter.plan_export(course, [course.module(key) for key in exported]))
    store = ProgressStore(course)
    for key in started:
        store.record_module_started(key)
    for key in completed:
        source = file_hash(course.module(key).source)
        store.record_module_completed(key, passed=2, failed=0, skipped=0, seconds=0.1, source_hash=source)
    for key in achieved:
        store.record_milestone_run(key, metrics={"test_accuracy": 0.95}, seconds=1.0, achieved=True, run_dir="r")
    return fixture


def tito(*args: str):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return result.exit_code, result.output


def row(output: str, key: str) -> str:
    """The one line of `output` that starts with `key` (after any table border)."""
    lines = [line for line in output.splitlines() if re.match(rf"^[\s│┃|]*{re.escape(key)}(?!\w)", line)]
    assert len(lines) == 1, (key, output)
    return lines[0]


def state_in(line: str) -> str:
    words = STATE_WORD.findall(line)
    assert len(words) == 1, line
    return words[0]


def next_step(output: str) -> str:
    """What the last line tells the student to do: "start 01", "complete 02" or "milestone first"."""
    match = re.search(
        r"`tito (?:module (start|complete) (\d\d)|milestone run (\w+))`", output.rstrip().splitlines()[-1]
    )
    assert match, output
    return f"{match[1]} {match[2]}" if match[1] else f"milestone {match[3]}"


@pytest.fixture(params=["reference", "student"])
def edition(request):
    return request.param


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_command_agrees_on_every_state(tmp_path, monkeypatch, edition, scenario):
    exported, completed, started, achieved = SCENARIOS[scenario]
    fixture = make_course(tmp_path / "course", edition, exported, completed, started, achieved)
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    monkeypatch.setenv("TITO_NO_TUNING", "1")
    modules, milestones, missing = expected(edition, exported, completed, started, achieved)

    code, status = tito("module", "status")
    assert code == 0, status
    assert {key: state_in(row(status, name)) for key, name in NAMES.items()} == modules
    assert {key: state_in(row(status, key)) for key in MILESTONES} == milestones

    code, listed = tito("milestone", "list")
    assert code == 0, listed
    for key, state in milestones.items():
        line = row(listed, key)
        assert state_in(line) == state
        if state == "locked":
            assert line.rstrip().endswith("locked: needs " + " ".join(missing[key]))

    code, milestone_status = tito("milestone", "status")
    assert code == 0, milestone_status
    assert {key: state_in(row(milestone_status, key).split(":", 1)[1]) for key in MILESTONES} == milestones

    for key, state in milestones.items():
        code, info = tito("milestone", "info", key)
        assert code == 0, info
        assert state_in(row(info, "State:")) == state
        not_done = re.findall(r"(\d\d) \w+ \(not done\)", row(info, "Requires:"))
        assert not_done == missing[key]

    code, listed_modules = tito("module", "list")
    assert code == 0, listed_modules
    first_undone = next((key for key in REQUIRES if key not in completed), None)
    if first_undone is None:
        pending = [key for key in MILESTONES if key not in achieved]
        assert next_step(status) == next_step(listed_modules) == f"milestone {pending[0]}"
    else:
        verb = "complete" if first_undone in started else "start"
        assert next_step(status) == next_step(listed_modules) == f"{verb} {first_undone}"

    for key, state in milestones.items():
        code, output = tito("milestone", "run", key, "--quick", "--no-live")
        if state == "locked":
            assert code == 1 and f"Milestone {key} needs modules" in output, output
            assert "tito module complete " + missing[key][0] in output
        else:
            assert code == 0 and "Quick run finished" in output, output


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_start_refuses_or_notes_exactly_the_locked_modules(tmp_path, monkeypatch, edition, scenario):
    exported, completed, started, achieved = SCENARIOS[scenario]
    fixture = make_course(tmp_path / "course", edition, exported, completed, started, achieved)
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    modules, _milestones, _missing = expected(edition, exported, completed, started, achieved)
    record = ProgressStore(fixture.course).path
    for key, state in modules.items():
        before = record.read_bytes() if record.exists() else None
        code, output = tito("module", "start", key)
        locked = state == "locked"
        if edition == "student" and locked:
            assert code == 1 and f"{NAMES[key]} needs" in output and "completed first" in output, output
        else:
            assert code == 0, output
            assert (f"Note: {NAMES[key]} requires" in output) == locked, output
            if locked:
                assert "not exported yet" in output
        if before is None:
            record.unlink(missing_ok=True)
        else:
            record.write_bytes(before)


def test_what_complete_unlocks_is_what_status_shows_changed(tmp_path, monkeypatch, edition):
    fixture = make_course(tmp_path / "course", edition, ("01",), ("01",), (), ())
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)

    def locked() -> set[str]:
        status = tito("module", "status")[1]
        rows = {**{name: row(status, name) for name in NAMES.values()}, **{key: row(status, key) for key in MILESTONES}}
        return {key for key, line in rows.items() if state_in(line) == "locked"}

    before = locked()
    code, output = tito("module", "complete", "02")
    assert code == 0, output
    now_ready = before - locked()
    assert now_ready == {"03_gamma", "second"}
    assert "Unlocked  module 03_gamma, milestone second" in output
    assert output.rstrip().endswith(
        "Next: run `tito milestone run second`, or `tito module status` to see where you are."
    )

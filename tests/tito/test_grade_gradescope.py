"""`tito release gradescope OUT`: an autograder zip that grades as `tito grade` does, tried the way
Gradescope runs it (its folder layout under $AUTOGRADER_ROOT, `run_autograder` run as a script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from grading_helpers import REPO, USER_PATH
from typer.testing import CliRunner

from tito.cli import app
from tito.grading.gradescope import SETUP_SH

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def validate(results: dict) -> None:
    """Gradescope's documented results.json format (the fields this autograder writes, and their types)."""
    assert isinstance(results, dict)
    assert set(results) <= {
        "score",
        "execution_time",
        "output",
        "output_format",
        "visibility",
        "stdout_visibility",
        "extra_data",
        "tests",
        "leaderboard",
    }
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    assert isinstance(results.get("execution_time", 0), int)
    assert results.get("stdout_visibility", "visible") in VISIBILITY
    for test in results["tests"]:
        assert set(test) <= {
            "score",
            "max_score",
            "status",
            "name",
            "name_format",
            "number",
            "output",
            "output_format",
            "tags",
            "visibility",
            "extra_data",
        }
        assert isinstance(test["name"], str) and isinstance(test["output"], str) and isinstance(test["number"], str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in {"passed", "failed"} and test["visibility"] in VISIBILITY
    assert results["score"] == pytest.approx(sum(test["score"] for test in results["tests"]))


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """autograder.zip for three modules, unpacked as Gradescope unpacks it into /autograder/source."""
    out = tmp_path_factory.mktemp("gradescope")
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        result = CliRunner().invoke(
            app,
            ["release", "gradescope", str(out), "--module", "01", "--module", "03", "--module", "05", "--points", "5"],
        )
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out / "autograder.zip") as archive:
        names = archive.namelist()
        assert {"setup.sh", "run_autograder", "gradescope.json"} <= set(names)
        assert "course/tests/03_layers/grading.py" in names and "course/tests/02_activations/grading.py" not in names
        assert not any(name.startswith("course/tests/tito") for name in names)
        assert archive.getinfo("run_autograder").external_attr >> 16 & 0o111
        source = out / "source"
        archive.extractall(source)
    os.chmod(source / "run_autograder", 0o755)
    return source


def _run_autograder(source, root, files, log=None):
    """Lay out root/ as Gradescope does (source/, submission/) and run run_autograder with python3 on PATH."""
    shutil.copytree(source, root / "source")
    (root / "submission").mkdir()
    for name, text in files.items():
        (root / "submission" / name).write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    }
    env.pop("TITO_COURSE_ROOT", None)
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if log is not None:
        log.append(done.stdout)
    results = json.loads((root / "results" / "results.json").read_text())
    validate(results)
    return results


def _module_texts(change=None):
    texts = {}
    for number, name in (("01", "tensor"), ("03", "layers"), ("05", "autograd")):
        text = (REPO / "modules" / f"{number}_{name}" / f"{name}.py").read_text(encoding="utf-8")
        texts[f"{name}.py"] = change(name, text) if change else text
    return texts


def test_run_autograder_scores_reference_starter_and_a_one_bug_submission(autograder, tmp_path):
    reference = _run_autograder(autograder, tmp_path / "reference", _module_texts())
    assert reference["score"] == 15.0
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in reference["tests"]] == [
        ("Module 01: Tensor", 5.0, 5.0, "passed"),
        ("Module 03: Layers", 5.0, 5.0, "passed"),
        ("Module 05: Autograd", 5.0, 5.0, "passed"),
    ]

    starter = _run_autograder(autograder, tmp_path / "starter", {})
    assert starter["score"] == 0.0 and [t["score"] for t in starter["tests"]] == [0.0, 0.0, 0.0]
    assert "no tensor.py was found" in starter["tests"][0]["output"]

    def forget_the_bias(name, text):
        return text.replace("return out + self.bias if self.bias is not None else out", "return out")

    buggy = _run_autograder(autograder, tmp_path / "buggy", _module_texts(forget_the_bias))
    scores = [t["score"] for t in buggy["tests"]]
    assert scores[0] == 5.0 and scores[2] == 5.0 and 0 < scores[1] < 5.0
    assert "`linear_forward`" in buggy["tests"][1]["output"] and buggy["tests"][1]["status"] == "failed"


def test_a_container_without_bubblewrap_grades_without_it_and_says_so(autograder, tmp_path):
    """As root with a Python others can read (Gradescope's own venv), on the unprivileged-user path;
    otherwise behind the guard alone."""
    tools = tmp_path / "bin"  # python3 and bash, but no bwrap
    tools.mkdir()
    # a script, not a link: a link to a venv's python starts the base Python, without the venv's packages
    (tools / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (tools / "python3").chmod(0o755)
    (tools / "bash").symlink_to(shutil.which("bash"))
    root = tmp_path / "root"
    shutil.copytree(autograder, root / "source")
    (root / "submission").mkdir()
    shutil.copy(REPO / "modules" / "01_tensor" / "tensor.py", root / "submission" / "tensor.py")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": str(tools)}
    env.pop("TITO_COURSE_ROOT", None)
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bwrap` is not installed" in done.stdout and "instead." in done.stdout  # for the instructor's log
    wall = "as an unprivileged user of its own" if USER_PATH else "behind the in-process guard"
    assert f"grading {wall} instead." in done.stdout
    results = json.loads((root / "results" / "results.json").read_text())
    validate(results)
    assert results["tests"][0]["score"] == 5.0 and results["score"] == 5.0
    assert "graded without the bubblewrap sandbox" in results["output"]
    assert "WITHOUT the bubblewrap sandbox" in results["tests"][0]["output"]
    assert ("an unprivileged user of its own" in results["tests"][0]["output"]) == USER_PATH


def test_setup_builds_the_grading_kit_once_and_each_submission_uses_it(autograder, tmp_path):
    root = tmp_path / "kitted"
    shutil.copytree(autograder, root / "source")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    env.pop("TITO_COURSE_ROOT", None)
    built = subprocess.run(
        [sys.executable, "-m", "tito.grading.gradescope", "--build-kit", str(root)],
        cwd=root / "source" / "course", env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    assert (root / "kit" / "kit.json").is_file() and (root / "kit").stat().st_mode & 0o077 == 0
    shutil.rmtree(root / "source")  # _run_autograder lays source/ out afresh beside the kit

    log: list[str] = []
    results = _run_autograder(autograder, root, _module_texts(), log)

    assert results["score"] == 15.0
    assert "using the grading kit setup.sh built" in log[0]
    assert "--build-kit" in SETUP_SH

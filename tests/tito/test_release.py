"""`tito release student`: the student edition, built from fixture courses and from this repository."""

from __future__ import annotations

import subprocess
import textwrap

import pytest
from typer.testing import CliRunner

from tito import exporter
from tito.cli import app
from tito.course import load_course
from tito.release import (
    ReleaseError,
    ReleaseUsageError,
    build_student_edition,
    find_blocks,
    strip_solutions,
    student_gitignore,
    student_manifest,
)


def module_text(slug: str, body: str) -> str:
    """A one-function module file like the fixture courses' (see conftest.py), with its own body."""
    return dedent(
        f'''
        # %% [markdown]
        # # {slug.title()}

        # %%
        #| default_exp {slug}

        # %%
        #| export
        def {slug}_double(x):
            """Twice x."""
            # Hint: add x to itself.
            ### BEGIN SOLUTION
            {body}
            ### END SOLUTION
        '''
    )


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- one file at a time --------------------------------------------------------------------------


def test_a_block_becomes_a_stub_indented_like_it_with_the_hints_around_it_kept():
    reference = dedent(
        '''
        class Tensor:
            def __add__(self, other):
                """Add elementwise, broadcasting like NumPy."""
                # Hint: wrap `other` first, then add the arrays.
                ### BEGIN SOLUTION
                # the secret comment goes too
                other = wrap(other)
                return Tensor(self.data + other.data)
                ### END SOLUTION

            def size(self):
                return self.data.size
        '''
    )
    stripped, count = strip_solutions(reference, "modules/01_tensor/tensor.py", "01")
    assert count == 1
    assert stripped == dedent(
        '''
        class Tensor:
            def __add__(self, other):
                """Add elementwise, broadcasting like NumPy."""
                # Hint: wrap `other` first, then add the arrays.
                raise NotImplementedError("TinyTorch 01: implement Tensor.__add__")

            def size(self):
                return self.data.size
        '''
    )


def test_a_block_in_a_plain_function_names_the_function():
    reference = "def relu(x):\n    ### BEGIN SOLUTION\n    return max(x, 0)\n    ### END SOLUTION\n"
    stripped, _ = strip_solutions(reference, "modules/02_activations/activations.py", "02")
    assert stripped == 'def relu(x):\n    raise NotImplementedError("TinyTorch 02: implement relu")\n'


@pytest.mark.parametrize(
    "text, message",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "x.py:2: BEGIN SOLUTION is never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "x.py:3: END SOLUTION without a BEGIN"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n",
            "x.py:3: BEGIN SOLUTION inside the block opened at line 2",
        ),
    ],
)
def test_unbalanced_markers_are_reported_with_their_line(text, message):
    with pytest.raises(ReleaseError, match=message):
        find_blocks(text, "x.py")


@pytest.mark.parametrize(
    "text, where",
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "module level"),
        ("class A:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n", "class A's body"),
    ],
)
def test_a_block_whose_stub_would_run_on_import_is_refused(text, where):
    with pytest.raises(ReleaseError, match=f"x.py:[12]: this solution block sits at {where}"):
        strip_solutions(text, "x.py", "01")


def test_the_manifest_says_student_and_keeps_its_comments():
    text = "# The manifest.\nschema: 1\nedition: reference   # who it is for\nname: T\n"
    assert student_manifest(text) == "# The manifest.\nschema: 1\nedition: student   # who it is for\nname: T\n"
    with pytest.raises(ReleaseError, match="no top-level 'edition:' line"):
        student_manifest("schema: 1\n")


def test_the_gitignore_hides_tito_state_but_not_the_starter_copies(tmp_path):
    text = student_gitignore("__pycache__/\n.tito/\n*.pyc\n")
    assert text == "__pycache__/\n/.tito/*\n!/.tito/starter/\n*.pyc\n"
    assert student_gitignore(None) == "/.tito/*\n!/.tito/starter/\n"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(text)
    checked = subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "check-ignore",
            "--no-index",
            "--verbose",
            "--non-matching",
            ".tito/progress.yaml",
            ".tito/backups/01_tensor/tensor-1.py",
            ".tito/starter/01_tensor/tensor.py",
        ],
        capture_output=True,
        text=True,
    )
    ignored = {
        line.split("\t")[1]: not line.startswith("::") and not line.split("\t")[0].endswith(":!/.tito/starter/")
        for line in checked.stdout.splitlines()
    }
    assert ignored == {
        ".tito/progress.yaml": True,
        ".tito/backups/01_tensor/tensor-1.py": True,
        ".tito/starter/01_tensor/tensor.py": False,
    }


# --- whole fixture courses -----------------------------------------------------------------------


def files_under(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_the_edition_of_a_fixture_course_holds_exactly_what_students_need(make_course, tmp_path):
    fixture = make_course("course", count=2)
    fixture.export()
    fixture.git_commit()
    fixture.write(".tito/progress.yaml", "schema: 1\n")
    fixture.write("tinytorch/__pycache__/x.cpython-311.pyc", "")
    fixture.write("tests/tito/test_tool.py", "def test_tool():\n    assert 1\n")
    out = tmp_path / "student"

    release = build_student_edition(fixture.course, out)

    assert files_under(out) == {
        ".gitignore",
        ".tito/starter/01_alpha/alpha.py",
        ".tito/starter/02_beta/beta.py",
        "course.yaml",
        "milestones/first/README.md",
        "modules/01_alpha/README.md",
        "modules/01_alpha/alpha.py",
        "modules/02_beta/README.md",
        "modules/02_beta/beta.py",
        "tests/01_alpha/test_alpha.py",
        "tests/02_beta/test_beta.py",
        "tinytorch/__init__.py",
        "tinytorch/_catalog.py",
    }
    assert sorted(release.generated_left_out) == ["tinytorch/alpha.py", "tinytorch/beta.py"]
    assert release.instructor_only_left_out == ["tests/tito/test_tool.py"]
    assert load_course(out).edition == "student"
    stub = (out / "modules/01_alpha/alpha.py").read_text()
    assert stub == (fixture.root / "modules/01_alpha/alpha.py").read_text().replace(
        "    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
        '    raise NotImplementedError("TinyTorch 01: implement alpha_double")\n',
    )
    assert (out / ".tito/starter/01_alpha/alpha.py").read_text() == stub
    assert (out / "tinytorch/_catalog.py").read_text() == (fixture.root / "tinytorch/_catalog.py").read_text()


def test_a_non_empty_out_is_refused_unless_forced_and_force_keeps_its_own_git(make_course, tmp_path):
    fixture = make_course("course", count=1)
    out = tmp_path / "student"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    with pytest.raises(ReleaseUsageError, match="is not empty; choose a new folder or pass --force"):
        build_student_edition(fixture.course, out)
    build_student_edition(fixture.course, out, force=True)  # a fresh student repository: only .git
    (out / "stale.txt").write_text("from the last edition")
    build_student_edition(fixture.course, out, force=True)  # an earlier edition is replaced
    assert not (out / "stale.txt").exists()
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (out / "course.yaml").exists()


def test_force_never_deletes_a_folder_that_is_not_an_edition(make_course, tmp_path):
    fixture = make_course("course", count=1)
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "thesis.tex").write_text("years of work")
    with pytest.raises(ReleaseUsageError, match="holds files but no course.yaml"):
        build_student_edition(fixture.course, tmp_path / "documents", force=True)
    assert (tmp_path / "documents" / "thesis.tex").read_text() == "years of work"
    with pytest.raises(ReleaseUsageError, match="holds the course itself"):
        build_student_edition(fixture.course, fixture.root.parent, force=True)


@pytest.mark.parametrize("where", ["./inside", "handout/2025", "modules", "ABSOLUTE", "LINK"])
def test_an_out_folder_inside_the_course_is_refused_and_nothing_is_written(make_course, tmp_path, monkeypatch, where):
    """Before, `/` was refused but `./inside` wrote an edition into the course it was made from."""
    fixture = make_course("course", count=1)
    if where == "ABSOLUTE":
        where = str(fixture.root / "student")
    elif where == "LINK":  # a folder outside whose real place is inside
        (tmp_path / "link").symlink_to(fixture.root / "modules", target_is_directory=True)
        where = str(tmp_path / "link" / "student")
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    before = sorted(
        (p.relative_to(tmp_path).as_posix(), p.read_bytes() if p.is_file() else None) for p in tmp_path.rglob("*")
    )
    result = CliRunner().invoke(app, ["release", "student", where])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is inside the course" in lines[0], result.output
    assert lines[0].endswith(
        f"choose a folder outside it: `tito release student {fixture.root.parent / 'course-student'}`."
    )
    after = sorted(
        (p.relative_to(tmp_path).as_posix(), p.read_bytes() if p.is_file() else None) for p in tmp_path.rglob("*")
    )
    assert after == before


def test_a_solution_quoted_anywhere_stops_the_release_and_writes_nothing(make_course, tmp_path):
    fixture = make_course("course", count=1)
    fixture.write("modules/01_alpha/alpha.py", module_text("alpha", body="return sum([x, x], start=0)"))
    fixture.write("docs/guide.md", "# Guide\n\nThe answer:\n\n    return sum([x, x], start=0)\n")
    out = tmp_path / "student"
    with pytest.raises(ReleaseError, match=r"docs/guide\.md:5 repeats modules/01_alpha/alpha\.py:\d+"):
        build_student_edition(fixture.course, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".student")] == []
    # The grader's private copies skip this search: the blocks themselves are still replaced.
    build_student_edition(fixture.course, out, check_leaks=False)
    assert "return sum([x, x], start=0)" not in (out / "modules/01_alpha/alpha.py").read_text()


def test_a_student_edition_is_not_released_again(make_course, tmp_path):
    fixture = make_course("course", count=1, edition="student")
    with pytest.raises(ReleaseUsageError, match="release from the reference edition"):
        build_student_edition(fixture.course, tmp_path / "out")


def test_release_command_exit_codes(make_course, tmp_path, monkeypatch):
    fixture = make_course("course", count=1)
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    runner = CliRunner()
    first = runner.invoke(app, ["release", "student", str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    assert "1 solution blocks replaced in 1 files" in first.output
    again = runner.invoke(app, ["release", "student", str(tmp_path / "out")])
    assert again.exit_code == 2
    assert "pass --force" in again.output
    forced = runner.invoke(app, ["release", "student", str(tmp_path / "out"), "--force"])
    assert forced.exit_code == 0, forced.output


def test_every_stub_exports_and_imports_in_the_student_edition(make_course, tmp_path):
    fixture = make_course("course", count=2)
    out = tmp_path / "student"
    build_student_edition(fixture.course, out)
    student = load_course(out)
    exporter.write_plans(student, exporter.plan_export(student, exporter.exportable(student)))
    code = "import tinytorch.alpha as a, tinytorch.beta as b\ntry:\n    a.alpha_double(1)\nexcept NotImplementedError as e:\n    print(e)"
    ran = subprocess.run(["python", "-c", code], cwd=out, capture_output=True, text=True)
    assert ran.stdout.strip() == "TinyTorch 01: implement alpha_double", ran.stderr

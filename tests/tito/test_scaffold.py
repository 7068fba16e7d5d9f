"""`tito dev new-module NN SLUG` on a fixture course: the four pieces, and refusals that write nothing."""

from __future__ import annotations

import ast

import pytest

from tito.course import load_course
from tito.exporter import parse_cells
from tito.release.solutions import find_blocks

MANIFEST_COMMENTS = ("# The course, with comments tito must keep.", "# the last module:")


@pytest.fixture
def course(fixture_course):
    """The two-module fixture course, with comments in its course.yaml."""
    path = fixture_course.root / "course.yaml"
    lines = path.read_text().splitlines()
    lines.insert(lines.index("- id: '02'"), MANIFEST_COMMENTS[1])
    path.write_text(MANIFEST_COMMENTS[0] + "\n" + "\n".join(lines) + "\n")
    return fixture_course


def snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_module_writes_the_four_pieces(course, tito):
    result = tito("dev", "new-module", "03", "gamma_ray")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("then run `tito module complete 03`.")

    manifest = (course.root / "course.yaml").read_text()
    assert all(comment in manifest for comment in MANIFEST_COMMENTS)
    module = load_course(course.root).module("03")
    assert (module.slug, module.title, module.requires, module.hours) == ("gamma_ray", "Gamma Ray", ("02",), 1.0)
    assert manifest.index('id: "03"') < manifest.index("milestones:")  # appended to the modules, not the file

    text = module.source.read_text()
    compile(text, str(module.source), "exec")
    cells = parse_cells(text)
    assert [cell.directives for cell in cells if cell.directives] == [{"default_exp": "gamma_ray"}, {"export": ""}]
    (block,) = find_blocks(text, "gamma_ray.py")
    assert block.lines == ('    raise NotImplementedError("TinyTorch 03: implement gamma_ray")',)
    tests = [n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert tests == ["test_unit_gamma_ray"]
    assert 'if __name__ == "__main__":' in text

    assert "## Objectives" in module.readme.read_text()
    assert "pytestmark = pytest.mark.m03" in (module.tests / "test_gamma_ray.py").read_text()
    started = tito("module", "start", "03")
    assert "Build gamma_ray in tinytorch.gamma_ray." in started.output  # the README's objectives, rendered


def test_the_new_module_fails_until_solved_then_completes(course, tito):
    assert tito("dev", "new-module", "03", "gamma").exit_code == 0
    assert tito("module", "complete", "02").exit_code == 0
    unsolved = tito("module", "complete", "03")
    assert unsolved.exit_code == 1 and "NotImplementedError: TinyTorch 03: implement gamma" in unsolved.output
    source = load_course(course.root).module("03").source
    source.write_text(
        source.read_text().replace('raise NotImplementedError("TinyTorch 03: implement gamma")', "return x")
    )
    solved = tito("module", "complete", "03")
    assert solved.exit_code == 0, solved.output
    assert "2 of 2 tests passed (inline 1 of 1, package 1 of 1)" in solved.output


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["02", "gamma"],
            "Module 02_beta already uses the id '02', so nothing was written: run `tito dev new-module 03 gamma`.",
        ),
        (
            ["03", "beta"],
            "Module 02_beta already uses the slug 'beta', so nothing was written: run `tito dev new-module 03 SLUG`.",
        ),
        (["3", "gamma"], "'3' is not a module id (two digits, like 10)"),
        (["ab", "gamma"], "'ab' is not a module id"),
        (["03", "Gamma"], "'Gamma' is not a slug (a lower-case Python name of at most 40 characters, like batch_norm)"),
        (["03", "gamma-ray"], "'gamma-ray' is not a slug"),
        (["03", "class"], "'class' is not a slug"),
        (["00", "gamma"], "New modules go after the last one, 02_beta, so the id must be above 02"),
    ],
)
def test_a_bad_or_used_name_is_refused_in_one_line_writing_nothing(course, tito, args, words):
    before = snapshot(course.root)
    result = tito("dev", "new-module", *args)
    assert result.exit_code == 2
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert snapshot(course.root) == before


@pytest.mark.parametrize("folder", ["modules/03_gamma", "tests/03_gamma"])
def test_an_existing_folder_is_refused_writing_nothing(course, tito, folder):
    (course.root / folder).mkdir(parents=True)
    (course.root / folder / "notes.txt").write_text("mine")
    before = snapshot(course.root)
    result = tito("dev", "new-module", "03", "gamma")
    assert result.exit_code == 2
    assert (
        f"{folder} exists already, so nothing was written: move it away, then run `tito dev new-module 03 gamma`."
        in result.output
    )
    assert snapshot(course.root) == before


def test_a_package_file_another_module_exports_to_is_refused(course, tito):
    source = course.root / "modules" / "02_beta" / "beta.py"
    source.write_text(source.read_text().replace("#| default_exp beta", "#| default_exp gamma"))
    before = snapshot(course.root)
    result = tito("dev", "new-module", "03", "gamma")
    assert result.exit_code == 2 and "02_beta exports to tinytorch/gamma.py already" in result.output
    assert snapshot(course.root) == before


def test_a_flow_style_module_list_is_left_to_the_author(course, tito):
    manifest = course.root / "course.yaml"
    data = load_course(course.root)
    entries = ", ".join(f'{{id: "{m.id}", slug: {m.slug}, title: {m.title}}}' for m in data.modules)
    manifest.write_text(f"schema: 1\nedition: reference\nmodules: [{entries}]\n")
    before = snapshot(course.root)
    result = tito("dev", "new-module", "03", "gamma")
    assert result.exit_code == 1
    assert "lists its modules in a form tito does not extend" in result.output
    assert result.output.rstrip().endswith("then run `tito system doctor`.")
    assert snapshot(course.root) == before

"""`tito dev new-module NN slug`: the four pieces of a new module, written only when all of them can be.

A module is an entry in course.yaml (appended after the last module, requiring it), its module file
(modules/NN_slug/slug.py: the jupytext header, `#| default_exp slug`, one `#| export` cell
with one solution block, one inline `test_unit_*` and the `__main__` block), its README.md (with
the "## Objectives" that `tito module start` prints) and its package tests (tests/NN_slug/, tagged
with the module's marker, which pytest registers from course.yaml). course.yaml is edited as text,
so its comments and layout survive, and the result is checked by the manifest's own loader before
anything is written. Anything in the way is refused in one line, with nothing written.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from tito import files
from tito.commands.common import shorten
from tito.course import MANIFEST_NAME, MAX_SLUG, Course, CourseError, course_from_text, is_module_id, is_slug
from tito.exporter import declared_targets


class ScaffoldError(Exception):
    """The module cannot be added as asked; the message says why and what to run instead.

    `code` is the exit code: 2 for what was asked (a bad or used id or slug), 1 for the course.
    """

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class NewModule:
    id: str
    slug: str
    title: str
    requires: tuple[str, ...]
    texts: dict[Path, str]  # every file to write, course.yaml last

    @property
    def name(self) -> str:
        return f"{self.id}_{self.slug}"


# Kept off the start of a line, so `tito release` does not take this file for one with a solution block.
MARKERS = {"begin": "### BEGIN SOLUTION", "end": "### END SOLUTION"}
HEADER = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

MODULE = Template(
    HEADER
    + '''
# %% [markdown]
# # Module $id: $title
#
# What this module builds, why a framework needs it, and what it costs (the systems view).

# %%
#| default_exp $slug

# %%
#| export
def $slug(x):
    """Replace this example with the module's first piece: say what it computes and why."""
    $begin
    raise NotImplementedError("TinyTorch $id: implement $slug")
    $end


# %% [markdown]
# ## Check it
# Each inline test asserts values worked out by hand, then says what it checked.

# %%
def test_unit_$slug():
    assert $slug(2) == 2  # the example's answer: replace it with the real one
    print("$slug(2) is 2")


# %%
if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())
'''
)

README = Template("""# Module $id: $title

What this module builds and where the course uses it.

**Time:** about $hours hour. **Prerequisites:** $prerequisites.

## Objectives
- Build `$slug` in `tinytorch.$slug`.
- Test it against values worked out by hand.

## How to work on it
```
tito module start $id
python modules/$name/$slug.py
tito test $id
tito module complete $id
```
""")

PACKAGE_TEST = Template('''"""Module $id ($slug): the exported package, tested as a user imports it."""

import pytest

from tinytorch.$slug import $slug

pytestmark = pytest.mark.m$id


def test_${slug}_of_three():
    assert $slug(3) == 3  # the example's answer: replace it with the real one
''')


def title_of(slug: str) -> str:
    """The title a slug suggests: batch_norm -> "Batch Norm"."""
    return " ".join(word.capitalize() for word in slug.split("_") if word)


def plan_new_module(course: Course, module_id: str, slug: str) -> NewModule:
    """Every file of the new module, course.yaml's new text included. Raises ScaffoldError."""
    usable = is_slug(slug) and not keyword.iskeyword(slug) and all(slug != m.slug for m in course.modules)
    again = f"`tito dev new-module {_next_id(course)} {slug if usable else 'SLUG'}`"
    nothing = "so nothing was written"
    if not is_module_id(module_id):
        raise ScaffoldError(f"{shorten(module_id)!r} is not a module id (two digits, like 10), {nothing}: run {again}.")
    if not is_slug(slug) or keyword.iskeyword(slug):
        raise ScaffoldError(
            f"{shorten(slug)!r} is not a slug (a lower-case Python name of at most {MAX_SLUG} characters, like "
            f"batch_norm), {nothing}: run {again}."
        )
    for module in course.modules:
        if module_id == module.id or slug == module.slug:
            used = f"id {module_id!r}" if module_id == module.id else f"slug {slug!r}"
            raise ScaffoldError(f"Module {module.name} already uses the {used}, {nothing}: run {again}.")
    last = course.modules[-1] if course.modules else None
    if last is not None and int(module_id) <= last.number:
        raise ScaffoldError(
            f"New modules go after the last one, {last.name}, so the id must be above {last.id}; {nothing}: run {again}."
        )
    name = f"{module_id}_{slug}"
    same = f"`tito dev new-module {module_id} {slug}`"
    for path in (
        course.root / "modules" / name,
        course.root / "tests" / name,
        course.package_root / f"{slug}.py",
    ):
        if path.exists():
            raise ScaffoldError(f"{course.shown(path)} exists already, {nothing}: move it away, then run {same}.")
    target = slug
    owner = next((m for m in course.modules if target in declared_targets(course, m)), None)
    if owner is not None:
        raise ScaffoldError(
            f"{owner.name} exports to tinytorch/{slug}.py already, {nothing}: choose another slug, "
            f"as in `tito dev new-module {module_id} SLUG`."
        )

    title, requires = title_of(slug), (last.id,) if last else ()
    manifest = _with_module(course, module_id, slug, title, requires)
    words = {
        **MARKERS,
        "id": module_id,
        "slug": slug,
        "title": title,
        "name": name,
        "hours": 1,
        "prerequisites": ", ".join(f"module {m}" for m in requires) or "none",
    }
    folder, tests = course.root / "modules" / name, course.root / "tests" / name
    texts = {
        folder / f"{slug}.py": MODULE.substitute(words),
        folder / "README.md": README.substitute(words),
        tests / f"test_{slug}.py": PACKAGE_TEST.substitute(words),
        course.manifest: manifest,
    }
    return NewModule(module_id, slug, title, requires, texts)


def write_new_module(course: Course, plan: NewModule) -> list[Path]:
    """Write the plan's files (course.yaml last, so a failed write leaves the course as it was)."""
    written: list[Path] = []
    try:
        for path, text in plan.texts.items():
            files.atomic_write(path, text)
            written.append(path)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def _next_id(course: Course) -> str:
    return f"{course.modules[-1].number + 1:02d}" if course.modules else "01"


def _scalar(text: str) -> str:
    """`text` as a YAML scalar that reads back as that text (quoted when YAML would read it otherwise)."""
    return text if yaml.safe_load(text) == text else json.dumps(text)


def _with_module(course: Course, module_id: str, slug: str, title: str, requires: tuple[str, ...]) -> str:
    """course.yaml's text with the new entry after the last module's, in that entry's layout."""
    text = files.read_text(course.manifest)
    by_hand = f"nothing was written; add the entry to {MANIFEST_NAME} by hand, then run `tito system doctor`."
    try:
        document = yaml.compose(text)
    except yaml.YAMLError:
        raise ScaffoldError(f"{MANIFEST_NAME} cannot be read as YAML: {by_hand}", code=1) from None
    if not isinstance(document, yaml.MappingNode):  # empty, or not `key: value` settings at the top
        raise ScaffoldError(f"{MANIFEST_NAME} lists its modules in a form tito does not extend: {by_hand}", code=1)
    modules = next((value for key, value in document.value if key.value == "modules"), None)
    if not isinstance(modules, yaml.SequenceNode) or modules.flow_style or not modules.value:
        raise ScaffoldError(f"{MANIFEST_NAME} lists its modules in a form tito does not extend: {by_hand}", code=1)
    last = modules.value[-1]
    lines = text.splitlines(keepends=True)
    dash = lines[last.start_mark.line][: last.start_mark.column]
    if not dash.strip() == "-":
        raise ScaffoldError(f"{MANIFEST_NAME}'s last module entry is not laid out as `- id: ...`: {by_hand}", code=1)
    indent = " " * len(dash)
    entry = [
        f'{dash}id: "{module_id}"',
        f"{indent}slug: {_scalar(slug)}",
        f"{indent}title: {_scalar(title)}",
        f"{indent}requires: [{', '.join(json.dumps(r) for r in requires)}]",
        f"{indent}hours: 1",
    ]
    end = _end_of(last)
    at = end.line + 1 if end.column else end.line
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    new_text = "".join(lines[:at] + [line + "\n" for line in entry] + lines[at:])
    try:
        added = course_from_text(new_text, course.root).module(module_id)
    except (CourseError, KeyError) as exc:
        raise ScaffoldError(f"The new entry would not read back ({exc}): {by_hand}", code=1) from None
    if (added.slug, added.title, added.requires) != (slug, title, requires):
        raise ScaffoldError(f"The new entry would read back as another module: {by_hand}", code=1)
    return new_text


def _end_of(node: yaml.Node) -> yaml.Mark:
    """Where a node's last value ends (not where the parser found the next key)."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _end_of(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _end_of(node.value[-1])
    return node.end_mark

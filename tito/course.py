"""The course manifest, `course.yaml`, loaded into typed objects.

Every tito command learns what modules and milestones exist from here and nowhere else. A malformed
manifest is reported with the file and line, so an instructor editing it sees exactly what to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tito import files, schema
from tito.metrics import metric_name, metric_text
from tito.paths import shown_path

MANIFEST_NAME = "course.yaml"
MANIFEST_LIMIT = 1024**2  # bytes; a course of 20 modules is a few KB, and YAML parses ~0.3 MB/s
MAX_REFERENCE = 64  # characters in a module or milestone reference ("09", "spatial", "09_spatial")
MAX_SLUG = 40  # characters in a slug or milestone id: "NN_slug" stays a reference, and a file name
EDITIONS = ("reference", "student")


class CourseError(Exception):
    """The course tree or its manifest is not usable; the message says where and why."""


class NotInCourseError(CourseError):
    """No course.yaml was found above the working directory."""


@dataclass(frozen=True)
class Module:
    id: str  # "01"
    slug: str  # "tensor"
    title: str
    requires: tuple[str, ...]
    hours: float
    root: Path  # the course root, so paths below are absolute
    timeout: float | None = None  # seconds `complete` and `test` may take; None: tito's default

    @property
    def name(self) -> str:
        """The folder name, such as 09_spatial."""
        return f"{self.id}_{self.slug}"

    @property
    def number(self) -> int:
        return int(self.id)

    @property
    def folder(self) -> Path:
        return self.root / "modules" / self.name

    @property
    def source(self) -> Path:
        """The module file a student edits: modules/09_spatial/spatial.py."""
        return self.folder / f"{self.slug}.py"

    @property
    def readme(self) -> Path:
        return self.folder / "README.md"

    @property
    def tests(self) -> Path:
        """The package test suite for this module: tests/09_spatial/."""
        return self.root / "tests" / self.name

    @property
    def marker(self) -> str:
        """The pytest marker that tags this module's tests: m09."""
        return f"m{self.id}"


@dataclass(frozen=True)
class Target:
    metric: str
    at_least: float

    def format(self, value) -> str:
        """A value of this metric as people read it (tito/metrics.py): accuracies as 99.17%."""
        return metric_text(self.metric, value)

    def describe(self) -> str:
        """The target in words: "test accuracy >= 97%"."""
        return f"{metric_name(self.metric)} >= {self.format(self.at_least)}"


@dataclass(frozen=True)
class Milestone:
    id: str
    year: int
    title: str
    requires: tuple[str, ...]
    target: Target
    root: Path

    @property
    def folder(self) -> Path:
        return self.root / "milestones" / self.id


@dataclass(frozen=True)
class Course:
    root: Path
    name: str
    edition: str
    modules: tuple[Module, ...]
    milestones: tuple[Milestone, ...]
    schema: int = 1

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def state_dir(self) -> Path:
        """Where tito keeps local state (progress, runs, backups): .tito/ at the course root."""
        return self.root / ".tito"

    @property
    def package_root(self) -> Path:
        """The directory holding the tinytorch package that this course exports into."""
        return self.root / "tinytorch"

    def shown(self, path: Path | str) -> str:
        """`path` as the student types it: relative to the course root (see `shown_path`)."""
        return shown_path(path, self.root)

    def module(self, key: str | int) -> Module:
        """Find a module by "09", "9", 9, "spatial" or "09_spatial"; raise KeyError otherwise.

        Numbers are ASCII digits only: "①", "٣" or a fullwidth "９" name no module, even though
        Python's int() would read some of them.
        """
        text = str(key).strip().lower()
        if len(text) > MAX_REFERENCE:
            raise KeyError(key)
        number = int(text) if text.isascii() and text.isdigit() else None
        for m in self.modules:
            if text in (m.id, m.slug, m.name) or number == m.number:
                return m
        raise KeyError(key)

    def milestone(self, key: str) -> Milestone:
        if len(str(key)) > MAX_REFERENCE:
            raise KeyError(key)
        for ms in self.milestones:
            if ms.id == str(key).strip().lower():
                return ms
        raise KeyError(key)

    def module_names(self) -> list[str]:
        return [m.name for m in self.modules]


def compact_ids(ids) -> str:
    """ "01-04" for 01, 02, 03, 04; "01, 03" where there is a gap (how messages list module ids)."""
    numbers = [int(i) for i in ids] if all(str(i).isdigit() for i in ids) else None
    if not numbers or len(numbers) < 3 or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return ", ".join(ids)
    return f"{ids[0]}-{ids[-1]}"


# --- loading -----------------------------------------------------------------------------------


def is_module_id(text: str) -> bool:
    """A module id is two ASCII digits: "01"."""
    return len(text) == 2 and text.isascii() and text.isdigit()


def is_slug(text: str) -> bool:
    """A slug (or milestone id) is a lower-case ASCII Python name of at most MAX_SLUG characters."""
    return len(text) <= MAX_SLUG and text.isascii() and text.isidentifier() and text == text.lower()


SECONDS = schema.Kind(
    "a number of seconds from 1 to 86400",
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 86400,
)
TWO_DIGITS = schema.matching('two digits in quotes, like "01"', is_module_id)
SLUG = schema.matching(f"a lower-case ASCII Python name of at most {MAX_SLUG} characters, like tensor", is_slug)
IDS = schema.ListOf(
    schema.Kind('a quoted id, like "01"', lambda v: isinstance(v, str)), name='a list of quoted ids like ["01"]'
)


MODULE_FIELDS = schema.Record(
    {
        "id": schema.Field(TWO_DIGITS, required=True),
        "slug": schema.Field(SLUG, required=True),
        "title": schema.Field(schema.LINE, required=True),
        "requires": schema.Field(IDS),
        "hours": schema.Field(schema.NOT_NEGATIVE),
        "timeout": schema.Field(SECONDS),  # seconds for `complete` and `test`; tito's default when absent
    },
    name="a mapping with id, slug and title",
)
MILESTONE_FIELDS = schema.Record(
    {
        "id": schema.Field(SLUG, required=True),
        "year": schema.Field(schema.WHOLE, required=True),
        "title": schema.Field(schema.LINE, required=True),
        "requires": schema.Field(IDS),
        "target": schema.Field(
            schema.Record(
                {
                    "metric": schema.Field(schema.TEXT, required=True),
                    "at_least": schema.Field(schema.NUMBER, required=True),
                }
            ),
            required=True,
        ),
    },
    name="a mapping with id, year, title and target",
)
COURSE = schema.Record(
    {
        "schema": schema.Field(schema.WHOLE),
        "name": schema.Field(schema.LINE),
        "edition": schema.Field(schema.one_of(*EDITIONS), required=True),
        "modules": schema.Field(schema.ListOf(MODULE_FIELDS), required=True),
        "milestones": schema.Field(schema.ListOf(MILESTONE_FIELDS)),
    },
    name="a mapping with edition, modules and milestones",
)


def find_root(start: Path | None = None) -> Path:
    """Walk up from `start` (default: the working directory) to the folder holding course.yaml.

    `TITO_COURSE_ROOT` overrides the search, which tests and graders use to point at a copy. A
    course.yaml that is there but not a regular file still marks the root, so loading it can say
    what is wrong instead of silently using a course further up.
    """
    override = os.environ.get("TITO_COURSE_ROOT")
    if override:
        try:
            root = Path(override).resolve()
            found = (root / MANIFEST_NAME).exists()
        except (OSError, RuntimeError):  # a name too long, a symlink loop, a folder tito may not read
            found = False
        if not found:
            raise NotInCourseError(
                f"TITO_COURSE_ROOT={override[:60]!r} has no {MANIFEST_NAME}: point it at the folder holding "
                f"{MANIFEST_NAME}, or run `unset TITO_COURSE_ROOT` to use the course you are in."
            )
        return root
    try:
        here = (start or Path.cwd()).resolve()
    except FileNotFoundError:
        raise NotInCourseError("The folder you are in no longer exists: `cd` into the course, then rerun.") from None
    for folder in (here, *here.parents):
        if (folder / MANIFEST_NAME).exists():
            return folder
    raise NotInCourseError(
        f"No {MANIFEST_NAME} found in {here} or any folder above it: "
        "run tito from inside the course (the folder holding course.yaml)."
    )


def load_course(root: Path | None = None) -> Course:
    """Load and check the manifest at `root` (default: found by walking up from the cwd).

    Raises CourseError with the file, the line where known, and what is wrong.
    """
    root = find_root() if root is None else Path(root).resolve()
    try:
        text = files.read_text(root / MANIFEST_NAME, MANIFEST_LIMIT)
    except OSError as exc:
        raise CourseError(f"{MANIFEST_NAME} {files.problem(exc)}.") from None
    return course_from_text(text, root)


def course_from_text(text: str, root: Path) -> Course:
    """The course a manifest's text describes, checked exactly as load_course checks course.yaml.

    Errors name the file as the person in the course types it: course.yaml (relative to the course)."""
    path = MANIFEST_NAME
    try:
        data = schema.load_yaml(text)
    except schema.SchemaError as exc:
        raise CourseError(f"{path}:{exc.line or 1}: {exc}.") from None
    if data is None:
        raise CourseError(f"{path}:1: the manifest is empty; it must list the edition, modules and milestones.")
    version = data.get("schema", 1) if isinstance(data, dict) else 1
    if version != 1:
        raise CourseError(
            f"{path}:{schema.line_of(data, 'schema')}: schema {version!r} is not supported (this tito reads schema 1)."
        )
    try:
        schema.check(data, COURSE)
    except schema.SchemaError as exc:
        raise CourseError(f"{path}:{exc.line or 1}: {exc}.") from None
    modules = tuple(
        Module(
            id=entry["id"],
            slug=entry["slug"],
            title=entry["title"],
            requires=tuple(entry.get("requires", ())),
            hours=float(entry.get("hours", 1.0)),
            root=root,
            timeout=float(entry["timeout"]) if "timeout" in entry else None,
        )
        for entry in data["modules"]
    )
    milestones = tuple(
        Milestone(
            id=entry["id"],
            year=entry["year"],
            title=entry["title"],
            requires=tuple(entry.get("requires", ())),
            target=Target(metric=entry["target"]["metric"], at_least=float(entry["target"]["at_least"])),
            root=root,
        )
        for entry in data.get("milestones", ())
    )
    _check_references(data, path, modules, milestones)
    return Course(
        root=root,
        name=data.get("name", "TinyTorch"),
        edition=data["edition"],
        modules=modules,
        milestones=milestones,
        schema=version,
    )


def _check_references(data, path, modules, milestones):
    """Ids are unique, and every `requires` names a module listed before (or, for milestones, at all)."""

    def fail(key, index, message):
        entry = data[key][index]
        raise CourseError(f"{path}:{schema.line_of(entry, 'requires')}: {message}")

    seen: set[str] = set()
    for index, module in enumerate(modules):
        if module.id in seen or module.slug in seen:
            fail("modules", index, f"module {module.name} is listed twice.")
        for required in module.requires:
            if required not in seen:
                fail(
                    "modules",
                    index,
                    f"module {module.name} requires {required!r}, which is not a module listed before it.",
                )
        seen.update((module.id, module.slug))
    module_ids = {m.id for m in modules}
    milestone_ids: set[str] = set()
    for index, milestone in enumerate(milestones):
        if milestone.id in milestone_ids:
            fail("milestones", index, f"milestone {milestone.id} is listed twice.")
        milestone_ids.add(milestone.id)
        missing = [r for r in milestone.requires if r not in module_ids]
        if missing:
            fail("milestones", index, f"milestone {milestone.id} requires unknown modules {missing}.")


def missing_module_folders(course: Course) -> list[Module]:
    """The modules whose folder (modules/NN_slug/) is not on disk, in course order."""
    return [module for module in course.modules if not module.folder.is_dir()]


# --- the manifest and the tree ------------------------------------------------------------------


def tree_problems(course: Course) -> list[str]:
    """Where course.yaml and the folders on disk disagree, both ways; empty when they agree.

    Every listed module needs modules/NN_slug/slug.py, its README.md and tests/NN_slug/; every
    milestone needs milestones/<id>/. Every folder in modules/, every NN_* folder in tests/ and
    every folder in milestones/ (except names starting with "_" or ".") must be listed.
    """
    problems = []
    for module in course.modules:
        for path, what in ((module.source, "module file"), (module.readme, "README"), (module.tests, "test folder")):
            if not path.exists():
                problems.append(f"{module.name}: its {what} {course.shown(path)} is missing")
    for milestone in course.milestones:
        if not milestone.folder.is_dir():
            problems.append(f"milestone {milestone.id}: its folder milestones/{milestone.id}/ is missing")

    def folders(parent: Path):
        if not parent.is_dir():
            return []
        return sorted(p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))

    names = set(course.module_names())
    for name in folders(course.root / "modules"):
        if name not in names:
            problems.append(f"modules/{name}/ is not listed in {MANIFEST_NAME}")
    for name in folders(course.root / "tests"):
        if name[:2].isdigit() and name not in names:
            problems.append(f"tests/{name}/ looks like a module test folder but is not listed in {MANIFEST_NAME}")
    milestone_ids = {m.id for m in course.milestones}
    for name in folders(course.root / "milestones"):
        if name not in milestone_ids:
            problems.append(f"milestones/{name}/ is not listed in {MANIFEST_NAME}")
    return problems

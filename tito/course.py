"""The course manifest, `course.yaml`, loaded into typed objects.

Every tito command learns what modules and milestones exist from here and nowhere else. A malformed
manifest is reported with the file and line, so an instructor editing it sees exactly what to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MANIFEST_NAME = "course.yaml"
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

    def format(self, value: float) -> str:
        """A value of this metric as people read it: accuracies as percentages (0.9917 -> 99.17%)."""
        return f"{value * 100:.4g}%" if "accuracy" in self.metric else f"{value:.4g}"

    def describe(self) -> str:
        """The target in words: "test accuracy >= 97%"."""
        return f"{self.metric.replace('_', ' ')} >= {self.format(self.at_least)}"


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
    _by_key: dict = field(default_factory=dict, compare=False, repr=False)

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

    def module(self, key: str | int) -> Module:
        """Find a module by "09", "9", 9, "spatial" or "09_spatial"; raise KeyError otherwise."""
        text = str(key).strip().lower()
        for m in self.modules:
            if text in (m.id, m.slug, m.name) or (text.isdigit() and int(text) == m.number):
                return m
        raise KeyError(key)

    def milestone(self, key: str) -> Milestone:
        for ms in self.milestones:
            if ms.id == str(key).strip().lower():
                return ms
        raise KeyError(key)

    def module_names(self) -> list[str]:
        return [m.name for m in self.modules]


# --- loading -----------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """A YAML loader whose mappings remember the line each key was written on."""


class _Mapping(dict):
    line: int = 0
    key_lines: dict


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        mapping[key] = loader.construct_object(value_node, deep=deep)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def find_root(start: Path | None = None) -> Path:
    """Walk up from `start` (default: the working directory) to the folder holding course.yaml.

    `TITO_COURSE_ROOT` overrides the search, which tests and graders use to point at a copy.
    """
    override = os.environ.get("TITO_COURSE_ROOT")
    if override:
        root = Path(override).resolve()
        if not (root / MANIFEST_NAME).is_file():
            raise NotInCourseError(f"TITO_COURSE_ROOT={override} has no {MANIFEST_NAME}.")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MANIFEST_NAME).is_file():
            return folder
    raise NotInCourseError(
        f"No {MANIFEST_NAME} found in {here} or any folder above it: "
        "run tito from inside the course (the folder holding course.yaml)."
    )


def load_course(root: Path | None = None) -> Course:
    """Load and validate the manifest at `root` (default: found by walking up from the cwd)."""
    root = find_root() if root is None else Path(root).resolve()
    path = root / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CourseError(f"{path}: cannot read the manifest ({exc.strerror}).") from None
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CourseError(f"{where}: not valid YAML ({problem}).") from None
    return _parse(data, path, root)


def _fail(path: Path, line: int, message: str):
    raise CourseError(f"{path}:{line}: {message}")


def _line(mapping, key=None) -> int:
    if isinstance(mapping, _Mapping):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return 1


def _get(mapping, key, kind, path, *, default=None, required=True):
    if key not in mapping:
        if required:
            _fail(path, _line(mapping), f"missing '{key}'.")
        return default
    value = mapping[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        _fail(path, _line(mapping, key), f"'{key}' must be a {expected}, not {value!r}.")
    return value


def _ids(mapping, key, path) -> tuple[str, ...]:
    values = _get(mapping, key, list, path, default=[], required=False)
    for value in values:
        if not isinstance(value, str):
            _fail(path, _line(mapping, key), f"'{key}' must list quoted ids like \"01\", not {value!r}.")
    return tuple(values)


def _parse(data, path: Path, root: Path) -> Course:
    if not isinstance(data, dict):
        _fail(path, 1, "the manifest must be a mapping with 'modules' and 'milestones'.")
    schema = _get(data, "schema", int, path, default=1, required=False)
    if schema != 1:
        _fail(path, _line(data, "schema"), f"schema {schema} is not supported (this tito reads schema 1).")
    edition = _get(data, "edition", str, path)
    if edition not in EDITIONS:
        _fail(path, _line(data, "edition"), f"edition must be one of {', '.join(EDITIONS)}, not {edition!r}.")

    modules = []
    for entry in _get(data, "modules", list, path):
        if not isinstance(entry, dict):
            _fail(path, _line(data, "modules"), "each module must be a mapping with id, slug, title.")
        module_id = _get(entry, "id", str, path)
        if not (len(module_id) == 2 and module_id.isdigit()):
            _fail(path, _line(entry, "id"), f"module id must be two digits in quotes, like \"01\", not {module_id!r}.")
        slug = _get(entry, "slug", str, path)
        if not slug.isidentifier() or slug != slug.lower():
            _fail(path, _line(entry, "slug"), f"slug {slug!r} must be a lower-case Python identifier.")
        modules.append(
            Module(
                id=module_id,
                slug=slug,
                title=_get(entry, "title", str, path),
                requires=_ids(entry, "requires", path),
                hours=_get(entry, "hours", float, path, default=1.0, required=False),
                root=root,
            )
        )

    milestones = []
    for entry in _get(data, "milestones", list, path, default=[], required=False):
        if not isinstance(entry, dict):
            _fail(path, _line(data, "milestones"), "each milestone must be a mapping with id, year, title.")
        target = _get(entry, "target", dict, path)
        milestones.append(
            Milestone(
                id=_get(entry, "id", str, path),
                year=_get(entry, "year", int, path),
                title=_get(entry, "title", str, path),
                requires=_ids(entry, "requires", path),
                target=Target(
                    metric=_get(target, "metric", str, path),
                    at_least=_get(target, "at_least", float, path),
                ),
                root=root,
            )
        )

    _check_references(data, path, modules, milestones)
    return Course(
        root=root,
        name=_get(data, "name", str, path, default="TinyTorch", required=False),
        edition=edition,
        modules=tuple(modules),
        milestones=tuple(milestones),
        schema=schema,
    )


def _check_references(data, path, modules, milestones):
    seen: set[str] = set()
    for module in modules:
        if module.id in seen or module.slug in seen:
            _fail(path, _line(data, "modules"), f"module {module.name} is listed twice.")
        for required in module.requires:
            if required not in seen:
                _fail(
                    path,
                    _line(data, "modules"),
                    f"module {module.name} requires {required!r}, which is not a module listed before it.",
                )
        seen.update((module.id, module.slug))
    module_ids = {m.id for m in modules}
    milestone_ids: set[str] = set()
    for milestone in milestones:
        if milestone.id in milestone_ids:
            _fail(path, _line(data, "milestones"), f"milestone {milestone.id} is listed twice.")
        milestone_ids.add(milestone.id)
        missing = [r for r in milestone.requires if r not in module_ids]
        if missing:
            _fail(path, _line(data, "milestones"), f"milestone {milestone.id} requires unknown modules {missing}.")


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
                problems.append(f"{module.name}: its {what} {path.relative_to(course.root).as_posix()} is missing")
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

"""A plain `pytest` in a course tells the truth at every stage, from a fresh student edition onwards.

The course's conftest.py loads this plugin. It reads course.yaml (the one list of modules) and:

- collects each module file's inline `test_*` functions (module files do not match pytest's
  test_*.py pattern; the manifest decides what is collected, not a naming convention) and tags every
  test of a module with its marker, `m01` ... `m09`, registered here from course.yaml;
- leaves out the tests of a module that cannot run yet, because it or a module it requires is not
  exported into `tinytorch/`, and reports that module as one failing line saying what to do, instead
  of a collection error per test file; milestone tests (marked `milestone("lenet")`) likewise wait
  for the modules their milestone requires.

In the reference edition every module is exported, so everything runs. tito's own test runs
(`tito test`, `tito module complete`) pass `--tito-report` and check readiness themselves; the
plugin then only tags and collects.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tito.course import Course, CourseError, Module, compact_ids, load_course

CHECKS_MARKER = "checks(*functions): the student functions a test checks, such as 'Tensor.mean' (tito's failure map)"


class NotReadyError(Exception):
    """A module or milestone whose tests cannot run yet; the message says what to do."""


class NotReady(pytest.Item):
    """One line in place of a module's (or milestone's) tests while they cannot run yet."""

    def __init__(self, *, message: str, **kwargs):
        super().__init__(**kwargs)
        self.message = message

    def runtest(self):
        raise NotReadyError(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: str | None = None) -> str:
        return self.message

    def reportinfo(self):
        return self.path, None, self.name


def _course(config) -> Course:
    course = getattr(config, "_tito_course", None)
    if course is None:
        try:
            course = load_course(Path(str(config.rootpath)))
        except CourseError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._tito_course = course
        config._tito_waiting = _waiting_modules(course)
        config._tito_sources = {module.source.resolve(): module for module in course.modules}
        config._tito_suites = [(module.tests.resolve(), module) for module in course.modules]
        config._tito_module_of = {}
    return course


def pytest_configure(config):
    course = _course(config)
    for module in course.modules:
        config.addinivalue_line("markers", f"{module.marker}: tests of course module {module.id} {module.slug}")
    config.addinivalue_line("markers", "slow: longer runs (milestone quick runs, end-to-end flows)")
    config.addinivalue_line("markers", "milestone(id): needs the modules that milestone requires, exported")
    config.addinivalue_line("markers", CHECKS_MARKER)


def _tito_run(config) -> bool:
    return bool(config.getoption("tito_report", default=None))


def _waiting_modules(course: Course) -> dict[str, str]:
    """{module id: why its tests cannot run yet} for every module that is not ready."""
    from tito.exporter import is_exported

    exported = {m.id for m in course.modules if m.source.is_file() and is_exported(course, m)}
    waiting: dict[str, str] = {}
    for module in course.modules:
        if module.id not in exported:
            waiting[module.id] = (
                f"not exported yet: write modules/{module.name}/{module.slug}.py, then run "
                f"`tito module complete {module.id}` (its tests run once it is exported)."
            )
            continue
        missing = [course.module(key) for key in _all_requirements(course, module) if key not in exported]
        if missing:
            waiting[module.id] = (
                f"waiting for {compact_ids([m.id for m in missing])} to be exported first: run "
                f"`tito module complete {missing[0].id}`."
            )
    return waiting


def _all_requirements(course: Course, module: Module) -> list[str]:
    """The ids `module` requires, directly or through the modules it requires, in course order."""
    wanted, queue = set(), list(module.requires)
    while queue:
        key = queue.pop()
        if key not in wanted:
            wanted.add(key)
            queue.extend(course.module(key).requires)
    return [m.id for m in course.modules if m.id in wanted]


def _module_of(config, path: Path) -> Module | None:
    """The module whose file or test folder holds `path`. Collection asks once per test, so each
    path is resolved once (the module paths were resolved with the course)."""
    _course(config)
    cache = config._tito_module_of
    if path not in cache:
        resolved = Path(path).resolve()
        module = config._tito_sources.get(resolved)
        if module is None:
            module = next((m for suite, m in config._tito_suites if suite in (resolved, *resolved.parents)), None)
        cache[path] = module
    return cache[path]


def pytest_ignore_collect(collection_path, config):
    if _tito_run(config):
        return None
    module = _module_of(config, collection_path)
    if module is not None and module.id in config._tito_waiting:
        return True
    return None


def pytest_collect_file(file_path: Path, parent):
    """Module files are collected because course.yaml lists them (unless pytest was given them)."""
    _course(parent.config)
    if file_path.suffix != ".py" or parent.session.isinitpath(file_path):
        return None
    if file_path.resolve() in parent.config._tito_sources:
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(session, config, items):
    course = _course(config)
    for item in items:
        module = _module_of(config, item.path)
        if module is not None:
            item.add_marker(module.marker)
    if _tito_run(config):
        return
    waiting = config._tito_waiting
    kept, milestones_waiting = [], {}
    for item in items:
        marker = item.get_closest_marker("milestone")
        milestone = course.milestone(marker.args[0]) if marker else None
        missing = [key for key in (milestone.requires if milestone else ()) if key in waiting]
        if milestone is not None and missing:
            first = course.module(missing[0])
            milestones_waiting[milestone.id] = (
                f"waiting for modules {compact_ids(missing)} to be exported first: run `tito module complete {first.id}`."
            )
        else:
            kept.append(item)
    placeholders = []
    for key, message in waiting.items():
        module = course.module(key)
        placeholder = NotReady.from_parent(
            session, name=module.name, nodeid=module.name, message=message, path=module.source
        )
        placeholder.add_marker(module.marker)  # so `pytest -m m03` still reports module 03's state
        placeholders.append(placeholder)
    for key, message in milestones_waiting.items():
        name = f"milestone {key}"
        placeholder = NotReady.from_parent(
            session, name=name, nodeid=name, message=message, path=course.milestone(key).folder
        )
        placeholder.add_marker("slow")
        placeholders.append(placeholder)
    items[:] = placeholders + kept

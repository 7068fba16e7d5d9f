"""Export plans: what exporting modules would write, checked in full before anything is written.

A module's exported cells go to its `#| default_exp` file, or to the file a cell names itself
(`#| export nn.conv`). When every cell names its own file, the default file gathers the module's
public names from them (the course's modules name a default file that holds code, so they have no
such file). Each package file has one owner: a module may not write a file that
another module declares or that tito did not generate. A file a module wrote before and no longer
names (its `#| default_exp` moved) is left over: writing removes it, so the old code cannot stay
importable and pass the module's tests in place of the new.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tito import files
from tito.course import Course, Module
from tito.exporter import assemble
from tito.exporter.assemble import GENERATED_MARK, Part
from tito.exporter.cells import ExportError, cell_target, default_exp, parse_cells, read_source
from tito.files import atomic_write

CATALOG_NAME = "_catalog.py"
GENERATED_FROM = re.compile(r" from (modules/\S+\.py): edit that file")


@dataclass(frozen=True)
class ExportPlan:
    """What exporting writes to one package file: its complete text and the public names it defines."""

    module: Module | None  # None for the catalog
    target: Path
    text: str
    names: tuple[str, ...]
    dotted: str = ""  # "nn.conv"; the catalog's is empty

    def differs(self) -> bool:
        try:
            return files.read_text(self.target) != self.text  # a FIFO is refused, never opened
        except OSError:
            return True


def target_path(course: Course, dotted: str) -> Path:
    return course.package_root.joinpath(*dotted.split(".")).with_suffix(".py")


def _source(course: Course, module: Module) -> tuple[str, str]:
    shown = course.shown(module.source)
    return read_source(module.source, shown), shown


def declared_targets(course: Course, module: Module) -> set[str]:
    """The package modules a module file names (default_exp and every `#| export X`); empty if unreadable."""
    try:
        text, shown = _source(course, module)
        cells = parse_cells(text)
        default = default_exp(cells, shown)
    except ExportError:
        return set()
    if default is None:
        return set()
    targets = {default}
    for cell in cells:
        if cell.exported and cell.directives.get("export"):
            targets.add(cell.directives["export"])
    return targets


def plan_module(course: Course, module: Module) -> list[ExportPlan]:
    """Build (but do not write) the package files of one module. Raises ExportError."""
    text, shown = _source(course, module)
    if "\0" in text:  # compile() would say so without a line
        line = text.count("\n", 0, text.index("\0")) + 1
        raise ExportError(f"{shown}:{line}: the file holds a NUL byte, which Python source cannot: delete it.")
    try:
        compile(text, shown, "exec")
    except SyntaxError as exc:
        raise ExportError(f"{shown}:{exc.lineno or 1}: syntax error: {exc.msg}.") from None
    except (ValueError, MemoryError, RecursionError) as exc:  # too deeply nested, too big
        raise ExportError(f"{shown}:1: Python cannot compile it ({type(exc).__name__}: {exc}).") from None
    cells = parse_cells(text)
    default = default_exp(cells, shown)
    if default is None:
        raise ExportError(f"{shown}:1: no '#| default_exp' cell, so tito does not know where to export.")
    exported = [cell for cell in cells if cell.exported]
    if not exported:
        raise ExportError(f"{shown}:1: no '#| export' cells, so there is nothing to export.")

    pool: list[assemble.PoolImport] = []
    parts: dict[str, Part] = {}
    for cell in exported:
        target = cell_target(cell, default, shown)
        imports, rest = assemble.split_imports(cell.code_lines(), shown)
        pool.extend(imports)
        part = parts.setdefault(target, Part(target))
        if rest:
            if part.lines:
                part.lines += [(None, ""), (None, "")]
            part.lines += rest
    for part in parts.values():
        code = "\n".join(line for _, line in part.lines)
        part.defined, part.public, part.used = assemble.names_in(code)
    pool_names = {name for item in pool for name, _ in item.bound()}

    plans, uses = [], {}
    docs = assemble.docstrings(cells, default, shown, module.title)
    for target, part in parts.items():
        if not part.lines:
            continue
        siblings, uses[target] = assemble.sibling_imports(part, parts, pool_names)
        import_lines = assemble.choose_imports(part, pool) + siblings
        body = part.lines
        plans.append(_plan(course, module, target, part.public, import_lines, body, shown, docs[target]))
    assemble.check_no_cycles(uses, shown)
    if default not in {plan.dotted for plan in plans}:
        plans.insert(0, _gathering_plan(course, module, default, [p for p in parts.values() if p.lines], shown))
    return plans


def _plan(course, module, target, names, imports, body, shown, docstring) -> ExportPlan:
    header = f"# {GENERATED_MARK} from {shown}: edit that file, not this one."
    path = target_path(course, target)
    text = assemble.render(header, docstring, list(names), imports, body, shown)
    try:
        compile(text, str(path), "exec")
    except SyntaxError as exc:
        raise ExportError(f"{shown}:1: the exported cells do not compile on their own: {exc.msg}.") from None
    return ExportPlan(module, path, text, tuple(names), target)


def _gathering_plan(course, module, default, parts, shown) -> ExportPlan:
    """The default file of a module whose cells all chose their own files: it imports their names."""
    imports = [(None, f"from tinytorch.{part.target} import {', '.join(part.public)}") for part in parts if part.public]
    names = [name for part in parts for name in part.public]
    homes = ", ".join("tinytorch." + part.target for part in parts)
    docstring = (
        f"{module.title}: the names of course module {module.name}, gathered from where its code lives: {homes}."
    )
    plan = _plan(course, module, default, names, imports, [], shown, docstring)
    return ExportPlan(module, plan.target, plan.text, (), default)  # the names are owned by the files above


def check_owners(course: Course, plans: list[ExportPlan]) -> None:
    """One owner per package file: refuse a file another module declares or tito did not generate."""
    claims: dict[str, list[Module]] = {}
    for module in exportable(course):
        for target in declared_targets(course, module):
            claims.setdefault(target, []).append(module)
    by_source = {course.shown(m.source): m for m in course.modules}
    for plan in plans:
        if plan.module is None:
            continue
        where, shown = course.shown(plan.module.source), course.shown(plan.target)
        others = [m for m in claims.get(plan.dotted, []) if m.id != plan.module.id]
        first = _first_line(plan.target)
        origin = generated_from(first) if first else None
        if not others and origin is not None and origin != where and origin in by_source:
            others = [by_source[origin]]
        if others:
            raise ExportError(
                f"{where}:1: {shown} belongs to module {others[0].name}, so module {plan.module.name} may not "
                f"export to {plan.dotted}: choose a file of its own in its '#| default_exp' or '#| export' line."
            )
        if first is not None and GENERATED_MARK not in first:
            raise ExportError(
                f"{where}:1: {shown} was written by hand, not by tito export, so module {plan.module.name} may "
                "not export to it: choose another file in its '#| default_exp' or '#| export' line."
            )


def generated_from(first_line: str) -> str | None:
    """The module file a generated file names in its first line, or None."""
    match = GENERATED_FROM.search(first_line)
    return match[1] if match else None


def _first_line(path: Path) -> str | None:
    if files.not_regular(path):  # a FIFO would block the open for ever
        return None
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return handle.readline()
    except OSError:
        return None


def plan_catalog(course: Course, built: dict[str, list[ExportPlan]] | None = None) -> ExportPlan:
    """The index of every public name each module exports, built from all module files.

    It is built from the sources, not from what has been exported, so the package face can name the
    module to complete for a name that is not exported yet. `built` holds plans already made (by
    module id), so a module is not parsed and compiled twice in one export.
    """
    built = built or {}
    entries: dict[str, tuple[str, str]] = {}
    for module in course.modules:
        if not module.source.is_file():
            continue
        for plan in built.get(module.id) or plan_module(course, module):
            for name in plan.names:
                if name in entries:
                    raise ExportError(
                        f"{course.shown(module.source)}:1: '{name}' is also exported by module {entries[name][1]}; "
                        "public names must be unique across modules."
                    )
                entries[name] = ("tinytorch." + plan.dotted, module.id)
    lines = [
        f"# {GENERATED_MARK} from the module files listed in course.yaml: do not edit.",
        '"""Which course module provides each public tinytorch name (read by tinytorch/__init__.py)."""',
        "",
        "MODULES = {",
        *(f"    {m.id!r}: {m.slug!r}," for m in course.modules),
        "}",
        "",
        "NAMES = {",
        *(f"    {name!r}: {where!r}," for name, where in entries.items()),
        "}",
        "",
    ]
    return ExportPlan(None, course.package_root / CATALOG_NAME, "\n".join(lines), tuple(entries))


def plan_export(course: Course, modules: list[Module], *, strict_catalog: bool = True) -> list[ExportPlan]:
    """Plans for the given modules plus the catalog; raises ExportError before anything is written.

    With `strict_catalog=False` (exporting one module while a student's later module does not
    compile yet), the catalog is left as it is rather than failing the export of a good module.
    """
    built = {module.id: plan_module(course, module) for module in modules}
    plans = [plan for module_plans in built.values() for plan in module_plans]
    check_owners(course, plans)
    try:
        plans.append(plan_catalog(course, built=built))
    except ExportError:
        if strict_catalog:
            raise
    return plans


def left_over(course: Course, plans: list[ExportPlan]) -> list[Path]:
    """Package files generated from a module these plans export that the plans no longer write."""
    sources = {course.shown(plan.module.source) for plan in plans if plan.module is not None}
    targets = {plan.target for plan in plans}
    found = []
    for folder, _dirs, names in os.walk(course.package_root):  # symlinked folders are not followed
        for name in sorted(names):
            path = Path(folder) / name
            if name.endswith(".py") and path not in targets and not path.is_symlink():
                first = _first_line(path)
                if first is not None and generated_from(first) in sources:
                    found.append(path)
    return sorted(found)


def write_plans(course: Course, plans: list[ExportPlan]) -> list[Path]:
    """Write every plan whose text differs, then remove what is left over; return the files written."""
    leftovers = left_over(course, plans)
    written = []
    for plan in plans:
        folder = plan.target.parent
        while folder != course.package_root and course.package_root in folder.parents:
            init = folder / "__init__.py"
            if not init.exists():
                dotted = ".".join(folder.relative_to(course.package_root).parts)
                atomic_write(init, f'"""tinytorch.{dotted}: generated modules live here."""\n')
            folder = folder.parent
        if plan.differs():
            atomic_write(plan.target, plan.text)
            written.append(plan.target)
    for path in leftovers:
        path.unlink(missing_ok=True)
    return written


def is_exported(course: Course, module: Module) -> bool:
    """Are all the package files this module's file names written? (False when it names none.)"""
    targets = declared_targets(course, module)
    return bool(targets) and all(target_path(course, target).is_file() for target in targets)


def exportable(course: Course) -> list[Module]:
    """The modules whose source file exists (a fixture course may carry only some)."""
    return [module for module in course.modules if module.source.is_file()]


def public_names(code: str) -> list[str]:
    """Top-level classes, functions and assignments not starting with "_": a file's `__all__`."""
    return assemble.names_in(code)[1]

"""Turn module source files into the `tinytorch` package (`tito export`).

A module file (jupytext percent format) names its package file once, with `#| default_exp tensor`,
and marks each code cell that belongs in the package with `#| export` (or `#| export nn.conv` for a
file of the cell's own choosing). The exporter copies those cells, in order, into their package files
under a header that says the file is generated, with an `__all__` of their public names, only the
imports their code uses, and a line map back to the module file (tito/linemap.py). It also rewrites
`tinytorch/_catalog.py`, the index the package face uses to say which module provides a name that is
not exported yet.

Nothing is written until every file has been built, compiled and checked for its owner, and each
write is atomic, so a failed export never leaves a half-written package.

    cells.py     reading a module file (UTF-8) and its cells
    assemble.py  one package file from the cells sent to it
    plans.py     the plans for a set of modules, their owners, the catalog, writing
"""

from tito.exporter.assemble import GENERATED_MARK
from tito.exporter.cells import Cell, ExportError, parse_cells, read_source
from tito.exporter.plans import (
    CATALOG_NAME,
    ExportPlan,
    declared_targets,
    exportable,
    generated_from,
    is_exported,
    left_over,
    plan_catalog,
    plan_export,
    plan_module,
    public_names,
    write_plans,
)
from tito.files import atomic_write

__all__ = [
    "CATALOG_NAME",
    "GENERATED_MARK",
    "Cell",
    "ExportError",
    "ExportPlan",
    "declared_targets",
    "atomic_write",
    "exportable",
    "generated_from",
    "is_exported",
    "parse_cells",
    "plan_catalog",
    "left_over",
    "plan_export",
    "plan_module",
    "public_names",
    "read_source",
    "write_plans",
]

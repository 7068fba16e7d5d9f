"""Pair a module file with a Jupyter notebook, for students who prefer notebooks (extra `notebooks`).

The module file `modules/01_tensor/tensor.py` stays the source of truth: tito exports and tests it.
`tito module start 01 --notebook` writes `tensor.ipynb` beside it through jupytext, and before
`tito module complete 01` runs, `sync_newer` copies whichever of the pair was saved last into the
other, so work done in either one is what gets tested. The side that is overwritten is first
copied to `.tito/backups/01_tensor/`, so a sync never loses work.

jupytext is imported only here and only when a notebook is involved, so the rest of tito works
without the extra installed.
"""

from __future__ import annotations

from pathlib import Path

from tito.exporter import relative
from tito.files import atomic_write, backup

EXTRA_INSTALL = 'pip install -e ".[notebooks]"'
PAIRED_FORMATS = "ipynb,py:percent"
PY_FORMAT = "py:percent"


class NotebookError(Exception):
    """A notebook operation failed; the message says why and what to install or do."""


def notebook_path(module) -> Path:
    """modules/01_tensor/tensor.ipynb for modules/01_tensor/tensor.py."""
    return module.source.with_suffix(".ipynb")


def create_notebook(module) -> Path:
    """Write the module's notebook, paired with its module file, and return its path.

    If the notebook already exists it is not overwritten: the pair is synced instead, so starting a
    module twice keeps the student's work.
    """
    jupytext = _jupytext()
    if not module.source.is_file():
        raise NotebookError(
            f"{relative(module.source, module.root)} does not exist, so there is nothing to open as a "
            f"notebook: run `tito module reset {module.id}` to restore it."
        )
    path = notebook_path(module)
    if path.exists():
        sync_newer(module)
        return path
    notebook = _read_module(jupytext, module)
    atomic_write(path, jupytext.writes(notebook, fmt="ipynb"))
    return path


def open_hint(module, path: Path) -> str:
    """One sentence telling the student how to open the notebook and what happens to it."""
    shown = relative(path, module.root)
    return (
        f"Open it with `jupyter lab {shown}` (or in VS Code). `tito module complete {module.id}` copies "
        f"whichever of {path.name} and {module.source.name} you saved last into the other."
    )


def sync_newer(module) -> str | None:
    """Copy the newer of the module file and its notebook into the other; say what was done.

    Returns None when there is no notebook or the two already agree. The overwritten file is backed
    up first. Raises NotebookError when a notebook exists but jupytext is missing or cannot read it.
    """
    path = notebook_path(module)
    if not path.exists():
        return None
    jupytext = _jupytext()
    notebook = _read_notebook(jupytext, module, path)
    as_module_text = jupytext.writes(_for_module_file(notebook), fmt=PY_FORMAT)
    source_text = _module_text(module) if module.source.exists() else None
    if source_text == as_module_text:
        return None
    notebook_newer = source_text is None or path.stat().st_mtime_ns > module.source.stat().st_mtime_ns
    if notebook_newer:
        backup = _backup(module, module.source)
        atomic_write(module.source, as_module_text)
        copied, into = path.name, module.source.name
    else:
        backup = _backup(module, path)
        fresh = _read_module(jupytext, module)
        from jupytext.combine import combine_inputs_with_outputs

        merged = combine_inputs_with_outputs(fresh, notebook, fmt=PY_FORMAT)  # keep cell outputs
        atomic_write(path, jupytext.writes(merged, fmt="ipynb"))
        copied, into = module.source.name, path.name
    saved = f" (the old {into} is saved as {relative(backup, module.root)})" if backup else ""
    return f"{copied} was saved last, so it was copied into {into}{saved}."


# --- helpers -------------------------------------------------------------------------------------


def _module_text(module) -> str:
    """The module file's text; a byte that is not UTF-8 is an ExportError naming its line and column."""
    from tito.exporter import read_source

    return read_source(module.source, relative(module.source, module.root))


def _jupytext():
    try:
        import jupytext
    except ImportError:
        raise NotebookError(
            f"Notebooks need jupytext, which is not installed: run `{EXTRA_INSTALL}` in the course "
            "folder (the `notebooks` extra), then try again."
        ) from None
    return jupytext


def _read_module(jupytext, module):
    """The module file as a notebook whose metadata pairs it with the file and adds no header to it."""
    notebook = jupytext.reads(_module_text(module), fmt=PY_FORMAT)
    settings = notebook.metadata.setdefault("jupytext", {})
    settings["formats"] = PAIRED_FORMATS
    return notebook


def _read_notebook(jupytext, module, path: Path):
    try:
        return jupytext.read(path)
    except Exception as exc:  # nbformat raises several kinds for a damaged file
        raise NotebookError(
            f"{relative(path, module.root)} cannot be read as a notebook ({exc}); move it aside and run "
            f"`tito module start {module.id} --notebook` to make a fresh one from {module.source.name}."
        ) from None


def _for_module_file(notebook):
    """The notebook with metadata filters that keep the module file free of a jupytext header."""
    settings = notebook.metadata.setdefault("jupytext", {})
    settings["notebook_metadata_filter"] = "-all"
    settings["cell_metadata_filter"] = "-all"
    return notebook


def _backup(module, path: Path) -> Path | None:
    """Copy `path` to .tito/backups/NN_slug/stem-YYYYmmdd-HHMMSS.suffix before it is overwritten."""
    if not path.exists():
        return None
    return backup(path, module.root / ".tito" / "backups" / module.name)

"""Pair a module file with a Jupyter notebook, for students who prefer notebooks (extra `notebooks`).

The module file `modules/01_tensor/tensor.py` stays the source of truth: tito exports and tests it.
`tito module start 01 --notebook` writes `tensor.ipynb` beside it through jupytext, and before
`tito module complete 01` runs, `sync_newer` copies whichever of the pair was saved last into the
other, so work done in either one is what gets tested. The side that is overwritten is first
copied to `.tito/backups/01_tensor/`, so a sync never loses work.

jupytext is imported only here and only when a notebook is involved, so the rest of tito works
without the extra installed. The extra also installs JupyterLab; `open_hint` tells the student to run
it only where it is installed, and otherwise names the install command.
"""

from __future__ import annotations

import shlex
import shutil
import sysconfig
from pathlib import Path

from tito.files import atomic_write, backup
from tito.paths import shown_path

EXTRA_INSTALL = 'pip install -e ".[notebooks]"'
PAIRED_FORMATS = "ipynb,py:percent"
PY_FORMAT = "py:percent"
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}  # no kernel prompt
SCRIPTS = Path(sysconfig.get_path("scripts"))  # where pip put this Python's programs (tito, jupyter-lab)


class NotebookError(Exception):
    """A notebook operation failed; the message says why and what to install or do."""


def notebook_path(module) -> Path:
    """modules/01_tensor/tensor.ipynb for modules/01_tensor/tensor.py."""
    return module.source.with_suffix(".ipynb")


def create_notebook(module) -> Path:
    """Write the module's notebook, paired with its module file, and return its path (start_notebook
    also says what a sync of an existing pair did)."""
    return start_notebook(module)[0]


def start_notebook(module) -> tuple[Path, str | None]:
    """Write the module's notebook, paired with its module file: (its path, what a sync did or None).

    If the notebook already exists it is not overwritten: the pair is synced instead, so starting a
    module twice keeps the student's work.
    """
    jupytext = _jupytext()
    if not module.source.is_file():
        raise NotebookError(
            f"{shown_path(module.source, module.root)} does not exist, so there is nothing to open as a "
            f"notebook: run `tito module reset {module.id}` to restore it."
        )
    path = notebook_path(module)
    if path.exists():
        return path, sync_newer(module)
    notebook = _read_module(jupytext, module)
    atomic_write(path, jupytext.writes(notebook, fmt="ipynb"))
    return path, None


def reset_notebook(module) -> str | None:
    """After the module file was reset, make its notebook match it (a backup is kept); say what was done.

    Without this the notebook, saved later than the reset file, would be copied back over it by the
    next sync, undoing the reset. Without jupytext the notebook cannot be rewritten, so it is moved to
    the backups instead. None when there is no notebook.
    """
    path = notebook_path(module)
    if not path.exists():
        return None
    saved = _backup(module, path)
    shown = shown_path(saved, module.root) if saved else "nowhere"
    try:
        jupytext = _jupytext()
    except NotebookError:
        path.unlink()
        return (
            f"{path.name} was moved to {shown} (jupytext is not installed to rewrite it): run "
            f"`tito module start {module.id} --notebook` for a fresh one."
        )
    atomic_write(path, jupytext.writes(_read_module(jupytext, module), fmt="ipynb"))
    return f"{path.name} was reset too (the old one is saved as {shown})."


def open_hint(module, path: Path) -> str:
    """How to open the notebook with what is installed here, and what `complete` does with the pair."""
    shown = shown_path(path, module.root)
    lab = jupyter_lab_command()
    if lab is None:
        opening = (
            f"JupyterLab is not installed here: run `{EXTRA_INSTALL}` in the course folder, then "
            f"`jupyter lab {shown}` (or open it in VS Code)."
        )
    else:
        opening = f"Open it with `{lab} {shown}` (or in VS Code)."
    return (
        f"{opening} `tito module complete {module.id}` copies whichever of {path.name} and "
        f"{module.source.name} you saved last into the other."
    )


def jupyter_lab_command() -> str | None:
    """The command that starts JupyterLab from the student's shell, or None where it is not installed.

    `jupyter lab` when both programs are on PATH; the full path of jupyter-lab when it sits beside this
    Python but that folder is not on PATH (a virtual environment used without activating it).
    """
    if shutil.which("jupyter") and shutil.which("jupyter-lab"):
        return "jupyter lab"
    found = shutil.which("jupyter-lab") or shutil.which("jupyter-lab", path=str(SCRIPTS))
    return shlex.quote(found) if found else None


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
    source_text = _module_text(module) if module.source.exists() else None
    settings = notebook.metadata.setdefault("jupytext", {})
    settings.update(_text_filters(jupytext.reads(source_text or "", fmt=PY_FORMAT)))  # as JupyterLab saves it
    as_module_text = jupytext.writes(notebook, fmt=PY_FORMAT)
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
    saved = f" (the old {into} is saved as {shown_path(backup, module.root)})" if backup else ""
    return f"{copied} was saved last, so it was copied into {into}{saved}."


# --- helpers -------------------------------------------------------------------------------------


def _module_text(module) -> str:
    """The module file's text; a byte that is not UTF-8 is an ExportError naming its line and column."""
    from tito.exporter import read_source

    return read_source(module.source, shown_path(module.source, module.root))


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
    """The module file as a notebook paired with it and run by the python3 kernel.

    JupyterLab's jupytext extension writes both files of the pair on every save, through the filters
    stored here: they keep the module file's header exactly as it is (or keep it without one).
    """
    notebook = jupytext.reads(_module_text(module), fmt=PY_FORMAT)
    settings = notebook.metadata.setdefault("jupytext", {})
    settings.update(_text_filters(notebook), formats=PAIRED_FORMATS)
    notebook.metadata.setdefault("kernelspec", dict(KERNEL))
    return notebook


def _text_filters(module_notebook) -> dict:
    """jupytext's metadata filters that write back exactly the header `module_notebook` was read with.

    jupytext reads a file without a header with filters "-all" (none is written back); for a header,
    keep the keys it holds and leave out the version lines jupytext would add.
    """
    metadata = module_notebook.metadata
    settings = metadata.get("jupytext", {})
    if "notebook_metadata_filter" in settings:
        filters = ("notebook_metadata_filter", "cell_metadata_filter")
        return {key: settings[key] for key in filters if key in settings}
    kept = [key for key in metadata if key != "jupytext"] + [f"jupytext.{key}" for key in settings]
    written = settings.get("text_representation", {})
    versions = [key for key in ("format_version", "jupytext_version") if key not in written]
    left_out = [f"-jupytext.text_representation.{key}" for key in versions]
    return {"notebook_metadata_filter": ",".join(kept + left_out), "cell_metadata_filter": "-all"}


def _read_notebook(jupytext, module, path: Path):
    try:
        return jupytext.read(path)
    except Exception as exc:  # nbformat raises several kinds for a damaged file
        raise NotebookError(
            f"{shown_path(path, module.root)} cannot be read as a notebook ({exc}); move it aside and run "
            f"`tito module start {module.id} --notebook` to make a fresh one from {module.source.name}."
        ) from None


def _backup(module, path: Path) -> Path | None:
    """Copy `path` to .tito/backups/NN_slug/stem-YYYYmmdd-HHMMSS.suffix before it is overwritten."""
    if not path.exists():
        return None
    return backup(path, module.root / ".tito" / "backups" / module.name)

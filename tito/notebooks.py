"""Notebook pairing for module files (extra `notebooks`): placeholder; its owner replaces this file.

The engine calls exactly these two functions:
- create_notebook(module) -> Path: write modules/NN_slug/slug.ipynb paired with slug.py (start --notebook).
- sync_newer(module) -> str | None: before `complete`, copy whichever of the pair is newer into the
  other (backing up the overwritten side); return a one-line description of what was done, or None.
"""

from __future__ import annotations

from pathlib import Path


class NotebookError(Exception):
    """A notebook operation failed; the message says why and what to install or do."""


def create_notebook(module) -> Path:
    raise NotebookError("Notebook support is not built yet.")


def sync_newer(module) -> str | None:
    return None

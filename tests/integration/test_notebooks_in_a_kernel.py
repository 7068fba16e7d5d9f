"""The notebooks `tito module start NN --notebook` writes run top to bottom in a real Jupyter kernel.

A scratch copy of the course gets module 01's and module 09's notebooks through tito's own command;
nbclient then runs each in a fresh python3 kernel, as JupyterLab would: working directory the
notebook's folder, the copy's package first on the kernel's path (where `pip install -e .` would
put it). The cell outputs must show the inline tests ran and passed.

The kernel is the one ipykernel installs into this environment (the `dev` extra): the Jupyter
search path is pinned to sys.prefix and scratch folders, so a kernelspec or config file installed
elsewhere on the machine cannot change which Python runs the notebook.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from course_copy import REPO, tito
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

PROBE = "import os, sys, tinytorch\nprint(os.getcwd())\nprint(sys.executable)\nprint(tinytorch.__file__)"


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The parts of the course a module notebook needs: manifest, module files, package, tinydigits."""
    root = tmp_path_factory.mktemp("notebooks")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.ipynb")
    shutil.copyfile(REPO / "course.yaml", root / "course.yaml")
    for name in ("modules", "tinytorch", "datasets/tinydigits"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    return root


@pytest.fixture
def jupyter_env(tmp_path, monkeypatch, course) -> dict:
    """Jupyter's and the kernel's environment: only this venv's kernels, scratch user folders."""
    scratch = tmp_path / "jupyter"
    scratch.mkdir()
    settings = {
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),  # searched first
        "JUPYTER_DATA_DIR": str(scratch / "data"),  # the user's kernels folder: empty
        "JUPYTER_CONFIG_DIR": str(scratch / "config"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "IPYTHONDIR": str(scratch / "ipython"),
        "TMPDIR": str(tmp_path),  # module 09 saves its picture in the temporary folder
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for name in ("TITO_COURSE_ROOT", "MPLBACKEND", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    return {**os.environ, "PYTHONPATH": str(course)}


def start_notebook(course: Path, module: str) -> Path:
    """`tito module start NN --notebook` in the copy; the path of the notebook it wrote."""
    started = tito(course, "module", "start", module, "--notebook")
    assert started.returncode == 0, started.stderr
    (path,) = (course / "modules").glob(f"{module}_*/*.ipynb")
    assert f"Notebook: {path.relative_to(course).as_posix()}." in started.stdout
    return path


def run_in_kernel(path: Path, env: dict) -> nbformat.NotebookNode:
    """Run a probe cell, then every cell of the notebook, in a fresh kernel of the kind the notebook names."""
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.kernelspec.name == "python3"
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    folder = {"metadata": {"path": str(path.parent)}}  # the kernel's working directory
    return NotebookClient(notebook, timeout=120, allow_errors=True, resources=folder).execute(env=env)


def stdout_lines(cell) -> list[str]:
    printed = [out.text for out in cell.outputs if out.output_type == "stream" and out.name == "stdout"]
    return "".join(printed).splitlines()


def errors(notebook) -> list[tuple[str, str]]:
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    return [(out.ename, out.evalue) for out in outputs if out.output_type == "error"]


def check_ran_top_to_bottom(notebook, path: Path, course: Path) -> list[str]:
    """Every code cell ran, in the copy's package and this venv's Python; the notebook's stdout lines."""
    probe, *cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    cwd, python, package = stdout_lines(probe)
    assert (Path(cwd), python) == (path.parent.resolve(), sys.executable)
    assert Path(package) == (course / "tinytorch" / "__init__.py").resolve()
    assert [cell.execution_count for cell in cells] == list(range(2, len(cells) + 2))
    return [line for cell in cells for line in stdout_lines(cell)]


def test_the_kernel_is_the_one_ipykernel_put_in_this_environment(jupyter_env):
    spec = KernelSpecManager().get_kernel_spec("python3")  # ipykernel's wheel puts it in share/jupyter/kernels
    assert Path(spec.resource_dir).is_relative_to(sys.prefix)
    assert spec.argv[0] in ("python", sys.executable)  # jupyter_client runs "python" as sys.executable


def test_module_01_notebook_runs_its_inline_tests_in_a_kernel(course, jupyter_env):
    path = start_notebook(course, "01")
    notebook = run_in_kernel(path, jupyter_env)
    lines = check_ran_top_to_bottom(notebook, path, course)
    assert errors(notebook) == []
    assert lines[-1] == "Module 01: 6 of 6 inline tests passed"
    assert stdout_lines(notebook.cells[-1])[-1] == lines[-1]  # printed by the last cell


def test_module_09_notebook_runs_its_inline_tests_and_demos_in_a_kernel(course, jupyter_env):
    path = start_notebook(course, "09")
    notebook = run_in_kernel(path, jupyter_env)
    lines = check_ran_top_to_bottom(notebook, path, course)
    # The file's last cell ends a script run with sys.exit(code); IPython shows SystemExit as an error.
    assert errors(notebook) in ([], [("SystemExit", "0")])
    assert lines[-1] == "Module 09: 13 of 13 inline tests passed"
    stopped = [line for line in lines if re.match(r"FAILED |NOT YET |\(\w+ (needs|stopped)", line)]
    assert stopped == []  # no test failed or stopped, no demonstration stopped

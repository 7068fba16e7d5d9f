"""Notebook pairing: `tito module start NN --notebook`, syncing the newer side, the hint on opening it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import jupytext
import pytest
from jupytext.cli import jupytext as jupytext_cli
from typer.testing import CliRunner

from tito import notebooks
from tito.cli import app
from tito.notebooks import NotebookError, create_notebook, notebook_path, sync_newer

INSTALL = 'pip install -e ".[notebooks]"'
BLOCKER = textwrap.dedent(
    """
    import sys

    class NoJupytext:
        '''Make `import jupytext` fail as it does where the extra is not installed.'''

        def find_spec(self, name, path=None, target=None):
            if name == "jupytext" or name.startswith("jupytext."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoJupytext())
    """
)


def later(path, seconds: int = 10) -> None:
    """Make `path` look saved `seconds` after everything else (file times can tie within a test)."""
    stamp = os.stat(path).st_mtime + seconds
    os.utime(path, (stamp, stamp))


def set_cell(path, old: str, new: str, outputs=None) -> None:
    """Edit the notebook as Jupyter would: replace text in the code cell holding `old`."""
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        source = "".join(cell["source"])
        if old in source:
            cell["source"] = source.replace(old, new)
            if outputs is not None:
                cell["outputs"] = outputs
    path.write_text(json.dumps(data))


def test_the_notebook_holds_the_module_file_exactly(fixture_course):
    module = fixture_course.course.module("01")
    before = module.source.read_bytes()
    path = create_notebook(module)
    assert path == notebook_path(module) == module.source.with_suffix(".ipynb")
    notebook = jupytext.read(path)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert jupytext.writes(notebook, fmt="py:percent") == before.decode()
    assert module.source.read_bytes() == before
    assert sync_newer(module) is None  # freshly paired: nothing to do, nothing backed up
    assert not (fixture_course.root / ".tito" / "backups").exists()


def test_a_newer_notebook_is_copied_into_the_module_file_with_a_backup(fixture_course):
    module = fixture_course.course.module("01")
    old = module.source.read_text()
    path = create_notebook(module)
    set_cell(path, "return 2 * x", "return x + x")
    later(path)

    note = sync_newer(module)

    assert module.source.read_text() == old.replace("return 2 * x", "return x + x")
    backups = list((fixture_course.root / ".tito/backups/01_alpha").iterdir())
    assert [b.read_text() for b in backups] == [old]
    assert note == (
        f"alpha.ipynb was saved last, so it was copied into alpha.py "
        f"(the old alpha.py is saved as .tito/backups/01_alpha/{backups[0].name})."
    )
    assert backups[0].name.startswith("alpha-") and backups[0].suffix == ".py"


def test_a_newer_module_file_is_copied_into_the_notebook_keeping_its_outputs(fixture_course):
    module = fixture_course.course.module("01")
    path = create_notebook(module)
    output = {"output_type": "stream", "name": "stdout", "text": "checked\n"}
    set_cell(path, "def test_unit_alpha_double", "def test_unit_alpha_double", outputs=[output])
    saved = path.read_text()
    module.source.write_text(module.source.read_text().replace("return 2 * x", "return x * 2"))
    later(module.source)

    note = sync_newer(module)

    assert note.startswith(
        "alpha.py was saved last, so it was copied into alpha.ipynb (the old alpha.ipynb is saved as "
    )
    cells = jupytext.read(path).cells
    assert any("return x * 2" in cell.source for cell in cells)
    assert [c.outputs for c in cells if "def test_unit_alpha_double" in c.source] == [[output]]
    backups = list((fixture_course.root / ".tito/backups/01_alpha").iterdir())
    assert [b.read_text() for b in backups] == [saved]


COURSE_HEADER = """\
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

"""  # what the course's module files start with


@pytest.mark.parametrize("header", ["", COURSE_HEADER], ids=["no header", "course header"])
def test_saves_in_jupyterlab_write_only_the_students_change_into_the_module_file(fixture_course, header):
    """JupyterLab's jupytext extension writes both files of the pair on save, as `jupytext --sync` does."""
    module = fixture_course.course.module("01")
    module.source.write_text(header + module.source.read_text())
    old = module.source.read_text()
    path = create_notebook(module)
    assert jupytext.read(path).metadata["kernelspec"]["name"] == "python3"  # opens without a kernel prompt
    assert sync_newer(module) is None

    set_cell(path, "return 2 * x", "return x + x")
    later(path)
    jupytext_cli(["--sync", str(path)])
    assert module.source.read_text() == old.replace("return 2 * x", "return x + x")  # header as it was
    assert sync_newer(module) is None  # the pair agrees: `complete` copies nothing and backs nothing up
    assert not (fixture_course.root / ".tito" / "backups").exists()

    edited = old.replace("return 2 * x", "return x * 2")  # then in an editor, and `complete` syncs it
    module.source.write_text(edited)
    later(module.source, 20)
    assert sync_newer(module).startswith("alpha.py was saved last, so it was copied into alpha.ipynb")
    later(path, 30)
    jupytext_cli(["--sync", str(path)])
    assert module.source.read_text() == edited
    assert sync_newer(module) is None


def test_starting_again_does_not_overwrite_the_students_notebook(fixture_course):
    module = fixture_course.course.module("01")
    path = create_notebook(module)
    set_cell(path, "return 2 * x", "return x + x")
    later(path)
    create_notebook(module)
    assert "return x + x" in path.read_text()
    assert "return x + x" in module.source.read_text()


@pytest.fixture
def no_jupytext(monkeypatch):
    """This process, as if the notebooks extra were not installed."""
    namespace: dict = {}
    exec(BLOCKER.replace("sys.meta_path.insert(0, NoJupytext())", ""), namespace)
    monkeypatch.setattr(sys, "meta_path", [namespace["NoJupytext"](), *sys.meta_path])
    for name in [n for n in sys.modules if n == "jupytext" or n.startswith("jupytext.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ModuleNotFoundError):
        import jupytext  # noqa: F401  (the blocker works)


def test_without_jupytext_a_module_with_no_notebook_syncs_fine(fixture_course, no_jupytext):
    assert sync_newer(fixture_course.course.module("01")) is None


def test_without_jupytext_the_message_names_the_extra(fixture_course, no_jupytext):
    module = fixture_course.course.module("01")
    with pytest.raises(
        NotebookError, match=re.escape(f"Notebooks need jupytext, which is not installed: run `{INSTALL}`")
    ):
        create_notebook(module)
    notebook_path(module).write_text("{}")
    with pytest.raises(NotebookError, match="the `notebooks` extra"):
        sync_newer(module)


def run_tito(args, cwd, tmp_path):
    """Run tito in a fresh interpreter whose sitecustomize hides jupytext."""
    site = tmp_path / "site_without_jupytext"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    env["PYTHONPATH"] = str(site)
    env["NO_COLOR"] = "1"
    return subprocess.run([sys.executable, "-m", "tito", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_cli_without_jupytext_says_which_extra_to_install(fixture_course, tmp_path):
    started = run_tito(["module", "start", "01", "--notebook"], fixture_course.root, tmp_path)
    assert started.returncode == 1
    assert "Notebooks need jupytext, which is not installed: run `pip install -e" in started.stderr
    assert "(the `notebooks` extra)" in " ".join(started.stderr.split())
    assert not notebook_path(fixture_course.course.module("01")).exists()
    plain = run_tito(["module", "start", "01"], fixture_course.root, tmp_path)
    assert plain.returncode == 0, plain.stderr


def test_cli_start_writes_the_notebook_and_complete_syncs_it_first(fixture_course):
    runner = CliRunner()
    started = runner.invoke(app, ["module", "start", "01", "--notebook"])
    assert started.exit_code == 0, started.output
    module = fixture_course.course.module("01")
    path = notebook_path(module)
    assert "modules/01_alpha/alpha.ipynb" in started.output
    set_cell(path, "return 2 * x", "return 3 * x")  # the student breaks it in the notebook
    later(path)

    failed = runner.invoke(app, ["module", "complete", "01"])
    assert failed.exit_code == 1
    assert "return 3 * x" in module.source.read_text()
    assert "alpha.ipynb was saved last, so it was copied into alpha.py" in " ".join(failed.output.split())

    set_cell(path, "return 3 * x", "return 2 * x")  # and fixes it there
    later(path, 20)
    passed = runner.invoke(app, ["module", "complete", "01"])
    assert passed.exit_code == 0, passed.output
    assert len(list((fixture_course.root / ".tito/backups/01_alpha").iterdir())) == 2


def programs(folder, *names):
    """A folder of stand-in executables (as pip installs jupyter and jupyter-lab); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Decide what this test's shell finds: installed(on_path=[...], beside_python=[...])."""

    def install(on_path=(), beside_python=()):
        monkeypatch.setenv("PATH", str(programs(tmp_path / "on_path", *on_path)))
        scripts = programs(tmp_path / "venv bin", *beside_python)
        monkeypatch.setattr(notebooks, "SCRIPTS", scripts)
        return scripts

    return install


SYNC = "`tito module complete 01` copies whichever of alpha.ipynb and alpha.py you saved last into the other."


def test_with_jupyterlab_on_path_the_hint_says_jupyter_lab(fixture_course, installed):
    installed(on_path=["jupyter", "jupyter-lab"])
    module = fixture_course.course.module("01")
    hint = notebooks.open_hint(module, notebook_path(module))
    assert hint == f"Open it with `jupyter lab modules/01_alpha/alpha.ipynb` (or in VS Code). {SYNC}"


def test_with_jupyterlab_only_beside_python_the_hint_gives_its_full_path(fixture_course, installed):
    scripts = installed(beside_python=["jupyter", "jupyter-lab"])
    module = fixture_course.course.module("01")
    hint = notebooks.open_hint(module, notebook_path(module))
    lab = f"'{scripts / 'jupyter-lab'}'"  # quoted: the folder's name has a space
    assert hint == f"Open it with `{lab} modules/01_alpha/alpha.ipynb` (or in VS Code). {SYNC}"


def test_without_jupyterlab_the_hint_names_the_install_command(fixture_course, installed):
    installed(on_path=["jupyter"])  # jupyter_core alone (jupytext brings it) does not open notebooks
    module = fixture_course.course.module("01")
    hint = notebooks.open_hint(module, notebook_path(module))
    assert hint == (
        f"JupyterLab is not installed here: run `{INSTALL}` in the course folder, then "
        f"`jupyter lab modules/01_alpha/alpha.ipynb` (or open it in VS Code). {SYNC}"
    )


def test_cli_start_without_jupyterlab_names_the_install_command(fixture_course, installed):
    installed()
    started = CliRunner().invoke(app, ["module", "start", "01", "--notebook"])
    assert started.exit_code == 0, started.output
    said = " ".join(started.output.split())
    assert f"alpha.ipynb. JupyterLab is not installed here: run `{INSTALL}` in the course folder" in said
    assert notebook_path(fixture_course.course.module("01")).is_file()

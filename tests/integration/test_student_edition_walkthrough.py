"""A student edition, used as a student would: installed as its README says, tested, completed.

The edition is released from this course, installed in a fresh virtual environment with the README's
own install command, and its README's test command is run: in a fresh edition every module and
milestone is one failing line saying what to do, with no collection errors. Then the reference
module files are copied in one at a time, each completed with `tito module complete`, and at the end
the same test command passes with no failures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tito.course import load_course
from tito.release import build_student_edition

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def readme_commands(readme: str) -> list[str]:
    """The commands of the README's first code block: install, status, test."""
    block = re.search(r"```bash\n(.*?)```", readme, re.S)[1]
    return [line.strip() for line in block.splitlines() if line.strip()]


def fresh_venv(folder: Path) -> Path:
    """A venv that sees this test run's installed packages (pip, setuptools, numpy...) and nothing else.

    This machine may be offline: the packages the edition needs are borrowed through a .pth line
    instead of downloaded. The .pth files inside that folder (our own editable install) are not run.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [path for path in sys.path if path.endswith("site-packages") and os.path.isdir(os.path.join(path, "pip"))]
    (Path(site) / "borrowed.pth").write_text("\n".join(ours) + "\n")
    return python


def run(python: Path, edition: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "TITO_COURSE_ROOT")}
    env.update(NO_COLOR="1", COLUMNS="200", TITO_NO_TUNING="1")
    return subprocess.run(
        [str(python), "-m", *args], cwd=edition, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_a_student_edition_installs_tests_and_completes_as_its_readme_says(tmp_path):
    reference = load_course(REPO)
    edition = tmp_path / "edition"
    build_student_edition(reference, edition)
    readme = (edition / "README.md").read_text(encoding="utf-8")
    assert "reference edition" not in readme.lower()
    install, *_, test = readme_commands(readme)
    assert install == 'pip install -e ".[dev]"' and test == "pytest"

    python = fresh_venv(tmp_path / "venv")
    installed = run(
        python, edition, "pip", "install", "--no-build-isolation", "-e", ".[dev]"
    )  # offline: borrowed build tools
    assert installed.returncode == 0, installed.stdout + installed.stderr
    packages = subprocess.run(
        [str(python), "-c", "import tinytorch, tito; print(tinytorch.__file__); print(tito.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert packages.stdout.split() == [str(edition / "tinytorch/__init__.py"), str(edition / "tito/__init__.py")]

    fresh = run(python, edition, "pytest")
    assert fresh.returncode == 1
    summary = fresh.stdout.strip().splitlines()[-1].strip("= ")
    assert "error" not in summary, "no collection errors"
    assert summary.startswith(f"{len(reference.modules) + len(reference.milestones)} failed in ")
    for module in reference.modules:
        assert f"FAILED {module.name} - not exported yet: write modules/{module.name}/{module.slug}.py" in fresh.stdout

    for module in reference.modules:
        shutil.copyfile(module.source, edition / "modules" / module.name / module.source.name)
        completed = run(python, edition, "tito", "module", "complete", module.id)
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]

    final = run(python, edition, "pytest")
    assert final.returncode == 0, final.stdout[-4000:]
    last = final.stdout.strip().splitlines()[-1].strip("= ")
    assert re.fullmatch(r"\d+ passed in .*", last), last

"""Build the student edition of a course: the reference edition with every solution taken out.

The reference edition (this repository) has every solution written between `### BEGIN SOLUTION` and
`### END SOLUTION`. The student edition is a copy of the course in which:

- each solution block becomes `raise NotImplementedError("TinyTorch 01: implement Tensor.__add__")`,
  indented like the block, so signatures, docstrings and the hints around the block stay;
- generated package files are left out (they hold the solutions); the name index
  `tinytorch/_catalog.py` is rebuilt from the stripped module files, so `import tinytorch` still
  works and each missing name says which module to complete;
- `course.yaml` says `edition: student` (one line edited, so its comments survive);
- tito's local state, version-control history, caches and tito's own tests are left out;
- the stripped module files are also kept under `.tito/starter/`, where `tito module reset` finds them.

Nothing is trusted to have worked: before the edition is moved into place, every file in it is
searched for every non-trivial line of every solution block, and any hit stops the release.

    errors.py     what a release refuses or fails at
    solutions.py  solution blocks and their stubs
    leaks.py      the search for solution lines in an edition
    selection.py  which files go into an edition, and the few rewritten on the way
    edition.py    building the edition in a temporary folder and moving it into place
"""

from tito.release.edition import Release, build_student_edition, check_out_folder
from tito.release.errors import ReleaseError, ReleaseUsageError
from tito.release.leaks import Leak, find_leaks, normalise, published_lines, secret_lines
from tito.release.selection import (
    INSTRUCTOR_ONLY,
    STARTER_DIR,
    STUDENT_README,
    course_files,
    is_generated,
    student_gitignore,
    student_manifest,
)
from tito.release.solutions import SolutionBlock, find_blocks, strip_solutions, stub_line, what_to_implement

__all__ = [
    "INSTRUCTOR_ONLY",
    "STARTER_DIR",
    "STUDENT_README",
    "Leak",
    "Release",
    "ReleaseError",
    "ReleaseUsageError",
    "SolutionBlock",
    "what_to_implement",
    "build_student_edition",
    "check_out_folder",
    "course_files",
    "find_blocks",
    "find_leaks",
    "is_generated",
    "normalise",
    "published_lines",
    "secret_lines",
    "strip_solutions",
    "stub_line",
    "student_gitignore",
    "student_manifest",
]

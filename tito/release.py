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
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from tito import exporter
from tito.course import MANIFEST_NAME, Course, CourseError, load_course
from tito.files import atomic_write

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")

STARTER_DIR = Path(".tito") / "starter"

# Never part of an edition: local state, version control, caches, build outputs, environments.
LEFT_OUT_NAMES = frozenset(
    {
        ".git", ".tito", "__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints",
        ".mypy_cache", ".ruff_cache", ".venv", "venv", "build", "dist",
    }
)
LEFT_OUT_SUFFIXES = (".pyc", ".pyo", ".egg-info")
# Tests of tito itself: they check the tool against the reference solutions, so they cannot pass in
# a student edition and some of them hold solution text on purpose (the leak check, grading fixtures).
INSTRUCTOR_ONLY = (  # the last: graded checks
    "tests/tito", "tests/integration", "tests/fixtures/grading", "benchmarks/yardstick", "tests/*/grading.py",
)

# The student edition's README: the student's guide, kept at the reference's root as this file.
STUDENT_README = "README.student.md"

# A solution line shorter than this (spaces removed) says nothing about the solution: `return out`.
MIN_SECRET_CHARS = 12


class ReleaseError(Exception):
    """The edition cannot be built or failed a check; the message says where and what to do."""


class ReleaseUsageError(ReleaseError):
    """The release was asked for something it must refuse: a non-empty or unsafe OUT, a student course."""


@dataclass(frozen=True)
class SolutionBlock:
    """One `### BEGIN SOLUTION ... ### END SOLUTION` block of a file (line numbers are 1-based)."""

    path: str  # relative to the course root, posix
    begin: int
    end: int
    indent: str
    lines: tuple[str, ...]  # the solution itself, between the markers


@dataclass(frozen=True)
class Leak:
    path: str  # file in the edition
    line: int
    secret: str  # the solution line found there
    source: str  # where that line is in the reference, path:line


@dataclass
class Release:
    """What a release wrote, for the summary the command prints."""

    out: Path
    files: int = 0
    stripped: dict[str, int] = field(default_factory=dict)  # path -> blocks replaced
    generated_left_out: list[str] = field(default_factory=list)
    instructor_only_left_out: list[str] = field(default_factory=list)
    notebooks_left_out: list[str] = field(default_factory=list)
    starters: list[str] = field(default_factory=list)
    secrets_checked: int = 0


# --- solution blocks -----------------------------------------------------------------------------


def find_blocks(text: str, path: str) -> list[SolutionBlock]:
    """Every solution block in `text`; unbalanced markers raise ReleaseError naming the line."""
    blocks: list[SolutionBlock] = []
    open_at, indent, body = 0, "", []
    for number, line in enumerate(text.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if open_at:
                raise ReleaseError(f"{path}:{number}: BEGIN SOLUTION inside the block opened at line {open_at}.")
            open_at, indent, body = number, begin["indent"], []
        elif END.match(line):
            if not open_at:
                raise ReleaseError(f"{path}:{number}: END SOLUTION without a BEGIN SOLUTION above it.")
            blocks.append(SolutionBlock(path, open_at, number, indent, tuple(body)))
            open_at = 0
        elif open_at:
            body.append(line)
    if open_at:
        raise ReleaseError(f"{path}:{open_at}: BEGIN SOLUTION is never closed by END SOLUTION.")
    return blocks


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _enclosing_scopes(tree: ast.AST, line: int) -> list[ast.AST]:
    """The classes and functions whose lines hold `line`, outermost first (their spans nest)."""
    scopes = [n for n in ast.walk(tree) if isinstance(n, SCOPES) and n.lineno <= line <= (n.end_lineno or n.lineno)]
    return sorted(scopes, key=lambda node: node.lineno)


def _what_to_implement(tree: ast.AST | None, block: SolutionBlock) -> str:
    """'implement Tensor.__add__', from the function the block sits in; ReleaseError if none."""
    if tree is None:
        return "write this part of the solution"
    chain = _enclosing_scopes(tree, block.begin)
    if not chain or isinstance(chain[-1], ast.ClassDef):
        where = f"class {chain[-1].name}'s body" if chain else "module level"
        raise ReleaseError(
            f"{block.path}:{block.begin}: this solution block sits at {where}, where the "
            "NotImplementedError that replaces it would run on import; put the markers inside a function."
        )
    return "implement " + ".".join(node.name for node in chain)


def stub_line(block: SolutionBlock, module_id: str | None, what: str) -> str:
    label = f"TinyTorch {module_id}" if module_id else "TinyTorch"
    message = f"{label}: {what}".replace("\\", "\\\\").replace('"', '\\"')
    return f'{block.indent}raise NotImplementedError("{message}")'


def strip_solutions(text: str, path: str, module_id: str | None = None) -> tuple[str, int]:
    """`text` with each solution block replaced by its NotImplementedError; returns (text, blocks)."""
    blocks = find_blocks(text, path)
    if not blocks:
        return text, 0
    tree = None
    if path.endswith(".py"):
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as exc:
            raise ReleaseError(f"{path}:{exc.lineno}: syntax error ({exc.msg}); fix it before releasing.") from None
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    previous_end = 0
    for block in blocks:
        out.extend(lines[previous_end : block.begin - 1])
        newline = "\n" if lines[block.begin - 1].endswith("\n") else ""
        out.append(stub_line(block, module_id, _what_to_implement(tree, block)) + newline)
        previous_end = block.end
    out.extend(lines[previous_end:])
    stripped = "".join(out)
    if tree is not None:
        try:
            compile(stripped, path, "exec")
        except SyntaxError as exc:
            raise ReleaseError(
                f"{path}:{exc.lineno}: without its solutions the file does not compile ({exc.msg}); "
                "put the solution markers around whole statements."
            ) from None
    return stripped, len(blocks)


# --- the leak check ------------------------------------------------------------------------------


def normalise(line: str) -> str:
    """A line with its indentation dropped and runs of spaces collapsed, for comparison."""
    return " ".join(line.split())


def secret_lines(blocks: list[SolutionBlock], published: set[str]) -> dict[str, str]:
    """The solution lines the edition must not contain: normalised line -> where it came from.

    Short lines (`return out`) and lines the reference also shows outside any solution block (such
    as `other = as_tensor(other, like=self)`, used in both) reveal nothing and are not searched for.
    """
    secrets: dict[str, str] = {}
    for block in blocks:
        for offset, line in enumerate(block.lines, start=1):
            text = normalise(line)
            if len(text.replace(" ", "")) >= MIN_SECRET_CHARS and text not in published:
                secrets.setdefault(text, f"{block.path}:{block.begin + offset}")
    return secrets


def published_lines(stripped_texts: list[str]) -> set[str]:
    """Every normalised line of the stripped files: what the student edition shows on purpose."""
    return {normalise(line) for text in stripped_texts for line in text.splitlines()}


def plain_text(path: Path) -> str | None:
    """A file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def searchable_text(path: Path) -> str | None:
    """A file's text for the leak search, or None for binary files; notebooks add their cells' code."""
    text = plain_text(path)
    if text is not None and path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
            text += "\n" + "\n".join("".join(cell.get("source", "")) for cell in cells)
        except (ValueError, AttributeError):
            pass
    return text


def find_leaks(root: Path, secrets: dict[str, str], skip: tuple[str, ...] = ()) -> list[Leak]:
    """Every place under `root` where one of the secret lines appears, even inside a longer line.

    Folders named in `skip` (relative, posix) are not searched.
    """
    leaks: list[Leak] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if any(path.relative_to(root).as_posix().startswith(folder + "/") for folder in skip):
            continue
        text = searchable_text(path)
        if text is None:
            continue
        lines = [normalise(line) for line in text.splitlines()]
        flat = "\n".join(lines)
        for secret, source in secrets.items():
            if secret in flat:
                number = next((i for i, line in enumerate(lines, start=1) if secret in line), 0)
                leaks.append(Leak(path.relative_to(root).as_posix(), number, secret, source))
    return leaks


# --- choosing and rewriting files ----------------------------------------------------------------


def course_files(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """The course's files (relative posix paths) that belong in an edition or a grading copy.

    In a git work tree this is what git tracks plus untracked files it does not ignore, so datasets
    downloaded into ignored folders stay behind; elsewhere it is every file. Either way local state,
    history, caches and anything under `skip` (such as the output folder) are left out.
    """
    names = _git_files(root)
    if names is None:
        names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()]
    skip_resolved = [s.resolve() for s in skip]
    chosen = []
    for name in sorted(set(names)):
        parts = name.split("/")
        if any(part in LEFT_OUT_NAMES or part.endswith(LEFT_OUT_SUFFIXES) for part in parts):
            continue
        path = root / name
        if path.is_symlink() or not path.is_file():
            continue
        if any(_inside(path.resolve(), s) for s in skip_resolved):
            continue
        chosen.append(name)
    return chosen


def _git_files(root: Path) -> list[str] | None:
    if shutil.which("git") is None:
        return None
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True, text=True, timeout=30,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, timeout=60, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def is_generated(path: Path) -> bool:
    """True for files `tito export` wrote: their first line carries the generated mark."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return exporter.GENERATED_MARK in handle.readline()
    except OSError:
        return False


def student_manifest(text: str) -> str:
    """course.yaml with its `edition:` line saying student; every other line (and comment) kept."""
    new, count = re.subn(
        r"""^(edition:[ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s#]+)""", r"\1student", text, count=1, flags=re.M
    )
    if count != 1:
        raise ReleaseError(f"{MANIFEST_NAME}: no top-level 'edition:' line to set to student.")
    return new


STATE_RULES = ("/.tito/*", "!/.tito/starter/")
_STATE_LINES = {".tito", ".tito/", "/.tito", "/.tito/", ".tito/*", "/.tito/*", "!.tito/starter/", "!/.tito/starter/"}


def student_gitignore(text: str | None) -> str:
    """.gitignore that ignores tito's state but keeps the starter copies `tito module reset` needs.

    A plain `.tito/` line would hide `.tito/starter/` from git with no way to bring it back, so the
    first line about `.tito` becomes `/.tito/*` followed by `!/.tito/starter/`.
    """
    kept: list[str] = []
    placed = False
    for line in (text or "").splitlines():
        if line.strip() in _STATE_LINES:
            if not placed:
                kept.extend(STATE_RULES)
                placed = True
            continue
        kept.append(line)
    if not placed:
        kept.extend(STATE_RULES)
    return "\n".join(kept) + "\n"


def _is_module_notebook(course: Course, name: str) -> bool:
    """A module's paired notebook (modules/01_tensor/tensor.ipynb): students make their own."""
    return any(name == f"modules/{m.name}/{m.slug}.ipynb" for m in course.modules)


def _module_id(course: Course, name: str) -> str | None:
    for module in course.modules:
        if name.startswith(f"modules/{module.name}/"):
            return module.id
    return None


# --- the release ---------------------------------------------------------------------------------


def check_out_folder(course: Course, out: Path, force: bool) -> Path:
    """The resolved output folder, or ReleaseError when writing there would lose something."""
    out = Path(out).expanduser().resolve()
    root = course.root.resolve()
    if _inside(root, out):
        raise ReleaseUsageError(f"{out} holds the course itself; choose a folder outside {root}.")
    if _inside(out, root):
        raise ReleaseUsageError(
            f"{out} is inside the course, so the edition would become part of the course it is made from; "
            f"choose a folder outside it: `tito release student {root.parent / (root.name + '-student')}`."
        )
    if out.exists() and not out.is_dir():
        raise ReleaseUsageError(f"{out} is a file, not a folder; choose an empty or new folder.")
    held = [entry.name for entry in out.iterdir()] if out.exists() else []
    if held and not force:
        raise ReleaseUsageError(
            f"{out} is not empty; choose a new folder or pass --force to replace what is in it."
        )
    if held and MANIFEST_NAME not in held and held != [".git"]:
        raise ReleaseUsageError(
            f"{out} holds files but no {MANIFEST_NAME}, so it is not an earlier edition and --force will not "
            "delete them; choose an empty or new folder."
        )
    return out


def build_student_edition(course: Course, out: Path, *, force: bool = False, check_leaks: bool = True) -> Release:
    """Write the student edition of `course` to `out`; see the module docstring for what that means.

    The edition is built in a temporary folder beside `out` and moved there only after every check
    passed, so a failed release leaves `out` as it was. With `force`, what `out` held is replaced,
    except its own `.git` (so a student repository can be refreshed in place). `check_leaks=False`
    skips the search for solution lines outside the blocks (the grader's private copies use it: a
    hint that quotes a solution line is the instructor's to fix, not a reason to stop grading).
    """
    if course.edition != "reference":
        raise ReleaseUsageError(
            f"{course.manifest} says edition: {course.edition}; release from the reference edition."
        )
    out = check_out_folder(course, out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        release = _build(course, build, out, check_leaks)
        release.out = out
        _move_into_place(build, out)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return release


def _build(course: Course, build: Path, out: Path, check_leaks: bool = True) -> Release:
    root = course.root
    release = Release(out=build)
    blocks: list[SolutionBlock] = []
    stripped_texts: list[str] = []
    catalog = course.package_root / exporter.CATALOG_NAME
    for name in course_files(root, skip=(build, out)):
        source = root / name
        if name == STUDENT_README or (name == "README.md" and (root / STUDENT_README).is_file()):
            continue  # the edition's README is the student's guide, written below
        if any(fnmatchcase(name, prefix) or name.startswith(prefix + "/") for prefix in INSTRUCTOR_ONLY):
            release.instructor_only_left_out.append(name)
            continue
        if source.resolve() != catalog.resolve() and is_generated(source):
            release.generated_left_out.append(name)
            continue
        if _is_module_notebook(course, name):
            release.notebooks_left_out.append(name)
            continue
        target = build / name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = plain_text(source)
        if text is None and name.endswith(".py"):  # unreadable as text, so it could not be searched or stripped
            try:
                exporter.read_source(source, name)
            except exporter.ExportError as exc:
                raise ReleaseError(str(exc)) from None
            raise ReleaseError(f"{name} holds a NUL byte, so it is not a Python text file; remove it or fix it.")
        found = find_blocks(text, name) if text is not None else []
        if found:
            new, count = strip_solutions(text, name, _module_id(course, name))
            blocks.extend(found)
            stripped_texts.append(new)
            release.stripped[name] = count
            target.write_text(new, encoding="utf-8", newline="")
        elif name == MANIFEST_NAME:
            target.write_text(student_manifest(text or ""), encoding="utf-8", newline="")
        else:
            shutil.copy2(source, target)
        release.files += 1

    if (root / STUDENT_README).is_file():  # the reference README is the instructor's; students get their guide
        shutil.copy2(root / STUDENT_README, build / "README.md")
        release.files += 1

    gitignore = build / ".gitignore"
    existing = gitignore.read_text(encoding="utf-8") if gitignore.exists() else None
    gitignore.write_text(student_gitignore(existing), encoding="utf-8")

    student = _load(build)
    _rebuild_catalog(course, student)
    for module in student.modules:
        if module.source.is_file():
            starter = build / STARTER_DIR / module.name / module.source.name
            starter.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(module.source, starter)
            release.starters.append(starter.relative_to(build).as_posix())

    if not check_leaks:
        return release
    secrets = secret_lines(blocks, published_lines(stripped_texts))
    release.secrets_checked = len(secrets)
    leaks = find_leaks(build, secrets, skip=(STARTER_DIR.as_posix(),))  # starters copy the module files
    if leaks:
        shown = "; ".join(
            f"{leak.path}:{_reference_line(root / leak.path, leak) or leak.line} repeats {leak.source}"
            for leak in leaks[:5]
        )
        more = f" (and {len(leaks) - 5} more)" if len(leaks) > 5 else ""
        raise ReleaseError(
            f"solution text would reach the student edition: {shown}{more}. Reword or remove it there "
            "(a hint must not quote a solution line, nor a test or doc repeat one) and release again."
        )
    return release


def _reference_line(path: Path, leak: Leak) -> int | None:
    """Where the leaked text sits in the reference file, outside its solution blocks (for the fix)."""
    text = plain_text(path) if path.is_file() else None
    if text is None:
        return None
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if BEGIN.match(line) or END.match(line):
            inside = bool(BEGIN.match(line))
        elif not inside and leak.secret in normalise(line):
            return number
    return None


def _load(build: Path) -> Course:
    try:
        return load_course(build)
    except CourseError as exc:
        raise ReleaseError(f"the student edition's manifest does not load: {exc}") from None


def _rebuild_catalog(reference: Course, student: Course) -> None:
    """Write the student catalog from the stripped files; it must name exactly what the reference does."""
    try:
        wanted = exporter.plan_catalog(reference)
        plan = exporter.plan_catalog(student)
    except exporter.ExportError as exc:
        raise ReleaseError(f"cannot build the package name index: {exc}") from None
    if plan.names != wanted.names:
        lost = sorted(set(wanted.names) - set(plan.names))
        raise ReleaseError(
            f"without their solutions the module files no longer define {', '.join(lost) or 'the same names'}; "
            "keep every def and class outside the solution markers."
        )
    atomic_write(plan.target, plan.text)


def _move_into_place(build: Path, out: Path) -> None:
    if out.exists():
        for entry in out.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for entry in build.iterdir():
        os.replace(entry, out / entry.name)

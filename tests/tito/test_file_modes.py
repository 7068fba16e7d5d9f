"""Files tito writes get the mode anyone's editor would give them: a rewritten file keeps its mode,
a new one gets the umask's (0644 under 022). Before, every one came out 0600, as mkstemp makes them.
A file someone made read-only, or a path that is not a regular file, is refused, never replaced."""

from __future__ import annotations

import os
import stat

import pytest

from tito import files


@pytest.fixture
def umask():
    """Run with a chosen umask (022 unless the test sets another) and put the old one back after."""
    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["022", "077", "002"])
def test_a_new_file_gets_the_umasks_mode(tmp_path, umask, mask, expected):
    umask(mask)
    files.atomic_write(tmp_path / "new.txt", "text\n")
    files.atomic_copy(tmp_path / "new.txt", tmp_path / "copy.txt")
    assert mode(tmp_path / "new.txt") == expected
    assert mode(tmp_path / "copy.txt") == expected


@pytest.mark.parametrize("kept", [0o640, 0o600, 0o755, 0o664], ids=oct)
def test_a_rewritten_file_keeps_its_mode(tmp_path, umask, kept):
    path = tmp_path / "file.txt"
    path.write_text("old\n")
    path.chmod(kept)
    files.atomic_write(path, "new\n")
    assert path.read_text() == "new\n" and mode(path) == kept
    files.atomic_copy(tmp_path / "file.txt", tmp_path / "file.txt")
    assert mode(path) == kept


def test_a_read_only_file_is_refused_and_left_byte_for_byte(tmp_path, umask):
    path = tmp_path / "frozen.txt"
    path.write_bytes(b"keep me\n")
    path.chmod(0o444)
    with pytest.raises(OSError, match="is read-only") as error:
        files.atomic_write(path, "replaced\n")
    assert error.value.filename == str(path)
    assert path.read_bytes() == b"keep me\n" and mode(path) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["frozen.txt"]  # no temporary file left behind


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_refused_not_replaced(tmp_path, kind):
    path = tmp_path / "thing"
    if kind == "folder":
        path.mkdir()
    else:
        if not hasattr(os, "mkfifo"):
            pytest.skip("FIFOs are a POSIX feature")
        os.mkfifo(path)
    with pytest.raises(OSError, match="not a regular file"):
        files.atomic_write(path, "text\n")
    with pytest.raises(OSError, match="not a regular file"):
        files.read_text(path)  # returns at once: a FIFO is not opened
    assert path.is_dir() if kind == "folder" else stat.S_ISFIFO(path.lstat().st_mode)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path, umask):
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    files.atomic_write(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n" and mode(target) == 0o640


def test_read_text_names_the_line_and_column_of_a_byte_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("ok\n# café\n".encode("latin-1"))
    with pytest.raises(OSError, match=r"is not UTF-8 text \(byte 0xe9 at line 2, column 6\)"):
        files.read_text(path)


# --- through the commands ------------------------------------------------------------------------


def test_the_progress_file_and_its_backup_get_the_umasks_mode(fixture_course, tito, umask):
    assert tito("module", "start", "01").exit_code == 0
    assert tito("module", "start", "02").exit_code == 0
    state = fixture_course.root / ".tito"
    assert mode(state / "progress.yaml") == 0o644
    assert mode(state / "progress.yaml.bak") == 0o644


def test_a_read_only_progress_file_is_not_replaced_by_a_command(fixture_course, tito, umask):
    assert tito("module", "start", "01").exit_code == 0
    path = fixture_course.root / ".tito" / "progress.yaml"
    path.chmod(0o444)
    before = path.read_bytes()
    result = tito("module", "start", "02")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: .tito/progress.yaml is read-only, so tito will not replace it; tito has not changed anything. "
        "Make it writable with `chmod u+w .tito/progress.yaml`, then run `tito module status`."
    )
    assert path.read_bytes() == before and mode(path) == 0o444


def test_package_files_get_the_umasks_mode(fixture_course, tito, umask):
    assert tito("export", "--all").exit_code == 0
    written = ("_catalog.py", "alpha.py", "beta.py")
    package = fixture_course.root / "tinytorch"
    assert {name: mode(package / name) for name in written} == {name: 0o644 for name in written}


def test_reset_keeps_the_module_files_mode_and_its_backup_gets_the_umasks(fixture_course, tito, umask):
    fixture_course.git_commit()
    source = fixture_course.module_file("01")
    source.chmod(0o664)
    source.write_text(source.read_text() + "# my work\n")
    result = tito("module", "reset", "01", "--yes")
    assert result.exit_code == 0, result.output
    assert "# my work" not in source.read_text() and mode(source) == 0o664
    (backup,) = (fixture_course.root / ".tito" / "backups" / "01_alpha").iterdir()
    assert "# my work" in backup.read_text() and mode(backup) == 0o644


def test_reset_of_a_read_only_module_file_is_refused_in_one_line(fixture_course, tito, umask):
    fixture_course.git_commit()
    source = fixture_course.module_file("01")
    source.write_text(source.read_text() + "# my work\n")
    source.chmod(0o444)
    before = source.read_bytes()
    result = tito("module", "reset", "01", "--yes")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip() == (
        "Error: modules/01_alpha/alpha.py is read-only, so it was not reset: make it writable with "
        "`chmod u+w modules/01_alpha/alpha.py`, then run `tito module reset 01`."
    )
    assert source.read_bytes() == before and mode(source) == 0o444
    assert not (fixture_course.root / ".tito" / "backups").exists()


def test_a_new_notebook_gets_the_umasks_mode(fixture_course, tito, umask):
    result = tito("module", "start", "01", "--notebook")
    assert result.exit_code == 0, result.output
    assert mode(fixture_course.root / "modules" / "01_alpha" / "alpha.ipynb") == 0o644

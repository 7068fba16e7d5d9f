"""safe_extract(): no tar member may land outside the target folder."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import tar_gz  # noqa: E402

from tito.datasets.archive import safe_extract  # noqa: E402
from tito.datasets.errors import UnsafeArchiveError  # noqa: E402


def archive(tmp_path: Path, files: dict[str, bytes], links=None) -> Path:
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(tar_gz(files, links))
    return path


def test_plain_members_are_extracted(tmp_path):
    written = safe_extract(archive(tmp_path, {"top/a.bin": b"aa", "top/sub/b.bin": b"b"}), tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["top/a.bin", "top/sub/b.bin"]
    assert (tmp_path / "out" / "top" / "sub" / "b.bin").read_bytes() == b"b"


def test_a_link_inside_the_target_is_allowed(tmp_path):
    path = archive(tmp_path, {"top/a.bin": b"aa"}, {"top/alias": ("a.bin", tarfile.SYMTYPE)})
    safe_extract(path, tmp_path / "out")
    assert (tmp_path / "out" / "top" / "alias").read_bytes() == b"aa"


@pytest.mark.parametrize(
    "files, links, why",
    [
        ({"ok.bin": b"1", "../escaped.bin": b"2"}, None, "climbs out"),
        ({"ok.bin": b"1", "top/../../escaped.bin": b"2"}, None, "climbs out"),
        ({"ok.bin": b"1", "/tmp/escaped.bin": b"2"}, None, "absolute"),
        ({"ok.bin": b"1"}, {"link": ("../../escaped.bin", tarfile.SYMTYPE)}, "outside the target"),
        ({"ok.bin": b"1"}, {"link": ("/etc/passwd", tarfile.SYMTYPE)}, "absolute path"),
        ({"ok.bin": b"1"}, {"hard": ("../escaped.bin", tarfile.LNKTYPE)}, "outside the target"),
        ({"ok.bin": b"1"}, {"fifo": ("", tarfile.FIFOTYPE)}, "special file"),
    ],
)
def test_an_escaping_member_rejects_the_whole_archive(tmp_path, files, links, why):
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=why):
        safe_extract(archive(tmp_path, files, links), target)
    assert list(target.iterdir()) == []  # not even the harmless member was written
    assert not list(tmp_path.rglob("escaped.bin"))


def test_a_file_that_is_not_a_tar_is_reported(tmp_path):
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(b"this is not an archive")
    with pytest.raises(UnsafeArchiveError, match="not a readable tar archive"):
        safe_extract(path, tmp_path / "out")


def test_an_uncompressed_tar_works_too(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("x.bin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"xyz"))
    path = tmp_path / "plain.tar"
    path.write_bytes(buffer.getvalue())
    safe_extract(path, tmp_path / "out")
    assert (tmp_path / "out" / "x.bin").read_bytes() == b"xyz"

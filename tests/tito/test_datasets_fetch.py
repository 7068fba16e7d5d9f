"""fetch(): one file over HTTP from a local server, retried, resumed, and verified before it is kept."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from urllib.error import URLError

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import FileServer, closed_port_url, md5  # noqa: E402

from tito.datasets import fetch as fetch_module  # noqa: E402
from tito.datasets.errors import ChecksumError, DownloadError  # noqa: E402
from tito.datasets.fetch import fetch  # noqa: E402
from tito.datasets.registry import Resource  # noqa: E402

BODY = bytes(range(256)) * 64  # 16 KiB, small enough to halve four times


@pytest.fixture
def server():
    with FileServer() as srv:
        srv.files["/data.bin"] = BODY
        yield srv


def resource(*urls: str, digest: str = md5(BODY)) -> Resource:
    return Resource("data.bin", urls, digest, len(BODY))


def get(res: Resource, dest: Path, **options) -> Path:
    options.setdefault("retries", 3)
    return fetch(res, dest, backoff=0, timeout=5, **options)


def test_fetch_writes_the_verified_file_and_reports_progress(server, tmp_path):
    seen = []
    dest = get(
        resource(server.url + "/data.bin"), tmp_path / "data.bin", on_bytes=lambda n, total: seen.append((n, total))
    )
    assert dest.read_bytes() == BODY
    assert seen[-1] == (len(BODY), len(BODY))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]  # no .part left behind


def test_a_corrupt_file_is_named_and_nothing_is_kept(server, tmp_path):
    server.modes["/data.bin"] = "corrupt"
    with pytest.raises(ChecksumError) as error:
        get(resource(server.url + "/data.bin"), tmp_path / "data.bin")
    message = str(error.value)
    assert "data.bin" in message and md5(BODY) in message and "nothing was kept" in message
    assert list(tmp_path.iterdir()) == []


def test_a_cut_transfer_resumes_with_a_range_request(server, tmp_path):
    server.modes["/data.bin"] = "truncate_once"
    dest = get(resource(server.url + "/data.bin"), tmp_path / "data.bin")
    assert dest.read_bytes() == BODY
    assert server.requests("/data.bin") == [None, f"bytes={len(BODY) // 2}-"]


def test_a_server_that_ignores_range_sends_the_whole_file_again(server, tmp_path):
    server.modes["/data.bin"] = "no_range"
    part = tmp_path / "data.bin.part"
    part.write_bytes(BODY[:1000])  # left by an earlier, interrupted run
    dest = get(resource(server.url + "/data.bin"), tmp_path / "data.bin")
    assert dest.read_bytes() == BODY  # the 200 answer replaced the partial bytes instead of being appended
    assert server.requests("/data.bin") == ["bytes=1000-"]


def test_a_server_that_always_cuts_short_fails_then_a_later_run_resumes(server, tmp_path):
    server.modes["/data.bin"] = "truncate"
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError) as error:
        get(resource(server.url + "/data.bin"), dest, retries=2)
    assert "closed after" in str(error.value) and "3 attempts" in str(error.value)
    assert not dest.exists()
    part = tmp_path / "data.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(BODY)

    server.modes.clear()  # the network is better now: the next run asks only for the rest
    assert get(resource(server.url + "/data.bin"), dest).read_bytes() == BODY
    assert server.requests("/data.bin")[-1] == f"bytes={kept}-"


def test_stale_partial_bytes_are_thrown_away_and_fetched_from_the_start(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"x" * 100)  # not a prefix of the real file
    dest = get(resource(server.url + "/data.bin"), tmp_path / "data.bin")
    assert dest.read_bytes() == BODY
    assert server.requests("/data.bin") == ["bytes=100-", None]


def test_a_busy_server_is_retried(server, tmp_path):
    server.modes["/data.bin"] = "fail_once"
    assert get(resource(server.url + "/data.bin"), tmp_path / "data.bin").read_bytes() == BODY
    assert len(server.requests("/data.bin")) == 2


def test_a_missing_file_goes_to_the_next_url_without_retrying(server, tmp_path):
    res = resource(server.url + "/gone.bin", server.url + "/data.bin")
    assert get(res, tmp_path / "data.bin").read_bytes() == BODY
    assert len(server.requests("/gone.bin")) == 1


def test_refused_connections_give_one_error_naming_the_file_and_url(tmp_path):
    url = closed_port_url() + "/data.bin"
    with pytest.raises(DownloadError) as error:
        get(resource(url), tmp_path / "data.bin", retries=1)
    assert "data.bin" in str(error.value) and url in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unresolvable_host_is_not_retried(monkeypatch, tmp_path):
    calls = []

    def offline(request, timeout):
        calls.append(request.full_url)
        raise URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(fetch_module, "urlopen", offline)
    with pytest.raises(DownloadError, match="are you offline"):
        get(resource("http://example.invalid/data.bin"), tmp_path / "data.bin")
    assert len(calls) == 1

"""Downloads against a real loopback HTTP server with injected faults: the final state is right, nothing good
is lost, and no half file ever sits under the final name."""
import hashlib
import os

import pytest

from afa.data.download import DownloadError, download
from http_faults import FaultyServer

CONTENT = os.urandom(300000)
SHA256 = 'sha256:' + hashlib.sha256(CONTENT).hexdigest()


def fetch(server, tmp_path, **kwargs):
    kwargs.setdefault('checksum', SHA256)
    return download(server.url + '/f.bin', str(tmp_path / 'f.bin'), backoff=0.01, progress=False,
                    log=lambda m: None, **kwargs)


@pytest.fixture
def server():
    with FaultyServer({'/f.bin': CONTENT}, stall=2.0) as s:
        yield s


def test_connection_cut_mid_file_is_resumed_with_range(server, tmp_path):
    server.faults['/f.bin'] = ['cut']
    path = fetch(server, tmp_path)
    assert open(path, 'rb').read() == CONTENT
    assert server.requests[0][1] is None
    assert server.requests[1][1] == 'bytes=%d-' % (len(CONTENT) // 2)
    assert not os.path.exists(path + '.part')


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    (tmp_path / 'f.bin.part').write_bytes(CONTENT[:1000])
    fetch(server, tmp_path)
    assert server.requests == [('/f.bin', 'bytes=1000-')]
    assert (tmp_path / 'f.bin').read_bytes() == CONTENT


def test_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    server.faults['/f.bin'] = ['cut', 'ignore_range']
    fetch(server, tmp_path)
    assert (tmp_path / 'f.bin').read_bytes() == CONTENT
    assert len(server.requests) == 2


def test_wrong_checksum_refetches_once(server, tmp_path):
    server.faults['/f.bin'] = ['corrupt']
    fetch(server, tmp_path)
    assert (tmp_path / 'f.bin').read_bytes() == CONTENT and len(server.requests) == 2


def test_wrong_checksum_twice_fails_and_leaves_nothing_under_the_final_name(server, tmp_path):
    (tmp_path / 'other.bin').write_bytes(b'good')
    server.faults['/f.bin'] = ['corrupt', 'corrupt']
    with pytest.raises(DownloadError, match='f.bin: checksum mismatch twice'):
        fetch(server, tmp_path)
    assert not (tmp_path / 'f.bin').exists()
    assert (tmp_path / 'other.bin').read_bytes() == b'good'


def test_404_is_a_clear_error_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match='HTTP 404.*/missing.bin'):
        download(server.url + '/missing.bin', str(tmp_path / 'm.bin'), backoff=0.01, progress=False,
                 log=lambda m: None)
    assert len(server.requests) == 1 and not (tmp_path / 'm.bin').exists()


def test_500_then_success_is_retried(server, tmp_path):
    server.faults['/f.bin'] = [500, 503]
    fetch(server, tmp_path)
    assert len(server.requests) == 3 and (tmp_path / 'f.bin').read_bytes() == CONTENT


def test_too_many_failures_give_up_with_a_resume_hint(server, tmp_path):
    server.faults['/f.bin'] = [500] * 10
    with pytest.raises(DownloadError, match='giving up after 3 attempts.*rerun to resume'):
        fetch(server, tmp_path, retries=2)


def test_slow_server_hits_the_timeout_and_is_retried(server, tmp_path):
    server.faults['/f.bin'] = ['slow']
    fetch(server, tmp_path, timeout=0.5)
    assert (tmp_path / 'f.bin').read_bytes() == CONTENT and len(server.requests) == 2


def test_rerun_after_success_does_nothing(server, tmp_path):
    fetch(server, tmp_path)
    fetch(server, tmp_path)
    assert len(server.requests) == 1


def test_existing_file_with_a_wrong_checksum_is_left_alone(server, tmp_path):
    (tmp_path / 'f.bin').write_bytes(b'user data')
    with pytest.raises(DownloadError, match='left untouched'):
        fetch(server, tmp_path)
    assert (tmp_path / 'f.bin').read_bytes() == b'user data' and server.requests == []


def test_checksum_prefix_as_in_torch_hub_names(server, tmp_path):
    fetch(server, tmp_path, checksum=SHA256[:15])
    assert (tmp_path / 'f.bin').exists()

"""Fault class: a wait that never ends (issue 21, item 4). Every network read ends even when the server trickles
bytes (each read inside any socket timeout, the file never done): the COCO/pretrained downloader and the Drive
download (gdown, in a watched child process). A lock held by another process is refused at once, naming its
holder, never waited on."""
import hashlib
import os
import subprocess
import sys
import threading
import time

import pytest

from afa.data.download import DownloadError, _Pace, download
from afa.runs.runlock import RunLock
from afa.utils.errors import AfaError
from http_faults import FaultyServer

CONTENT = os.urandom(200000)


def in_thread(call, limit):
    """Run ``call`` in a thread; (finished in time, its exception or None)."""
    outcome = {}

    def target():
        try:
            call()
        except BaseException as e:  # noqa: B036 (reported to the test)
            outcome['error'] = e
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    return not thread.is_alive(), outcome.get('error')


def test_a_trickling_server_ends_the_download_attempt(tmp_path):
    with FaultyServer({'/f.bin': CONTENT}, trickle_gap=0.02) as server:
        server.faults['/f.bin'] = ['trickle', 'trickle']
        dest = str(tmp_path / 'f.bin')
        finished, error = in_thread(lambda: download(
            server.url + '/f.bin', dest, checksum='sha256:' + hashlib.sha256(CONTENT).hexdigest(), timeout=1.0,
            retries=1, backoff=0.01, progress=False, log=lambda m: None), limit=60)
    assert finished, 'the download still waits on a trickling server'
    assert isinstance(error, DownloadError) and 'trickles' in str(error) and 'giving up after 2 attempts' in str(error)
    assert not os.path.exists(dest)


@pytest.mark.parametrize('fault', ['trickle', 'trickle_headers'])
def test_a_trickle_then_a_good_answer_completes(tmp_path, fault):
    with FaultyServer({'/f.bin': CONTENT}, trickle_gap=0.02) as server:
        server.faults['/f.bin'] = [fault]
        dest = str(tmp_path / 'f.bin')
        download(server.url + '/f.bin', dest, checksum='sha256:' + hashlib.sha256(CONTENT).hexdigest(),
                 timeout=1.0, retries=2, backoff=0.01, progress=False, log=lambda m: None)
    assert open(dest, 'rb').read() == CONTENT


def test_pace_counts_average_speed_per_window():
    now = [0.0]
    pace = _Pace(window=10, min_rate=100, clock=lambda: now[0])
    for _ in range(9):
        now[0] += 1
        pace.add(500)  # 500 B/s: fine
    now[0] += 1
    pace.add(500)
    for _ in range(10):
        now[0] += 1.0
        if now[0] < 20:
            pace.add(10)
    now[0] = 20.0
    with pytest.raises(Exception, match='trickles'):
        pace.add(10)


@pytest.fixture
def drive(tmp_path):
    pytest.importorskip('gdown')
    from drive_loopback import LoopbackDrive
    from afa.runs import zoo as zoo_mod
    url = zoo_mod.load().row('cmrcn_r50_mssa_adp_1x')['release']
    server = LoopbackDrive(url.rsplit('/', 1)[1], 'cmrcn_r50_mssa_adp', {
        'cmrcn_r50_mssa_adp.py': b'model = dict()\n', 'final.pth': os.urandom(400000)}, str(tmp_path))
    yield url, server
    server.close()


def test_a_trickling_drive_download_is_stopped_and_says_why(drive, tmp_path, monkeypatch):
    from afa.release.download import download_folder
    url, server = drive
    server.faults['final.pth'] = ['trickle']
    for name, value in server.env(str(tmp_path / 'home')).items():
        monkeypatch.setenv(name, value)
    folder = str(tmp_path / 'rel' / 'cmrcn_r50_mssa_adp_1x')
    started = time.monotonic()
    with pytest.raises(AfaError) as raised:
        download_folder(url, folder, 'cmrcn_r50_mssa_adp_1x', str(tmp_path / 'rel'), quiet=True,
                        stall_seconds=4, stall_bytes=64 * 1024)
    assert time.monotonic() - started < 120
    message = str(raised.value)
    assert 'stopped: the folder grew by' in message and 'trickles' in message and '--from' in message
    assert len(message.splitlines()) == 1


def test_a_held_run_folder_is_refused_at_once_naming_the_holder(tmp_path):
    folder = str(tmp_path / 'run')
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; from afa.runs.runlock import RunLock; '
                               'RunLock(sys.argv[1], "train").acquire(); print("held", flush=True); time.sleep(60)',
                               folder], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        started = time.monotonic()
        with pytest.raises(AfaError, match='in use by another afa process: pid %d' % holder.pid):
            RunLock(folder, 'test').acquire()
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


def test_headers_trickling_in_end_the_download_attempt(tmp_path):
    """A server sending its status line and headers a byte at a time (each read inside the socket timeout) is a
    failed attempt after --timeout seconds in all, retried, then given up, saying why."""
    with FaultyServer({'/f.bin': CONTENT}, trickle_gap=0.05) as server:
        server.faults['/f.bin'] = ['trickle_headers', 'trickle_headers']
        dest = str(tmp_path / 'f.bin')
        finished, error = in_thread(lambda: download(
            server.url + '/f.bin', dest, timeout=1.0, retries=1, backoff=0.01, progress=False, log=lambda m: None),
            limit=60)
    assert finished, 'the download still waits on headers trickling in'
    assert isinstance(error, DownloadError) and 'no complete response headers within 1 s' in str(error)
    assert 'giving up after 2 attempts' in str(error) and not os.path.exists(dest)


class _NoWait(object):
    """time for afa.data.download with its back-off sleeps skipped (the clock itself unchanged)."""
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    @staticmethod
    def sleep(seconds):
        pass


class _AlwaysTrickling(dict):
    def get(self, key, default=None):
        return ['trickle_headers']


@pytest.mark.parametrize('command', [
    lambda url, tmp: ['data', 'coco', '--root', str(tmp / 'coco'), '--parts', 'annotations', '--mirror', url,
                      '--timeout', '1', '--quiet'],
    lambda url, tmp: ['reference', 'fetch', 'cmrcn_r50_sumup_1x', '--url', url + '/ref.log.json', '--dir',
                      str(tmp / 'refs'), '--timeout', '1'],
    lambda url, tmp: ['data', 'pretrained', '--dir', str(tmp / 'pre'), '--names', 'resnet50-0676ba61.pth',
                      '--mirror', url, '--timeout', '1', '--quiet'],
], ids=['data coco --mirror', 'reference fetch --url', 'data pretrained --mirror'])
def test_every_download_command_ends_on_headers_trickling_in(tmp_path, monkeypatch, capsys, command):
    """The commands as a user runs them, against a server that trickles the headers of every answer: each ends
    with one line after its retries (their back-off skipped here) instead of hanging with no output."""
    import afa.data.download
    from afa.cli import main
    monkeypatch.setattr(afa.data.download, 'time', _NoWait)
    files = {p: b'x' * 100 for p in ('/annotations/annotations_trainval2017.zip', '/ref.log.json',
                                     '/resnet50-0676ba61.pth')}
    with FaultyServer(files, trickle_gap=0.2) as server:
        server.faults = _AlwaysTrickling()
        finished, code = in_thread_value(lambda: main(command(server.url, tmp_path)), limit=120)
    assert finished, 'the command still waits on headers trickling in'
    err = capsys.readouterr().err
    assert code == 2 and 'no complete response headers within 1 s' in err and 'Traceback' not in err, err[-2000:]
    assert 'giving up after 6 attempts' in err


def in_thread_value(call, limit):
    """Run ``call`` in a thread; (finished in time, its return value)."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(value=call()), daemon=True)
    thread.start()
    thread.join(limit)
    return not thread.is_alive(), outcome.get('value')

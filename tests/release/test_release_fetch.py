"""`afa data release` without the internet: a manual download, missing and corrupt weights, a neck of the wrong
kind, idempotence; the real gdown against a loopback Drive (tests/drive_loopback.py: fetch, no request on a rerun,
an interrupted transfer resumed), and Drive unreachable (gdown's request refused by a loopback proxy)."""
import json
import os
import socketserver
import subprocess
import sys
import threading

import pytest
import torch

from afa.runs import layout
from afa.release import names as release
from afa.runs import zoo as zoo_mod
from afa.release.download import fetch
from afa.utils.errors import AfaError
from afa.utils.hashing import sha256_file
from drive_loopback import LoopbackDrive
from conftest import FIXTURES

ROW = 'cmrcn_r50_mssa_adp_1x'
RELEASE_LINKS = os.path.join(FIXTURES, 'paper_release_links.csv')


def release_checkpoint(path, cross=False, extra=None):
    """A small release-named checkpoint: a real AFA neck's keys in the release's names, random values (and
    ``extra`` as a backbone tensor, to make it larger)."""
    pytest.importorskip('mmdet')
    from mmdet.models import build_neck
    import afa.models  # noqa: F401
    neck = build_neck(dict(type='MSCAAdp' if cross else 'MSSAAdp', in_channels=[8, 16, 32, 64], out_channels=16,
                           num_outs=5))
    state = {'neck.' + k: torch.randn(v.shape) for k, v in neck.state_dict().items()}
    state['backbone.conv1.weight'] = torch.randn(4, 3, 7, 7) if extra is None else extra
    torch.save({'meta': {'epoch': 12}, 'state_dict': release.release_state_dict(state), 'optimizer': {}}, path)
    return path


@pytest.fixture
def download(tmp_path):
    """A folder as a reader unpacks it from Drive: the config and final.pth."""
    folder = tmp_path / 'downloaded'
    folder.mkdir()
    (folder / 'cmrcn_r50_mssa_adp.py').write_text('model = dict()\n')
    release_checkpoint(str(folder / 'final.pth'))
    return folder


def test_manual_download_is_copied_checked_and_recorded(download, tmp_path):
    root = str(tmp_path / 'release')
    [marker] = fetch([ROW], root, source=str(download))
    assert marker == layout.release_marker(root, ROW)
    record = json.load(open(marker))
    weights = os.path.join(layout.release_dir(root, ROW), 'final.pth')
    assert record['checkpoint'] == weights and record['checkpoint_sha256'] == sha256_file(str(download / 'final.pth'))
    assert record['files']['cmrcn_r50_mssa_adp.py'] == sha256_file(str(download / 'cmrcn_r50_mssa_adp.py'))
    assert record['checkpoint_naming'] == 'release' and record['fusion'] == 'self' and record['row'] == ROW
    assert record['source'] == str(download)
    from afa.evaluation.checkpoint import resolve_checkpoint
    assert resolve_checkpoint(marker) == weights  # `afa test ROW MARKER` (the workflow's route) finds the weights


def test_rerun_is_a_no_op_and_a_changed_file_is_checked_again(download, tmp_path):
    root = str(tmp_path / 'release')
    [marker] = fetch([ROW], root, source=str(download))
    weights = os.path.join(layout.release_dir(root, ROW), 'final.pth')
    stamps = (os.path.getmtime(marker), os.path.getmtime(weights))
    assert fetch([ROW], root) == [marker]  # verified: no download attempted, nothing rewritten
    fetch([ROW], root, source=str(download))  # same files again: kept as they are
    assert (os.path.getmtime(marker), os.path.getmtime(weights)) == stamps
    release_checkpoint(weights)  # replaced behind the marker's back: no longer verified
    with pytest.raises(AfaError, match='cannot download'):
        _unreachable(lambda: fetch([ROW], root, quiet=True))


def test_missing_weights_are_an_error_and_leave_no_marker(download, tmp_path):
    os.remove(str(download / 'final.pth'))
    root = str(tmp_path / 'release')
    with pytest.raises(AfaError, match=r'no weights \(\.pth\)'):
        fetch([ROW], root, source=str(download))
    assert not os.path.exists(layout.release_marker(root, ROW))


def test_missing_config_is_an_error(download, tmp_path):
    os.remove(str(download / 'cmrcn_r50_mssa_adp.py'))
    with pytest.raises(AfaError, match='has no config .py'):
        fetch([ROW], str(tmp_path / 'release'), source=str(download))


def test_corrupt_weights_are_an_error_and_leave_no_marker(download, tmp_path):
    data = (download / 'final.pth').read_bytes()
    (download / 'final.pth').write_bytes(data[:len(data) // 2])  # an interrupted download
    root = str(tmp_path / 'release')
    with pytest.raises(AfaError, match='cannot read checkpoint .*final.pth'):
        fetch([ROW], root, source=str(download))
    assert not os.path.exists(layout.release_marker(root, ROW))


def test_weights_of_the_other_neck_kind_are_refused(download, tmp_path):
    release_checkpoint(str(download / 'final.pth'), cross=True)
    with pytest.raises(AfaError, match='cross-attention neck but cmrcn_r50_mssa_adp_1x is MSSA-Adp'):
        fetch([ROW], str(tmp_path / 'release'), source=str(download))


def test_unpacked_zip_with_one_subfolder_is_accepted(download, tmp_path):
    outer = tmp_path / 'unzipped'
    outer.mkdir()
    os.rename(str(download), str(outer / 'cmrcn_r50_mssa_adp'))
    [marker] = fetch([ROW], str(tmp_path / 'release'), source=str(outer))
    assert json.load(open(marker))['checkpoint'].endswith('final.pth')


def test_rows_without_a_release_and_from_with_several_rows_are_refused(tmp_path, download):
    with pytest.raises(AfaError, match='cmrcn_r50_sumup_1x has no released weights.*cmrcn_r50_mssa_adp_1x'):
        fetch(['cmrcn_r50_sumup_1x'], str(tmp_path))
    with pytest.raises(AfaError, match='one row'):
        fetch([ROW, 'cmrcn_r50_msca_adp_1x'], str(tmp_path), source=str(download))


class RefusingProxy(object):
    """An HTTP proxy on loopback that records each request line and refuses it (502), as a site's proxy does
    for hosts it does not reach."""

    def __init__(self):
        self.requests = []
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                owner.requests.append(self.rfile.readline().decode('latin-1').strip())
                self.wfile.write(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')

        self.server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _proxy_env(url):
    env = {name: url for name in ('https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY')}
    env.update(no_proxy='', NO_PROXY='')
    return env


def _unreachable(call):
    proxy = RefusingProxy()
    saved = dict(os.environ)
    os.environ.update(_proxy_env(proxy.url))
    try:
        return call()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        proxy.close()


def test_drive_unreachable_is_one_line_naming_the_manual_route(tmp_path):
    """The real gdown asks the (loopback) proxy for drive.google.com, is refused, and the user reads one line
    with the folder's URL and the --from command."""
    proxy = RefusingProxy()
    try:
        env = dict(os.environ, PYTHONPATH=zoo_mod.REPO_ROOT, **_proxy_env(proxy.url))
        result = subprocess.run([sys.executable, '-m', 'afa.cli', 'data', 'release', ROW, '--dir',
                                 str(tmp_path), '--quiet'], capture_output=True, text=True, env=env, timeout=120)
    finally:
        proxy.close()
    url = zoo_mod.load().row(ROW)['release']
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert 'cannot download the release of %s from Google Drive' % ROW in line
    assert url in line and '--from' in line and 'ProxyError' in line
    assert any(r.startswith('CONNECT drive.google.com:443') for r in proxy.requests), proxy.requests
    assert not os.path.exists(layout.release_marker(str(tmp_path), ROW))


def test_release_links_are_the_papers():
    """Every "Config+Model" link of the paper's README (tests/fixtures/paper_release_links.csv) is the release of the
    zoo row with its table, module and backbone, and no other row claims one."""
    import csv
    zoo = zoo_mod.load()
    with open(RELEASE_LINKS) as f:
        links = {(r['table'], r['module'].lower(), r['backbone']): r['url']
                 for r in csv.DictReader(line for line in f if not line.startswith('#'))}
    assert len(links) == 10
    claimed = {(r['table'], r['module'].lower(), r['backbone']): r['release'] for r in zoo if r.get('release')}
    assert claimed == links


@pytest.fixture
def drive(tmp_path):
    """The row's Drive folder on loopback (the zoo's folder id), holding a config and a 4 MB final.pth."""
    weights = str(tmp_path / 'final.pth')
    release_checkpoint(weights, extra=torch.randn(1 << 20))
    url = zoo_mod.load().row(ROW)['release']
    server = LoopbackDrive(url.rsplit('/', 1)[1], 'cmrcn_r50_mssa_adp', {
        'cmrcn_r50_mssa_adp.py': b'model = dict()\n', 'final.pth': open(weights, 'rb').read()}, str(tmp_path))
    yield server
    server.close()


def fetch_cli(drive, tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=zoo_mod.REPO_ROOT, **drive.env(str(tmp_path / 'home')))
    return subprocess.run([sys.executable, '-m', 'afa.cli', 'data', 'release', ROW, '--dir', str(tmp_path / 'rel'),
                           '--quiet'] + list(args), capture_output=True, text=True, env=env, timeout=300)


def test_gdown_fetches_the_folder_and_a_rerun_asks_nothing(drive, tmp_path):
    result = fetch_cli(drive, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    marker = layout.release_marker(str(tmp_path / 'rel'), ROW)
    record = json.load(open(marker))
    assert record['source'] == zoo_mod.load().row(ROW)['release'] and record['checkpoint_naming'] == 'release'
    folder = layout.release_dir(str(tmp_path / 'rel'), ROW)
    assert sorted(os.listdir(folder)) == sorted([layout.RELEASE_MARKER, 'cmrcn_r50_mssa_adp.py', 'final.pth'])
    assert open(os.path.join(folder, 'final.pth'), 'rb').read() == drive.files['final.pth']
    assert [p for p, _ in drive.requests].count('/uc') == 2
    asked = len(drive.requests)
    again = fetch_cli(drive, tmp_path)
    assert again.returncode == 0 and 'already fetched and verified' in again.stderr
    assert len(drive.requests) == asked  # nothing asked of Drive


def test_interrupted_download_resumes_where_it_stopped(drive, tmp_path):
    drive.faults['final.pth'] = ['cut']
    first = fetch_cli(drive, tmp_path)
    assert first.returncode == 2
    assert 'cannot download the release of %s from Google Drive' % ROW in first.stderr.strip().splitlines()[-1]
    folder = layout.release_dir(str(tmp_path / 'rel'), ROW)
    [part] = [n for n in os.listdir(folder) if n.endswith('.part')]
    kept = os.path.getsize(os.path.join(folder, part))
    assert 0 < kept < len(drive.files['final.pth'])
    second = fetch_cli(drive, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert ('/uc', 'bytes=%d-' % kept) in drive.requests  # the rest only
    assert open(os.path.join(folder, 'final.pth'), 'rb').read() == drive.files['final.pth']
    assert json.load(open(layout.release_marker(str(tmp_path / 'rel'), ROW)))['checkpoint_sha256'] == \
        sha256_file(os.path.join(folder, 'final.pth'))

"""Backbone weights: each row maps to its files, downloads verify the sha256 prefix of the name, a missing file
is a clear error that names the fetch command."""
import hashlib
import subprocess
import sys

import pytest

from afa.runs import zoo as zoo_mod
from afa.data.pretrained import WEIGHTS, fetch, files_for_backbone
from afa.utils.errors import AfaError
from http_faults import FaultyServer


def test_every_row_loads_the_weights_the_workflow_fetches_for_it():
    mmcv = pytest.importorskip('mmcv')
    for row in zoo_mod.load():
        cfg = mmcv.Config.fromfile(row.config_path())
        checkpoint = cfg.model.backbone.init_cfg.checkpoint
        assert checkpoint.startswith('data/pretrained/')
        assert files_for_backbone(row['backbone']) == [checkpoint.split('/')[-1]], row.id


def test_a_file_that_matches_its_checksum_is_fetched_and_kept(tmp_path, monkeypatch):
    content = b'tiny stand-in weights'
    name = 'tiny-%s.pth' % hashlib.sha256(content).hexdigest()[:8]
    monkeypatch.setitem(WEIGHTS, name, {'url': 'http://unused/' + name, 'checksum': 'sha256:' + name[5:13]})
    with FaultyServer({'/' + name: content}) as server:
        paths = fetch(str(tmp_path), names=[name], mirror=server.url, progress=False)
        assert paths == [str(tmp_path / name)] and (tmp_path / name).read_bytes() == content
    # The server is gone: a second fetch verifies the file in place instead of downloading it again.
    assert fetch(str(tmp_path), names=[name], mirror=server.url, progress=False) == paths


def test_a_file_that_does_not_match_its_name_is_refused(tmp_path):
    with FaultyServer({'/resnet50-0676ba61.pth': b'not the weights'}) as server:
        with pytest.raises(AfaError, match='checksum mismatch twice'):
            fetch(str(tmp_path), names=['resnet50-0676ba61.pth'], mirror=server.url, progress=False)
    assert not (tmp_path / 'resnet50-0676ba61.pth').exists()


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(AfaError, match='unknown weight file'):
        fetch(str(tmp_path), names=['vgg16.pth'])


def test_training_without_the_weights_names_the_fetch_command(synthetic_root, tmp_path):
    result = subprocess.run([sys.executable, '-m', 'afa.cli', 'train', 'cmrcn_r101_mssa_adp_1x', '--data-root',
                             synthetic_root, '--pretrained-dir', str(tmp_path / 'weights'), '--runs-root',
                             str(tmp_path / 'runs'), '--gpus', '0'], capture_output=True, text=True)
    assert result.returncode == 2
    assert 'resnet101-63fe2227.pth not found' in result.stderr and 'afa data pretrained' in result.stderr

"""End to end at the smoke scale: a checkpoint trained here, saved in the release's naming (and without this
project's meta, as the authors' files are), evaluates through the release route to the same AP as through the
normal path; its results go to their own file; a checkpoint of another row is refused."""
import json
import subprocess
import sys

import pytest
import torch

from afa.runs import layout
from afa.release import names as release
from afa.utils.hashing import sha256_file
from conftest import running_paper_stack

pytestmark = pytest.mark.slow

ROW = 'cmrcn_r50_mssa_adp_1x'


def afa(*args):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True)


@pytest.fixture(scope='module')
def smoke(synthetic_root, tmp_path_factory):
    """A few smoke epochs of ROW, its normal evaluation, and the same weights in the release's naming."""
    tmp = tmp_path_factory.mktemp('release_e2e')
    runs = str(tmp / 'runs')
    # Every detection kept (score threshold 0), after the epochs that give this 8-image dataset detections overlapping
    # the ground truth on each stack (seeded CPU training is deterministic; measured: modern 1 epoch AR100 > 0, 2-4
    # epochs 0.0; paper stack 1-3 epochs 0.0, 4 epochs > 0). An empty result on both routes would compare nothing.
    epochs = '4' if running_paper_stack() else '1'
    common = ['--smoke', '--smoke-epochs', epochs, '--data-root', synthetic_root, '--runs-root', runs, '--gpus', '0',
              '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0']
    trained = afa('train', ROW, *common)
    assert trained.returncode == 0, trained.stderr[-3000:]
    work_dir = layout.run_dir(runs, 'smoke', ROW)
    done = layout.done_path(work_dir)
    tested = afa('test', ROW, done, *common)
    assert tested.returncode == 0, tested.stderr[-3000:]
    checkpoint = torch.load(json.load(open(done))['checkpoint'], map_location='cpu')
    meta = {k: v for k, v in checkpoint['meta'].items() if not k.startswith('afa_')}
    released = str(tmp / 'final.pth')
    torch.save({'meta': meta, 'state_dict': release.release_state_dict(checkpoint['state_dict']),
                'optimizer': checkpoint.get('optimizer')}, released)
    return dict(common=common, work_dir=work_dir, released=released, tmp=tmp,
                metrics=json.load(open(layout.metrics_path(work_dir))))


def test_release_named_checkpoint_gives_the_same_ap_as_the_normal_path(smoke):
    assert release.naming(torch.load(smoke['released'], map_location='cpu')['state_dict']) == 'release'
    before = open(layout.metrics_path(smoke['work_dir'])).read()
    result = afa('test', ROW, smoke['released'], *smoke['common'])
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'released checkpoint' in result.stdout
    released = json.load(open(layout.released_metrics_path(smoke['work_dir'])))
    trained = smoke['metrics']
    assert trained['bbox']['AR100'] > 0  # detections to compare, not an empty result on both sides
    assert released['bbox'] == trained['bbox'] and released['segm'] == trained['segm']  # all 12 numbers each
    assert released['checkpoint_origin'] == 'released' and released['checkpoint_naming'] == 'release'
    assert released['checkpoint_sha256'] == sha256_file(smoke['released'])
    assert trained['checkpoint_origin'] == 'trained' and trained['checkpoint_naming'] == 'afa'
    assert open(layout.metrics_path(smoke['work_dir'])).read() == before  # the trained run's file is untouched


def test_converted_checkpoint_gives_the_same_ap(smoke):
    converted = str(smoke['tmp'] / 'converted.pth')
    assert afa('release', 'convert', smoke['released'], converted).returncode == 0
    out = str(smoke['tmp'] / 'converted_metrics.json')
    result = afa('test', ROW, converted, '--out', out, *smoke['common'])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(out))
    assert metrics['bbox'] == smoke['metrics']['bbox'] and metrics['checkpoint_origin'] == 'released'
    assert metrics['checkpoint_naming'] == 'afa'


def test_released_results_never_go_to_the_trained_runs_file(smoke):
    result = afa('test', ROW, smoke['released'], '--out', layout.metrics_path(smoke['work_dir']), *smoke['common'])
    assert result.returncode == 2 and 'holds the results of trained checkpoints' in result.stderr


def test_checkpoint_of_another_row_is_refused_naming_the_keys(smoke):
    result = afa('test', 'cmrcn_r50_msca_adp_1x', smoke['released'], *smoke['common'])
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'does not fit' in result.stderr and 'norm_kv' in result.stderr

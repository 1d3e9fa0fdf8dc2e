"""`afa train` and `afa test` as a user runs them: kill and resume, no retraining, metrics JSON, test-dev zips."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from afa.runs import layout

pytestmark = pytest.mark.slow

ROW = 'cmrcn_r50_msca_adp_1x'


def afa(*args, **kwargs):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True,
                          **kwargs)


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """Train 2 smoke epochs, killed the moment the first checkpoint appears (whole: saves are atomic), a damaged
    epoch_2.pth planted (as an interrupted copy leaves one), then resumed."""
    runs = str(tmp_path_factory.mktemp('runs'))
    common = ['--smoke', '--data-root', synthetic_root, '--runs-root', runs, '--gpus', '0']
    work_dir = layout.run_dir(runs, 'smoke', ROW)
    proc = subprocess.Popen([sys.executable, '-m', 'afa.cli', 'train', ROW] + common,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not os.path.exists(os.path.join(work_dir, 'epoch_1.pth')):
        assert proc.poll() is None, 'training exited before its first checkpoint'
        assert time.time() < deadline
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(layout.done_path(work_dir))
    epoch_1 = os.path.join(work_dir, 'epoch_1.pth')
    with open(epoch_1, 'rb') as src, open(os.path.join(work_dir, 'epoch_2.pth'), 'wb') as dst:
        dst.write(src.read(os.path.getsize(epoch_1) // 3))

    resumed = afa('train', ROW, *common)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return dict(runs=runs, common=common, work_dir=work_dir, log=resumed.stdout + resumed.stderr)


def test_killed_run_resumes_from_its_checkpoint(trained):
    assert 'resuming %s from' % ROW in trained['log'] and 'epoch_1.pth' in trained['log']
    assert 'died without releasing it' in trained['log']  # the killed holder's lock record is reported
    assert 'Epoch [1]' not in trained['log']  # the finished epoch is not trained again
    done = json.load(open(layout.done_path(trained['work_dir'])))
    assert done['checkpoint'].endswith('epoch_2.pth') and done['scale'] == 'smoke'
    run = json.load(open(os.path.join(trained['work_dir'], layout.RUN_FILE)))
    assert run['seed'] == 0 and run['deterministic'] is False and run['device'] == 'cpu'


def test_damaged_newest_checkpoint_is_skipped_with_its_reason(trained):
    assert 'skipping %s' % os.path.join(trained['work_dir'], 'epoch_2.pth') in trained['log']
    assert 'truncated or corrupt' in trained['log']
    assert 'resuming from %s instead' % os.path.join(trained['work_dir'], 'epoch_1.pth') in trained['log']


def test_finished_run_with_other_options_is_refused(trained):
    again = afa('train', ROW, *trained['common'] + ['--smoke-epochs', '3'])
    assert again.returncode == 2 and 'runner.max_epochs: 2 -> 3' in again.stderr and '--retrain' in again.stderr
    assert 'Traceback' not in again.stderr


def test_wrong_row_or_scale_checkpoint_is_refused_and_metrics_untouched(trained, tmp_path):
    done = layout.done_path(trained['work_dir'])
    other_dir = layout.run_dir(trained['runs'], 'smoke', 'cmrcn_r50_sumup_1x')
    os.makedirs(other_dir, exist_ok=True)
    sentinel = layout.metrics_path(other_dir)
    with open(sentinel, 'w') as f:
        f.write('{"run_id": "cmrcn_r50_sumup_1x", "scale": "smoke"}\n')
    wrong_row = afa('test', 'cmrcn_r50_sumup_1x', done, *trained['common'])
    assert wrong_row.returncode == 2 and 'is the checkpoint of %s' % ROW in wrong_row.stderr
    assert open(sentinel).read() == '{"run_id": "cmrcn_r50_sumup_1x", "scale": "smoke"}\n'
    paper = [a for a in trained['common'] if a != '--smoke']
    wrong_scale = afa('test', ROW, done, *paper)
    assert wrong_scale.returncode == 2 and 'smoke-scale checkpoint' in wrong_scale.stderr
    assert not os.path.exists(os.path.join(trained['runs'], 'paper'))
    other_out = afa('test', ROW, done, '--out', sentinel, *trained['common'])
    assert other_out.returncode == 2 and 'left untouched' in other_out.stderr


def test_truncated_checkpoint_or_a_busy_run_folder_is_one_line(trained, tmp_path):
    final = os.path.join(trained['work_dir'], 'epoch_2.pth')
    cut = str(tmp_path / 'cut.pth')
    with open(final, 'rb') as src, open(cut, 'wb') as dst:
        dst.write(src.read(os.path.getsize(final) // 2))
    truncated = afa('test', ROW, cut, '--out', str(tmp_path / 'm.json'), *trained['common'])
    assert truncated.returncode == 2 and 'cannot read checkpoint' in truncated.stderr and cut in truncated.stderr
    with hold_lock(trained['work_dir'], layout.METRICS_FILE) as holder:
        busy = afa('test', ROW, layout.done_path(trained['work_dir']), *trained['common'])
        assert busy.returncode == 2 and 'in use by another afa process: pid %d' % holder.pid in busy.stderr


@contextlib.contextmanager
def hold_lock(folder, output=None):
    """Another process holding the run folder's lock (or, with ``output``, the lock of that test output)."""
    code = ('import sys, time; from afa.runs import layout; from afa.runs.runlock import RunLock; '
            'RunLock(sys.argv[1], "test", layout.output_lock_name(sys.argv[2]) if sys.argv[2] else layout.LOCK_FILE)'
            '.acquire(); print("held", flush=True); time.sleep(120)')
    holder = subprocess.Popen([sys.executable, '-c', code, folder, output or ''], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_final_checkpoint_replaced_after_training_is_refused(trained, tmp_path):
    done = json.load(open(layout.done_path(trained['work_dir'])))
    other = str(tmp_path / 'epoch_2.pth')
    with open(done['checkpoint'], 'rb') as src, open(other, 'wb') as dst:
        dst.write(src.read() + b'changed')
    record = str(tmp_path / layout.DONE_FILE)
    json.dump(dict(done, checkpoint=other), open(record, 'w'))
    result = afa('test', ROW, record, '--out', str(tmp_path / 'm.json'), *trained['common'])
    assert result.returncode == 2 and 'sha256 differs' in result.stderr and other in result.stderr


def test_checkpoint_that_does_not_fit_the_model_is_refused(trained, tmp_path):
    import torch
    state = torch.load(os.path.join(trained['work_dir'], 'epoch_2.pth'), map_location='cpu')
    state['state_dict'].pop(sorted(state['state_dict'])[0])
    bad = str(tmp_path / 'bad.pth')
    torch.save(state, bad)
    result = afa('test', ROW, bad, '--out', str(tmp_path / 'm.json'), *trained['common'])
    assert result.returncode == 2 and 'does not fit' in result.stderr and 'missing key' in result.stderr
    assert not os.path.exists(str(tmp_path / 'm.json'))


def test_finished_run_is_not_retrained(trained):
    before = os.path.getmtime(os.path.join(trained['work_dir'], 'epoch_2.pth'))
    again = afa('train', ROW, *trained['common'])
    assert again.returncode == 0 and 'already trained' in again.stdout
    assert os.path.getmtime(os.path.join(trained['work_dir'], 'epoch_2.pth')) == before


def test_metrics_json_has_its_fields(trained):
    done = layout.done_path(trained['work_dir'])
    result = afa('test', ROW, done, *trained['common'])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(layout.metrics_path(trained['work_dir'])))
    for iou in ('bbox', 'segm'):
        assert len(metrics[iou]) == 12 and 'AP' in metrics[iou] and 'ARl' in metrics[iou]
    for key in ('run_id', 'config_sha256', 'checkpoint_sha256', 'dataset', 'provenance', 'scale'):
        assert metrics[key], key
    assert metrics['scale'] == 'smoke' and metrics['dataset']['images'] == 4
    assert set(metrics['provenance']['versions']) >= {'torch', 'mmcv', 'mmdet'}
    assert metrics['provenance']['git_commit'] and metrics['provenance']['date']


def test_format_only_writes_zipped_test_dev_files(trained, tmp_path):
    done = layout.done_path(trained['work_dir'])
    with hold_lock(trained['work_dir'], layout.METRICS_FILE):  # the val evaluation may run at the same time
        result = afa('test', ROW, done, '--format-only', '--out', str(tmp_path), *trained['common'])
    assert result.returncode == 0, result.stderr[-3000:]
    for iou in ('bbox', 'segm'):
        with zipfile.ZipFile(str(tmp_path / ('%s_%s.zip' % (ROW, iou)))) as z:
            (name,) = z.namelist()
            assert name.startswith('detections_test-dev2017_') and name.endswith('_results.json')
            assert isinstance(json.loads(z.read(name)), list)
    manifest = json.load(open(str(tmp_path / layout.TESTDEV_MANIFEST)))
    assert sorted(manifest['archives']) == ['bbox', 'segm'] and manifest['scale'] == 'smoke'


def test_bad_inputs_are_clear_errors(trained, tmp_path):
    missing = afa('train', ROW, '--smoke', '--data-root', str(tmp_path / 'nowhere'), '--runs-root', str(tmp_path))
    assert missing.returncode == 2 and 'afa data synthetic' in missing.stderr
    unknown = afa('train', 'cmrcn_r50_nope_1x', '--smoke')
    assert unknown.returncode == 2 and 'unknown row' in unknown.stderr
    apex = afa('train', ROW, '--precision', 'apex', *trained['common'])
    assert apex.returncode == 2 and 'apex' in apex.stderr
    no_ckpt = afa('test', ROW, str(tmp_path / 'missing.pth'), *trained['common'])
    assert no_ckpt.returncode == 2 and 'not found' in no_ckpt.stderr


def test_nan_loss_stops_the_run_with_a_clear_error(synthetic_root, tmp_path):
    result = afa('train', 'cmrcn_r50_sumup_1x', '--smoke', '--data-root', synthetic_root, '--runs-root',
                 str(tmp_path), '--gpus', '0', '--cfg-options', 'optimizer.lr=1e12')
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'loss is nan' in result.stderr or 'loss is inf' in result.stderr
    assert not os.path.exists(layout.done_path(layout.run_dir(str(tmp_path), 'smoke', 'cmrcn_r50_sumup_1x')))

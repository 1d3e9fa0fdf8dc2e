"""The early alarm at the smoke scale: real training with validation after every epoch (--validate), compared with
a reference curve built to pass (an identical earlier run's own log) and one built to fail (the same curve 10 AP
points higher). The failing one fires in the training log, stops the run cleanly with --alarm-stop, shows in
`afa status`, and a rerun resumes; the passing one stays silent."""
import json
import os
import subprocess
import sys

import pytest

from afa.runs import layout, training_log

pytestmark = pytest.mark.slow

ROW = 'cmrcn_r50_sumup_1x'
OUTSIDE = 'is outside the band'


def afa(*args):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True)


@pytest.fixture(scope='module')
def references(synthetic_root, tmp_path_factory):
    """(common arguments, passing reference, failing reference) from a first run of the row."""
    base = tmp_path_factory.mktemp('alarm')
    common = ['--smoke', '--smoke-epochs', '2', '--data-root', synthetic_root, '--gpus', '0', '--validate']
    first = afa('train', ROW, *common, '--runs-root', str(base / 'first'), '--reference', 'none')
    assert first.returncode == 0, first.stderr[-3000:]
    logs = training_log.log_files(layout.run_dir(str(base / 'first'), 'smoke', ROW))
    assert sorted(training_log.validation_ap(training_log.read_entries(logs))) == [1, 2]
    passing, failing = str(base / 'pass.log.json'), str(base / 'fail.log.json')
    with open(logs[0]) as src, open(passing, 'w') as ok, open(failing, 'w') as bad:
        for line in src:
            ok.write(line)
            entry = json.loads(line)
            if entry.get('mode') == 'val':
                entry['bbox_mAP'] += 0.10
            bad.write(json.dumps(entry) + '\n')
    return common, passing, failing, base


def _text_log(work_dir):
    return ''.join(open(p[:-len(layout.LOG_JSON_SUFFIX)] + layout.LOG_TEXT_SUFFIX).read()
                   for p in training_log.log_files(work_dir))


def test_failing_reference_fires_stops_cleanly_and_a_rerun_resumes(references):
    common, _, failing, base = references
    runs = str(base / 'failing')
    work_dir = layout.run_dir(runs, 'smoke', ROW)
    stopped = afa('train', ROW, *common, '--runs-root', runs, '--reference', failing, '--alarm-stop')
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    error = [line for line in stopped.stderr.splitlines() if line.startswith('afa train: error:')]
    assert len(error) == 1 and 'stopped by the early alarm' in error[0] and 'Traceback' not in stopped.stderr
    assert 'afa alarm: epoch 1 box AP' in _text_log(work_dir) and OUTSIDE in _text_log(work_dir)
    assert os.path.exists(os.path.join(work_dir, 'epoch_1.pth'))
    assert not os.path.exists(os.path.join(work_dir, 'epoch_2.pth'))
    assert not os.path.exists(layout.done_path(work_dir))
    alarm = json.load(open(layout.alarm_path(work_dir)))
    assert alarm['outside'] and alarm['stopped'] and alarm['epoch'] == 1 and alarm['reference'] == failing

    status = afa('status', '--scale', 'smoke', '--runs-root', runs, '--rows', ROW, '--json')
    record, = json.loads(status.stdout)
    assert record['state'] == 'failed' and record['alarm']['epoch'] == 1 and 'early alarm' in record['note']
    text = afa('status', '--scale', 'smoke', '--runs-root', runs, '--rows', ROW).stdout
    assert '!! e1' in text and 'early alarm: epoch 1 box AP' in text

    resumed = afa('train', ROW, *common, '--runs-root', runs, '--reference', failing)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resuming %s from' % ROW in resumed.stdout + resumed.stderr
    assert 'afa alarm: epoch 2 box AP' in _text_log(work_dir)
    assert os.path.exists(layout.done_path(work_dir))
    alarm = json.load(open(layout.alarm_path(work_dir)))
    assert [c['epoch'] for c in alarm['checks']] == [1, 2] and alarm['last_outside'] == 2
    assert not alarm['stopped'] and alarm['epoch'] == 1  # the first epoch that fell outside is kept


def test_passing_reference_stays_silent(references):
    common, passing, _, base = references
    runs = str(base / 'passing')
    work_dir = layout.run_dir(runs, 'smoke', ROW)
    done = afa('train', ROW, *common, '--runs-root', runs, '--reference', passing, '--alarm-stop')
    assert done.returncode == 0, done.stderr[-3000:]
    log = _text_log(work_dir)
    assert log.count(' within ') == 2 and OUTSIDE not in log and 'WARNING - afa alarm' not in log
    alarm = json.load(open(layout.alarm_path(work_dir)))
    assert not alarm['outside'] and [c['epoch'] for c in alarm['checks']] == [1, 2]
    record, = json.loads(afa('status', '--scale', 'smoke', '--runs-root', runs, '--rows', ROW, '--json').stdout)
    assert record['state'] == 'trained' and record['alarm'] is None and record['val_epoch'] == 2


def test_tensorboard_event_files_hold_losses_lr_throughput_and_validation_ap(references):
    """The run folder's TensorBoard events (mmcv's TensorboardLoggerHook, on this stack)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(layout.tensorboard_dir(layout.run_dir(str(references[3] / 'first'), 'smoke', ROW)))
    events.Reload()
    tags = events.Tags()['scalars']
    assert {'train/loss', 'learning_rate', 'train/img_per_s', 'val/bbox_mAP'} <= set(tags), tags
    assert len(events.Scalars('val/bbox_mAP')) == 2 and events.Scalars('train/img_per_s')[-1].value > 0

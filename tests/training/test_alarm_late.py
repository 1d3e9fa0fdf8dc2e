"""The early alarm when its reference run trains at the same time (a cluster runs both at once, or a node runs the
reference after the run it serves): an epoch the reference has not validated yet waits in alarm.json's
``not_compared`` and is compared at the run's next validation or at its end; what the reference never validated
shows in `afa status` and the tables' provenance. The real hook and RunFolder; the runner is the few attributes the
hook reads (a real mmcv runner trains: tests/training/test_ap_alarm.py)."""
import json
import logging
import os
import types

from mmcv.runner import LogBuffer

from afa.reporting import status as status_mod
from afa.runs import layout
from afa.runs.folder import RunFolder
from afa.training.alarm.hook import AP_KEY, ApAlarmHook
from afa.training.alarm.reference import Reference

EPOCHS = 3


def _write_curve(folder, curve):
    """The reference run's training log as it stands: its validations so far."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, '20260101_000000' + layout.LOG_JSON_SUFFIX), 'w') as f:
        f.write('{"seed": 0}\n')
        for epoch, ap in sorted(curve.items()):
            f.write(json.dumps({'mode': 'val', 'epoch': epoch, 'iter': 10, 'bbox_mAP': ap / 100.0}) + '\n')


class _Runner(object):
    def __init__(self, work_dir):
        self.work_dir, self.epoch, self.max_epochs = work_dir, 0, EPOCHS
        self.log_buffer = LogBuffer()
        self.logger = logging.getLogger('test_alarm_late')

    def validate(self, ap):
        """The moment after mmdet's evaluation hook put the epoch's AP in the log buffer."""
        self.log_buffer.clear_output()
        self.log_buffer.output[AP_KEY] = ap / 100.0
        self.log_buffer.ready = True


def _hook(tmp_path, stop=False):
    reference_folder = str(tmp_path / 'runs' / 'cmrcn_r50_sumup_1x')
    os.makedirs(reference_folder, exist_ok=True)
    ref = Reference('run:cmrcn_r50_sumup_1x', {}, 0.0, True, reference_folder)
    work_dir = str(tmp_path / 'runs' / 'cmrcn_r50_mssa_adp_1x')
    os.makedirs(work_dir)
    runner = _Runner(work_dir)
    hook = ApAlarmHook(ref.hook_args(), stop=stop)
    hook.before_run(runner)
    return hook, runner, reference_folder


def _epoch(hook, runner, ap):
    runner.validate(ap)
    hook.after_train_epoch(runner)
    runner.epoch += 1


def test_an_epoch_the_reference_has_not_validated_waits_and_is_compared_at_the_next_validation(tmp_path, caplog):
    hook, runner, reference_folder = _hook(tmp_path)
    caplog.set_level(logging.INFO, logger='test_alarm_late')
    _epoch(hook, runner, 20.0)  # the reference has validated nothing yet
    record = RunFolder(runner.work_dir).alarm()
    assert record['checks'] == [] and record['not_compared'] == [dict(epoch=1, ap=20.0)]
    assert 'has no value for this epoch yet' in caplog.text

    _write_curve(reference_folder, {1: 25.0})  # far above epoch 1 of the run: outside from below
    _epoch(hook, runner, 30.0)
    record = RunFolder(runner.work_dir).alarm()
    assert [c['epoch'] for c in record['checks']] == [1] and record['checks'][0]['outside']
    assert record['outside'] and record['epoch'] == 1 and 'compared late' in record['message']
    assert record['not_compared'] == [dict(epoch=2, ap=30.0)]


def test_the_end_of_the_run_compares_what_waited_and_keeps_what_the_reference_never_validated(tmp_path):
    hook, runner, reference_folder = _hook(tmp_path)
    for ap in (20.0, 30.0, 35.0):
        _epoch(hook, runner, ap)
    assert [w['epoch'] for w in RunFolder(runner.work_dir).alarm()['not_compared']] == [1, 2, 3]

    _write_curve(reference_folder, {1: 19.0, 2: 29.5})  # validated two epochs while this run trained
    hook.after_run(runner)
    folder = RunFolder(runner.work_dir)
    record = folder.alarm()
    assert [(c['epoch'], c['outside']) for c in record['checks']] == [(1, False), (2, False)]
    assert folder.alarm_not_compared() == dict(epochs=[3], reference='run:cmrcn_r50_sumup_1x')

    _write_curve(runner.work_dir, {1: 20.0, 2: 30.0, 3: 35.0})  # the run's own log, for `afa status`
    status = status_mod.run_status(runner.work_dir)
    assert status['not_compared']['epochs'] == [3] and status['alarm'] is None


def test_status_shows_the_epochs_not_compared(tmp_path):
    row = dict(status_mod.run_status(str(tmp_path / 'none')), run='cmrcn_r50_mssa_adp_1x', state='trained',
               not_compared=dict(epochs=[1, 2], reference='run:cmrcn_r50_sumup_1x'))
    text = status_mod.render([row])
    assert 'n/c e1,2' in text.splitlines()[1]
    assert ('cmrcn_r50_mssa_adp_1x: early alarm: epochs 1,2 not compared: run:cmrcn_r50_sumup_1x had not '
            'validated them' in text)


def test_a_restart_keeps_the_epochs_waiting_for_the_same_reference(tmp_path):
    hook, runner, _ = _hook(tmp_path)
    _epoch(hook, runner, 20.0)
    again = ApAlarmHook(hook.reference)
    again.before_run(types.SimpleNamespace(work_dir=runner.work_dir, logger=runner.logger))
    assert RunFolder(runner.work_dir).alarm()['not_compared'] == [dict(epoch=1, ap=20.0)]

"""The early alarm: after each validation, compare the epoch's box AP with a reference curve (reference.py beside
it) and say so in the training log the moment the run falls outside the band, days before its final AP is read.

The verdicts go to RUN/alarm.json (read by `afa status` and `afa tables`). With ``stop=True`` the run stops cleanly
after the epoch that fell outside: its checkpoint is written (the checkpoint hook runs first), the runner ends
as after its last epoch, and `afa train` exits with the reason; a later `afa train` resumes from that checkpoint.
"""
from mmcv.runner import HOOKS, Hook, get_dist_info

from afa.runs.folder import RunFolder
from afa.training.alarm import reference as reference_mod

AP_KEY = 'bbox_mAP'  # what mmdet's evaluation hook puts in the log buffer, in [0, 1]


@HOOKS.register_module()
class ApAlarmHook(Hook):
    """``reference``: Reference.hook_args(); ``stop``: end the run cleanly when it falls outside the band."""

    def __init__(self, reference, stop=False):
        self.reference = dict(reference)
        self.curve = {int(e): float(ap) for e, ap in reference['curve']}
        self.stop = stop

    def before_run(self, runner):
        if get_dist_info()[0] != 0:
            return
        self.record = RunFolder(runner.work_dir).begin_alarm(
            self.reference['source'], self.reference['offset'], self.reference['lower_only'], self.stop,
            band=dict(first=reference_mod.FIRST_BAND, final=reference_mod.FINAL_BAND))
        runner.logger.info('afa alarm: comparing box AP per epoch with %s (band %.1f AP at epoch 1 to %.1f at the '
                           'last%s)', self.reference['source'], reference_mod.FIRST_BAND, reference_mod.FINAL_BAND,
                           ', from below only' if self.reference['lower_only'] else '')

    def after_train_epoch(self, runner):
        stop = False
        if get_dist_info()[0] == 0:
            stop = self._check(runner)
        if self.stop and _broadcast_flag(stop):
            runner._max_epochs = runner.epoch + 1  # the runner ends as after its last epoch

    def after_run(self, runner):
        """A reference run still training may have validated since this run's last check: compare what waited;
        what the reference never validated stays under ``not_compared`` in alarm.json (status and tables say so)."""
        if get_dist_info()[0] == 0 and self.record.get('not_compared') and self.reference.get('folder'):
            self._compare_waiting(runner, runner.epoch + 1)  # every one of them late

    def _check(self, runner):
        value = runner.log_buffer.output.get(AP_KEY) if runner.log_buffer.ready else None
        if not isinstance(value, (int, float)):
            return False  # no validation this epoch
        epoch = runner.epoch + 1
        self.record = RunFolder(runner.work_dir).add_alarm_waiting(self.record, epoch, 100.0 * value)
        return self._compare_waiting(runner, epoch)

    def _compare_waiting(self, runner, epoch):
        """Compare every epoch still waiting for a reference value (this one among them); True when the run should
        stop. An epoch the reference has not validated yet waits for the next check: a reference run trained at
        the same time (on a cluster, or scheduled after this run) is compared as soon as it has the epoch."""
        if self.reference.get('folder'):  # a reference run that may still be training: reread it
            self.curve = reference_mod.run_curve(self.reference['folder'])
        stopping = False
        for waiting in list(self.record['not_compared']):
            stopping = self._judge(runner, waiting['epoch'], waiting['ap'], late=waiting['epoch'] < epoch) or stopping
        return stopping

    def _judge(self, runner, epoch, ap, late):
        verdict = reference_mod.check(self.curve, epoch, ap, runner.max_epochs, self.reference['offset'],
                                      self.reference['lower_only'])
        when = ' (compared late: the reference validated it after this run did)' if late else ''
        if verdict is None:
            runner.logger.info('afa alarm: epoch %d box AP %.1f: %s has no value for this epoch yet; compared when '
                               'it has', epoch, ap, self.reference['source'])
            return False
        message = stopping = None
        if verdict['outside']:
            message = ('epoch %d box AP %.1f is outside the band %.1f +- %.1f of %s%s%s' % (
                epoch, ap, verdict['expected'], verdict['band'], self.reference['source'],
                ' (from below)' if verdict['lower_only'] else '', when))
            stopping = self.stop and runner.epoch + 1 < runner.max_epochs
            runner.logger.warning('afa alarm: %s%s', message, '; stopping the run (--alarm-stop): rerun to resume'
                                  if stopping else '')
        else:
            runner.logger.info('afa alarm: epoch %d box AP %.1f within %.1f +- %.1f of %s%s', epoch, verdict['ap'],
                               verdict['expected'], verdict['band'], self.reference['source'], when)
        self.record = RunFolder(runner.work_dir).add_alarm_verdict(self.record, verdict, message, stopping)
        return self.record['stopped']


def _broadcast_flag(flag):
    """Rank 0's decision on every rank (the evaluation results live on rank 0 only)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    import torch
    device = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'
    tensor = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(tensor, 0)
    return bool(tensor.item())


"""Stop a run at the first non-finite loss, with the checkpoints written so far left intact.

mmcv's runner keeps stepping on NaN, which silently destroys the weights; stopping at once keeps the last good
epoch checkpoint for a resume with a smaller learning rate or fp32.
"""
import math

from mmcv.runner import HOOKS, Hook

from afa.utils.errors import AfaError


class NonFiniteLossError(AfaError):
    """The training loss became NaN or infinite."""


@HOOKS.register_module()
class NanLossGuardHook(Hook):

    def after_train_iter(self, runner):
        loss = runner.outputs.get('loss') if isinstance(runner.outputs, dict) else None
        if loss is None:
            return
        value = float(loss.detach()) if hasattr(loss, 'detach') else float(loss)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                'loss is %s at epoch %d, iteration %d (%s); the checkpoints in %s are kept: lower the learning '
                'rate or use --precision fp32, then rerun to resume from the last one'
                % (value, runner.epoch + 1, runner.inner_iter + 1, runner.outputs.get('log_vars'),
                   runner.work_dir))

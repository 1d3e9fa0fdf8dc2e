"""Gradient accumulation as mmcv optimizer hooks, on mmcv 1.3.11 (which has none) and 1.7.x alike.

A run on fewer devices than its recipe keeps the recipe's update by summing the gradients of ``accumulation``
micro-batches before one optimizer step (afa/planning/batch.py chooses the split). Each micro-batch's loss is
divided by the number of micro-batches of its group, so the summed gradient is the mean over the effective
batch, as DDP's average over the recipe's GPUs is. Loss scaling (native AMP, apex), gradient clipping and the
non-finite check act on the accumulated gradient, at the group's last micro-batch only. An epoch's last group
may be shorter (the epoch's micro-batches need not divide evenly): it is stepped at the epoch's end, so an epoch
boundary is always a group boundary, and no checkpoint or resume ever holds half a group.

mmcv's iteration counter counts micro-batches. The lr and momentum hooks are shown the optimizer-step count
instead (OptimizerStepView), so the warm-up (500 optimizer steps in the paper) and every iteration-based policy
follow the same curve over optimizer steps as on the recipe's 8 GPUs; lr steps by epoch are unchanged.
"""
import math

from mmcv.runner import HOOKS, OptimizerHook

from afa.training.hooks.apex_optimizer import ApexOptimizerHook, _amp
from afa.training.hooks.nan_guard import NonFiniteLossError

try:  # mmcv's native-AMP hook (torch >= 1.6: both stacks)
    from mmcv.runner import Fp16OptimizerHook
except ImportError:  # pragma: no cover
    Fp16OptimizerHook = None


def at_accumulation_boundary(runner):
    """True when no micro-batch gradient is waiting for its optimizer step: the only moments a checkpoint may be
    written (the optimizer hooks run before the checkpoint hook in every after_train_iter)."""
    hook = accumulation_hook(runner)
    return hook is None or hook.pending == 0


def accumulation_hook(runner):
    """The run's accumulating optimizer hook, or None (no accumulation)."""
    for hook in getattr(runner, '_hooks', getattr(runner, 'hooks', [])):
        if isinstance(hook, _Accumulation):
            return hook
    return None


def _epoch_length(runner):
    loader = getattr(runner, 'data_loader', None)
    try:
        return len(loader)
    except TypeError:  # an iteration-based runner: no epoch end to flush at
        return None


class OptimizerStepView(object):
    """``runner`` as an lr or momentum hook should see it under accumulation: ``iter`` and ``max_iters`` count
    optimizer steps, ``data_loader`` is as long as an epoch's optimizer steps; everything else is the runner."""

    def __init__(self, runner, accumulation):
        object.__setattr__(self, '_runner', runner)
        object.__setattr__(self, '_accumulation', accumulation)

    def __getattr__(self, name):
        return getattr(self._runner, name)

    def __setattr__(self, name, value):
        setattr(self._runner, name, value)

    def _steps_per_epoch(self):
        length = _epoch_length(self._runner)
        return None if length is None else int(math.ceil(length / float(self._accumulation)))

    @property
    def iter(self):
        per_epoch = self._steps_per_epoch()
        if per_epoch is None:
            return self._runner.iter // self._accumulation
        return self._runner.epoch * per_epoch + self._runner.inner_iter // self._accumulation

    @property
    def max_iters(self):
        per_epoch = self._steps_per_epoch()
        if per_epoch is None or not self._runner.max_epochs:
            return self._runner.max_iters // self._accumulation
        return self._runner.max_epochs * per_epoch

    @property
    def data_loader(self):
        return range(self._steps_per_epoch() or 0)


class CountedInOptimizerSteps(object):
    """Wraps an lr or momentum hook so that it runs on an OptimizerStepView of the runner."""

    def __init__(self, hook, accumulation):
        self.hook = hook
        self.accumulation = accumulation

    def __getattr__(self, name):
        attr = getattr(self.hook, name)
        if not callable(attr) or not (name.startswith('before_') or name.startswith('after_')):
            return attr
        return lambda runner, *args: attr(OptimizerStepView(runner, self.accumulation), *args)


def _is_schedule_hook(hook):
    from mmcv.runner.hooks import LrUpdaterHook
    from mmcv.runner.hooks.momentum_updater import MomentumUpdaterHook
    return isinstance(hook, (LrUpdaterHook, MomentumUpdaterHook))


class _Accumulation(object):
    """The group bookkeeping shared by the fp32, native-AMP and apex hooks."""

    def _init_accumulation(self, accumulation):
        self.accumulation = int(accumulation)
        if self.accumulation < 1:
            raise ValueError('accumulation must be 1 or more, got %r' % accumulation)
        self.pending = 0  # micro-batches whose gradients wait for the optimizer step

    def _count_schedules_in_optimizer_steps(self, runner):
        """Show every lr and momentum hook the optimizer-step count (before_run: they are registered by now)."""
        hooks = runner._hooks
        for index, hook in enumerate(hooks):
            if _is_schedule_hook(hook):
                hooks[index] = CountedInOptimizerSteps(hook, self.accumulation)

    def group_size(self, runner):
        """Micro-batches in the group of the current one: ``accumulation``, less for an epoch's short last group."""
        length = _epoch_length(runner)
        if length is None:
            return self.accumulation
        start = (runner.inner_iter // self.accumulation) * self.accumulation
        return min(self.accumulation, length - start)

    def is_group_start(self, runner):
        index = runner.inner_iter if _epoch_length(runner) is not None else runner.iter
        return index % self.accumulation == 0

    def is_boundary(self, runner):
        """Is the current micro-batch the last of its group (the optimizer steps after it)?"""
        length = _epoch_length(runner)
        if length is None:
            return (runner.iter + 1) % self.accumulation == 0
        return (runner.inner_iter + 1) % self.accumulation == 0 or runner.inner_iter + 1 == length

    def before_train_iter(self, runner):
        """Under DDP, synchronise gradients only on the group's last backward (no_sync for the others)."""
        if hasattr(runner.model, 'require_backward_grad_sync'):
            runner.model.require_backward_grad_sync = self.is_boundary(runner)

    def before_train_epoch(self, runner):
        self.pending = 0  # an epoch always starts a group (a resume starts at one too)

    def _loss(self, runner):
        return runner.outputs['loss'] / self.group_size(runner)

    def _clip_and_check(self, runner, params):
        """Clip the accumulated gradient (logging its norm); a non-finite norm stops the run in fp32."""
        if self.grad_clip is None:
            return None
        grad_norm = self.clip_grads(params)
        if grad_norm is not None:
            runner.log_buffer.update({'grad_norm': float(grad_norm)}, runner.outputs['num_samples'])
        return grad_norm

    def _stepped(self):
        self.pending = 0


@HOOKS.register_module()
class AccumulatingOptimizerHook(_Accumulation, OptimizerHook):
    """fp32: ``accumulation`` backward passes, then clipping and one optimizer step."""

    def __init__(self, accumulation=1, grad_clip=None):
        OptimizerHook.__init__(self, grad_clip=grad_clip)
        self._init_accumulation(accumulation)

    def before_run(self, runner):
        self._count_schedules_in_optimizer_steps(runner)

    def after_train_iter(self, runner):
        if self.is_group_start(runner):
            runner.model.zero_grad()
            runner.optimizer.zero_grad()
        self._loss(runner).backward()
        self.pending += 1
        if not self.is_boundary(runner):
            return
        grad_norm = self._clip_and_check(runner, runner.model.parameters())
        if grad_norm is not None and not math.isfinite(float(grad_norm)):
            raise NonFiniteLossError(
                'the accumulated gradient is %s at epoch %d, iteration %d; the checkpoints in %s are kept: lower '
                'the learning rate, then rerun to resume from the last one'
                % (float(grad_norm), runner.epoch + 1, runner.inner_iter + 1, runner.work_dir))
        runner.optimizer.step()
        self._stepped()


if Fp16OptimizerHook is not None:
    @HOOKS.register_module()
    class AccumulatingFp16OptimizerHook(_Accumulation, Fp16OptimizerHook):
        """Native AMP (torch.cuda.amp.GradScaler): scaled backward passes, then one unscale, clip, step and
        scale update on the accumulated gradient (an overflow skips the whole group's step, as it should)."""

        def __init__(self, accumulation=1, grad_clip=None, loss_scale='dynamic', distributed=True, **kwargs):
            Fp16OptimizerHook.__init__(self, grad_clip=grad_clip, loss_scale=loss_scale, distributed=distributed,
                                       **kwargs)
            self._init_accumulation(accumulation)

        def before_run(self, runner):
            Fp16OptimizerHook.before_run(self, runner)
            self._count_schedules_in_optimizer_steps(runner)

        def after_train_iter(self, runner):
            if self.is_group_start(runner):
                runner.model.zero_grad()
                runner.optimizer.zero_grad()
            self.loss_scaler.scale(self._loss(runner)).backward()
            self.pending += 1
            if not self.is_boundary(runner):
                return
            self.loss_scaler.unscale_(runner.optimizer)
            self._clip_and_check(runner, runner.model.parameters())
            self.loss_scaler.step(runner.optimizer)
            self.loss_scaler.update(self._scale_update_param)
            runner.meta.setdefault('fp16', {})['loss_scaler'] = self.loss_scaler.state_dict()
            self._stepped()


@HOOKS.register_module()
class AccumulatingApexOptimizerHook(_Accumulation, ApexOptimizerHook):
    """apex O1: the loss scaled per micro-batch with unscaling delayed to the group's last one, then clipping of
    the fp32 master gradients and one step."""

    def __init__(self, accumulation=1, opt_level='O1', grad_clip=None, loss_scale='dynamic'):
        ApexOptimizerHook.__init__(self, opt_level=opt_level, grad_clip=grad_clip, loss_scale=loss_scale)
        self._init_accumulation(accumulation)

    def before_run(self, runner):
        ApexOptimizerHook.before_run(self, runner)
        self._count_schedules_in_optimizer_steps(runner)

    def after_train_iter(self, runner):
        amp = _amp()
        if self.is_group_start(runner):
            runner.optimizer.zero_grad()
        boundary = self.is_boundary(runner)
        with amp.scale_loss(self._loss(runner), runner.optimizer, delay_unscale=not boundary) as scaled_loss:
            scaled_loss.backward()
        self.pending += 1
        if not boundary:
            return
        self._clip_and_check(runner, amp.master_params(runner.optimizer))
        runner.optimizer.step()
        self._stepped()


# The accumulating hook that stands in for each optimizer hook type a config can name (afa/training/setup.py).
ACCUMULATING = {
    None: 'AccumulatingOptimizerHook', 'OptimizerHook': 'AccumulatingOptimizerHook',
    'Fp16OptimizerHook': 'AccumulatingFp16OptimizerHook', 'ApexOptimizerHook': 'AccumulatingApexOptimizerHook',
}

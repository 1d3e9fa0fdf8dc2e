"""NVIDIA apex O1 mixed precision as an mmcv optimizer hook (what the paper's README describes).

apex O1 patches torch functions to run in fp16 where safe and scales the loss; the model keeps fp32 weights.
``amp.initialize`` is applied to the unwrapped model and the optimizer before the first iteration.
"""
from mmcv.runner import HOOKS, OptimizerHook

from afa.utils.errors import AfaError
from afa.runs.precision import apex_available  # noqa: F401  (re-exported)


def _amp():
    """apex.amp, or the error a user can act on (a config that names this hook on a machine without apex)."""
    try:
        from apex import amp
    except ImportError as e:
        raise AfaError('ApexOptimizerHook (precision "apex") needs NVIDIA apex, which cannot be imported here '
                       '(%s); build it as in docker/Dockerfile, or train with --precision amp' % e) from None
    return amp


@HOOKS.register_module()
class ApexOptimizerHook(OptimizerHook):

    def __init__(self, opt_level='O1', grad_clip=None, loss_scale='dynamic'):
        super(ApexOptimizerHook, self).__init__(grad_clip=grad_clip)
        self.opt_level = opt_level
        self.loss_scale = loss_scale

    def before_run(self, runner):
        amp = _amp()
        model = getattr(runner.model, 'module', runner.model)
        for module in model.modules():  # the AFA blocks' one-dtype paths (afa/layers/block.py): off under O1
            if hasattr(module, 'mixed_precision'):
                module.mixed_precision = True
        _, runner.optimizer = amp.initialize(model, runner.optimizer, opt_level=self.opt_level,
                                             loss_scale=self.loss_scale)

    def after_train_iter(self, runner):
        amp = _amp()
        runner.optimizer.zero_grad()
        with amp.scale_loss(runner.outputs['loss'], runner.optimizer) as scaled_loss:
            scaled_loss.backward()
        if self.grad_clip is not None:
            grad_norm = self.clip_grads(amp.master_params(runner.optimizer))
            if grad_norm is not None:
                runner.log_buffer.update({'grad_norm': float(grad_norm)}, runner.outputs['num_samples'])
        runner.optimizer.step()

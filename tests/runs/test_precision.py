"""Precision selection on CPU: what each precision name (layout.PRECISIONS) turns into, and the clear errors."""
import pytest

from afa.runs import zoo as zoo_mod
from afa.utils.errors import AfaError
from afa.runs.precision import apex_available, apply_precision, resolve_precision
from afa.runs.spec import RunSpec


@pytest.mark.parametrize('requested, has_apex, expected', [
    ('fp32', False, 'fp32'), ('amp', False, 'amp'), ('mixed', True, 'apex'), ('mixed', False, 'amp'),
    ('apex', True, 'apex'),
])
def test_resolution(requested, has_apex, expected):
    assert resolve_precision(requested, has_apex=has_apex) == expected


def test_apex_asked_for_but_absent_is_a_clear_error():
    with pytest.raises(AfaError, match='needs NVIDIA apex.*--precision amp'):
        resolve_precision('apex', has_apex=False)
    with pytest.raises(AfaError, match='unknown precision'):
        resolve_precision('fp8')


def test_amp_uses_mmdets_fp16_path_and_apex_our_hook_keeping_grad_clip():
    assert apply_precision({}, 'amp') == {'fp16': {'loss_scale': 'dynamic'}}
    cfg = apply_precision({'optimizer_config': {'grad_clip': {'max_norm': 0.1, 'norm_type': 2}}}, 'apex')
    assert cfg['optimizer_config'] == {'type': 'ApexOptimizerHook', 'opt_level': 'O1',
                                       'grad_clip': {'max_norm': 0.1, 'norm_type': 2}}
    assert apply_precision({'optimizer_config': {}}, 'fp32') == {'optimizer_config': {}}


def test_apex_hook_builds_from_the_config_through_mmcvs_registry():
    pytest.importorskip('mmcv')
    from mmcv.runner import HOOKS
    from mmcv.utils import build_from_cfg
    import afa.training.hooks  # noqa: F401
    hook = build_from_cfg(dict(type='ApexOptimizerHook', opt_level='O1', grad_clip=None), HOOKS)
    assert type(hook).__name__ == 'ApexOptimizerHook' and hook.opt_level == 'O1'


def test_run_ids_carry_the_requested_precision():
    pytest.importorskip('mmcv')
    zoo = zoo_mod.load()
    spec = RunSpec('cmrcn_r50_mssa_adp_1x', zoo=zoo, precision='mixed')
    assert spec.run_id == 'cmrcn_r50_mssa_adp_1x@mixed'
    assert spec.precision == ('apex' if apex_available() else 'amp')
    cfg = spec.build_config()
    if spec.precision == 'amp':
        assert cfg.fp16 == dict(loss_scale='dynamic') and cfg.optimizer_config.get('type') != 'ApexOptimizerHook'
    else:
        assert cfg.optimizer_config.type == 'ApexOptimizerHook' and cfg.get('fp16') is None
    assert RunSpec('cmrcn_r50_mssa_adp_1x', zoo=zoo).build_config().get('fp16') is None


# A stand-in for NVIDIA apex's amp API on a CPU (apex needs CUDA to build): fp32 semantics, every call recorded,
# so that the hook's own logic runs in a real mmcv runner.
APEX_STANDIN = {
    'apex/__init__.py': '',
    'apex/amp.py': """import contextlib
calls = []


def initialize(model, optimizer, opt_level, loss_scale):
    calls.append(('initialize', model, opt_level, loss_scale))
    return model, optimizer


@contextlib.contextmanager
def scale_loss(loss, optimizer):
    calls.append(('scale_loss', float(loss)))
    yield loss


def master_params(optimizer):
    for group in optimizer.param_groups:
        for p in group['params']:
            yield p
""",
}


def run_hook_in_a_real_runner(tmp_path, iterations=3):
    """Train a linear model for ``iterations`` steps with mmcv's EpochBasedRunner and the apex hook."""
    import logging
    import torch
    from mmcv.parallel import MMDataParallel
    from mmcv.runner import EpochBasedRunner
    from afa.training.hooks.apex_optimizer import ApexOptimizerHook

    class Tiny(torch.nn.Module):
        def __init__(self):
            super(Tiny, self).__init__()
            self.fc = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(x)

        def train_step(self, data, optimizer):
            loss = ((self.fc(data) - 1.0) ** 2).mean() * 100  # large gradients: clipping has work to do
            return dict(loss=loss, log_vars={'loss': loss.item()}, num_samples=len(data))

    torch.manual_seed(0)
    model = MMDataParallel(Tiny(), device_ids=None)
    before = model.module.fc.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    runner = EpochBasedRunner(model, optimizer=optimizer, work_dir=str(tmp_path), logger=logging.getLogger('t'),
                              max_epochs=1)
    runner.register_hook(ApexOptimizerHook(grad_clip=dict(max_norm=1.0, norm_type=2)), priority='ABOVE_NORMAL')
    runner.run([[torch.randn(2, 4) for _ in range(iterations)]], [('train', 1)])
    return model, before, runner


def test_apex_hook_runs_in_a_real_runner(tmp_path, monkeypatch):
    pytest.importorskip('mmcv')
    for name, text in APEX_STANDIN.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ('apex', 'apex.amp'):  # imported fresh from the stand-in, and forgotten after the test
        monkeypatch.setitem(__import__('sys').modules, module, None)
        monkeypatch.delitem(__import__('sys').modules, module)
    model, before, runner = run_hook_in_a_real_runner(tmp_path / 'work')
    from apex import amp
    kinds = [c[0] for c in amp.calls]
    assert kinds == ['initialize', 'scale_loss', 'scale_loss', 'scale_loss']
    assert amp.calls[0][1] is model.module and amp.calls[0][2:] == ('O1', 'dynamic')  # the unwrapped model
    assert not model.module.fc.weight.detach().equal(before)  # the optimizer stepped
    norms = runner.log_buffer.val_history['grad_norm']
    assert len(norms) == 3 and max(norms) > 1.0  # clipped gradients: the norm before clipping is logged


def test_apex_hook_without_apex_is_a_clear_error(tmp_path, monkeypatch):
    pytest.importorskip('mmcv')
    monkeypatch.setitem(__import__('sys').modules, 'apex', None)  # import apex fails, as on a machine without it
    with pytest.raises(AfaError, match='ApexOptimizerHook .* needs NVIDIA apex.*--precision amp'):
        run_hook_in_a_real_runner(tmp_path)

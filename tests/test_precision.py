"""Precision selection on CPU: what 'fp32', 'amp', 'apex' and 'mixed' turn into, and the clear errors."""
import pytest

from afa import zoo as zoo_mod
from afa.errors import AfaError
from afa.precision import apex_available, apply_precision, resolve_precision
from afa.runconfig import RunSpec


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
    import afa.hooks  # noqa: F401
    hook = build_from_cfg(dict(type='ApexOptimizerHook', opt_level='O1', grad_clip=None), HOOKS)
    assert type(hook).__name__ == 'ApexOptimizerHook' and hook.opt_level == 'O1'


def test_run_ids_carry_the_requested_precision():
    pytest.importorskip('mmcv')
    zoo = zoo_mod.load()
    spec = RunSpec('cmrcn_r50_mssa_adp_1x', zoo=zoo, precision='mixed')
    assert spec.run_id == 'cmrcn_r50_mssa_adp_1x@mixed'
    assert spec.precision == ('apex' if apex_available() else 'amp')
    cfg = spec.build_config()
    assert cfg.fp16 == dict(loss_scale='dynamic') or cfg.optimizer_config.type == 'ApexOptimizerHook'
    assert RunSpec('cmrcn_r50_mssa_adp_1x', zoo=zoo).build_config().get('fp16') is None

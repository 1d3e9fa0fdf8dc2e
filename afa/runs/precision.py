"""Numeric precision of a run: fp32 (the paper's configs), native AMP, NVIDIA apex O1, or 'mixed' (the paper
README's mixed precision: apex O1 where apex is installed, native AMP otherwise). No mmcv import here."""
from afa.runs.layout import PRECISIONS
from afa.utils.errors import AfaError


def apex_available():
    """True when NVIDIA apex with its amp module imports."""
    try:
        from apex import amp  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_precision(precision, has_apex=None):
    """The precision actually used for a requested one."""
    if precision not in PRECISIONS:
        raise AfaError('unknown precision %r; expected one of %s' % (precision, ', '.join(PRECISIONS)))
    has_apex = apex_available() if has_apex is None else has_apex
    if precision == 'mixed':
        return 'apex' if has_apex else 'amp'
    if precision == 'apex' and not has_apex:
        raise AfaError('precision "apex" needs NVIDIA apex (import apex.amp failed); build it as in '
                       'docker/Dockerfile, or use --precision amp (native PyTorch AMP)')
    return precision


def apply_precision(cfg, precision):
    """Edit a config dict for a resolved precision: mmdet's fp16 path (native torch.cuda.amp) for 'amp', the
    ApexOptimizerHook (apex O1, keeping the recipe's gradient clipping) for 'apex'."""
    if precision == 'amp':
        cfg['fp16'] = dict(loss_scale='dynamic')
    elif precision == 'apex':
        optimizer_config = dict(cfg.get('optimizer_config') or {})
        optimizer_config.pop('type', None)
        cfg['optimizer_config'] = dict(type='ApexOptimizerHook', opt_level='O1', **optimizer_config)
    return cfg

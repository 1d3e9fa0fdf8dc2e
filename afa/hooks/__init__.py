"""Training hooks registered in mmcv's HOOKS registry on import."""
from .apex_optimizer import ApexOptimizerHook, apex_available
from .nan_guard import NanLossGuardHook

__all__ = ['ApexOptimizerHook', 'apex_available', 'NanLossGuardHook']

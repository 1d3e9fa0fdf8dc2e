"""Training hooks registered in mmcv's HOOKS registry on import."""
from .apex_optimizer import ApexOptimizerHook, apex_available
from .atomic_checkpoint import AtomicCheckpointHook
from .nan_guard import NanLossGuardHook

__all__ = ['ApexOptimizerHook', 'apex_available', 'AtomicCheckpointHook', 'NanLossGuardHook']

"""Training hooks registered in mmcv's HOOKS registry on import."""
from afa.hooks.accumulation import (AccumulatingApexOptimizerHook, AccumulatingOptimizerHook,
                                    at_accumulation_boundary)
from afa.hooks.apex_optimizer import ApexOptimizerHook, apex_available
from afa.hooks.atomic_checkpoint import AtomicCheckpointHook
from afa.hooks.nan_guard import NanLossGuardHook

__all__ = ['AccumulatingApexOptimizerHook', 'AccumulatingOptimizerHook', 'ApexOptimizerHook', 'apex_available',
           'at_accumulation_boundary', 'AtomicCheckpointHook', 'NanLossGuardHook']

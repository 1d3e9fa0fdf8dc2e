"""Training hooks registered in mmcv's HOOKS registry on import."""
from afa.hooks.accumulation import (AccumulatingApexOptimizerHook, AccumulatingOptimizerHook,
                                    at_accumulation_boundary)
from afa.hooks.ap_alarm import ApAlarmHook
from afa.hooks.apex_optimizer import ApexOptimizerHook, apex_available
from afa.hooks.atomic_checkpoint import AtomicCheckpointHook
from afa.hooks.continuation import ContinuationHook
from afa.hooks.nan_guard import NanLossGuardHook
from afa.hooks.throughput import ThroughputHook

__all__ = ['AccumulatingApexOptimizerHook', 'AccumulatingOptimizerHook', 'ApAlarmHook', 'ApexOptimizerHook',
           'apex_available', 'at_accumulation_boundary', 'AtomicCheckpointHook', 'ContinuationHook',
           'NanLossGuardHook', 'ThroughputHook']

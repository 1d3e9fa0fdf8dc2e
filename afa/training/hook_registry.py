"""Every training hook of afa, registered in mmcv's HOOKS on import (afa/integration/registration.py imports this
module once mmcv.runner is loaded)."""
from afa.training.alarm.hook import ApAlarmHook
from afa.training.continuation.hook import ContinuationHook
from afa.training.hooks import (AccumulatingApexOptimizerHook, AccumulatingOptimizerHook, ApexOptimizerHook,
                                AtomicCheckpointHook, NanLossGuardHook, ThroughputHook)

__all__ = ['AccumulatingApexOptimizerHook', 'AccumulatingOptimizerHook', 'ApAlarmHook', 'ApexOptimizerHook',
           'AtomicCheckpointHook', 'ContinuationHook', 'NanLossGuardHook', 'ThroughputHook']

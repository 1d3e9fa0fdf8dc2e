"""mmcv hooks of training that serve every run: gradient accumulation, apex, whole-or-nothing checkpoints, the
loss guard and the throughput log. The early alarm's and continuation's hooks live with their features
(afa/training/alarm/, afa/training/continuation/); afa/training/hook_registry.py registers them all."""
import mmcv.runner  # noqa: F401  (first: it registers every hook of afa before any module of this package runs)

from afa.training.hooks.accumulation import (AccumulatingApexOptimizerHook, AccumulatingOptimizerHook,
                                             at_accumulation_boundary)
from afa.training.hooks.apex_optimizer import ApexOptimizerHook, apex_available
from afa.training.hooks.atomic_checkpoint import AtomicCheckpointHook
from afa.training.hooks.json_log import SignificantTextLoggerHook
from afa.training.hooks.nan_guard import NanLossGuardHook
from afa.training.hooks.throughput import ThroughputHook

__all__ = ['AccumulatingApexOptimizerHook', 'AccumulatingOptimizerHook', 'ApexOptimizerHook', 'apex_available',
           'at_accumulation_boundary', 'AtomicCheckpointHook', 'NanLossGuardHook', 'SignificantTextLoggerHook',
           'ThroughputHook']

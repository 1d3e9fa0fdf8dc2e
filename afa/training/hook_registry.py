"""Every training hook of afa, registered in mmcv's HOOKS on import (afa/integration/registration.py imports this
module once mmcv.runner is loaded).

Plain ``import`` statements, no names taken: mmcv.runner may be loaded by one of these modules while it is itself
being imported (it is then in sys.modules, partly run, and registers its hook when it finishes)."""
import afa.training.alarm.hook  # noqa: F401  (ApAlarmHook)
import afa.training.continuation.hook  # noqa: F401  (ContinuationHook)
import afa.training.hooks.accumulation  # noqa: F401  (AccumulatingOptimizerHook, AccumulatingApexOptimizerHook)
import afa.training.hooks.apex_optimizer  # noqa: F401  (ApexOptimizerHook)
import afa.training.hooks.atomic_checkpoint  # noqa: F401  (AtomicCheckpointHook)
import afa.training.hooks.json_log  # noqa: F401  (SignificantTextLoggerHook)
import afa.training.hooks.nan_guard  # noqa: F401  (NanLossGuardHook)
import afa.training.hooks.throughput  # noqa: F401  (ThroughputHook)

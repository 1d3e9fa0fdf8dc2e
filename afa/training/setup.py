"""The configuration step of training, kept pure (no files, no processes, no CUDA calls): from a run's resolved
config and the process layout to the exact config mmdet's `train_detector` receives, and the run record.

Pure so that a test can check what a run will do (hooks, seed, devices, resume point) without training it.
"""
from afa.runs import layout
from afa.runs.spec import config_hash


class Layout(object):
    """Where this process trains: device, rank and world size."""

    def __init__(self, use_cuda, distributed=False, rank=0, world_size=1):
        self.use_cuda = use_cuda
        self.distributed = distributed
        self.rank = rank
        self.world_size = world_size

    @property
    def device(self):
        return 'cuda' if self.use_cuda else 'cpu'

    @property
    def gpus(self):
        """GPUs the run uses (0 on CPU)."""
        return self.world_size if self.distributed else int(self.use_cuda)


def training_config(cfg, spec, layout, resume_from=None):
    """``cfg`` (an mmcv Config, changed in place and returned) set up for mmdet's train_detector: devices, seed,
    the NaN guard, atomic checkpoints that carry the run's identity, and the checkpoint to resume from."""
    cfg.gpu_ids = list(range(layout.world_size)) if layout.distributed else [0]
    cfg.device = layout.device
    cfg.seed = spec.seed
    custom_hooks = list(cfg.get('custom_hooks', []))
    custom_hooks.append(dict(type='NanLossGuardHook', priority='VERY_HIGH'))
    custom_hooks.append(dict(type='ThroughputHook'))
    # after the optimizer step (ABOVE_NORMAL), before the loggers (VERY_LOW): see afa/hooks/continuation.py
    custom_hooks.append(dict(type='ContinuationHook', seed=spec.seed, priority='LOW'))
    cfg.custom_hooks = custom_hooks
    cfg.log_config = with_tensorboard(cfg.log_config, cfg.work_dir)
    cfg.resume_from = resume_from
    cfg.checkpoint_config = dict(cfg.get('checkpoint_config') or {}, type='AtomicCheckpointHook',
                                 meta=dict(afa_run_id=spec.run_id, afa_scale=spec.scale))
    return cfg


def with_tensorboard(log_config, work_dir):
    """mmcv's log_config plus its TensorBoard logger (losses, lr, throughput, validation AP) into RUN/tensorboard,
    at the text log's interval, so that curves can be watched while a run trains."""
    hooks = [h for h in log_config.get('hooks', []) if h.get('type') != 'TensorboardLoggerHook']
    hooks.append(dict(type='TensorboardLoggerHook', log_dir=layout.tensorboard_dir(work_dir)))
    return dict(log_config, hooks=hooks)


def checkpoint_meta(cfg, mmdet_version, classes):
    """Complete the checkpoints' meta once the dataset (its class names) is built."""
    cfg.checkpoint_config.meta = dict(cfg.checkpoint_config.meta, mmdet_version=mmdet_version, CLASSES=classes)


def run_record(cfg, spec, layout, deterministic, fixes, provenance):
    """What `run.json` says of this start: what was asked, where it ran, the config hash and what it resumed."""
    return dict(spec.describe(), gpus=layout.gpus, seed=spec.seed, deterministic=deterministic,
                device=layout.device, config_sha256=config_hash(cfg), resumed_from=cfg.resume_from,
                library_fixes=fixes, provenance=provenance)


def should_validate(spec, validate=None):
    """Evaluate on val after each epoch: by default for real runs, not at the smoke scale."""
    return spec.scale == 'paper' if validate is None else validate


def validation_config(cfg, validate):
    """An explicit --validate evaluates after every epoch, also at the smoke scale (whose config evaluates only
    past its last epoch, i.e. never, to keep smoke runs short)."""
    if validate:
        cfg.evaluation = dict(cfg.get('evaluation') or {}, interval=1)
    return cfg

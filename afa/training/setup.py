"""The configuration step of training, kept pure (no files, no processes, no CUDA calls): from a run's resolved
config, the process group and the batch plan to the exact config mmdet's `train_detector` receives, and the run record.

Pure so that a test can check what a run will do (hooks, seed, devices, resume point) without training it.
"""
from afa.runs import layout


class ProcessGroup(object):
    """Where this process trains: device, rank and world size, and how many nodes the world spans."""

    def __init__(self, use_cuda, distributed=False, rank=0, world_size=1, nodes=1):
        self.use_cuda = use_cuda
        self.distributed = distributed
        self.rank = rank
        self.world_size = world_size
        self.nodes = nodes

    @property
    def per_node(self):
        """Processes per node: GPUs, or on CPU the processes standing in for them."""
        return self.world_size // self.nodes

    @property
    def device(self):
        return 'cuda' if self.use_cuda else 'cpu'

    @property
    def gpus(self):
        """GPUs the run uses (0 on CPU)."""
        return self.world_size if self.distributed else int(self.use_cuda)


def check_optimizer(cfg):
    """AfaError naming the optimizer's settings when torch refuses them (a negative lr, a momentum out of range,
    an unknown argument: from the config or --cfg-options), found by building it on a one-weight module before
    anything of the run is written or launched (not deep in mmdet's training, after run.json and a job segment)."""
    import torch
    from mmcv.runner import build_optimizer
    from afa.utils.errors import AfaError
    try:
        build_optimizer(torch.nn.Linear(1, 1), cfg.optimizer)
    except (ValueError, TypeError, KeyError) as e:
        raise AfaError('the optimizer %s cannot be built: %s; fix the config or --cfg-options optimizer.*'
                       % (dict(cfg.optimizer), e)) from None


def batch_plan(spec, group, max_imgs_per_gpu=None):
    """The BatchPlan of this run on this process group (AfaError naming the plans that can, when none)."""
    from afa.planning.batch import split
    return split(spec.batch, group.per_node, group.nodes, max_imgs_per_gpu,
                 'GPU' if group.use_cuda else 'process')


def plan_fits(plan, group):
    """True when a plan made before launch (`afa train`'s refusal) is this process group's: same processes, same
    nodes. Otherwise (no plan handed on, or another group) the plan is made from the group (batch_plan)."""
    return plan is not None and (plan.processes, plan.nodes) == (group.world_size, group.nodes)


def apply_batch_plan(cfg, batch):
    """Images per process and, when the batch needs several micro-batches per step, the accumulating optimizer
    hook standing in for the config's (same clipping, same precision). The recipe's own plan leaves the config
    as it is."""
    from afa.training.hooks.accumulation import ACCUMULATING
    cfg.data.samples_per_gpu = batch.imgs_per_device
    if batch.accumulation == 1:
        return cfg
    optimizer_config = dict(cfg.get('optimizer_config') or {})
    kind = optimizer_config.pop('type', None)
    fp16 = cfg.pop('fp16', None)  # mmdet would build its own Fp16OptimizerHook from it
    if fp16 is not None:
        kind = 'Fp16OptimizerHook'
        optimizer_config.update(fp16)
    if kind not in ACCUMULATING:
        from afa.utils.errors import AfaError
        raise AfaError('optimizer_config.type %s has no accumulating counterpart (known: %s); train with a plan '
                       'without accumulation (--gpus %d)' % (kind, ', '.join(k for k in ACCUMULATING if k),
                                                            batch.effective_batch // batch.imgs_per_device))
    cfg.optimizer_config = dict(optimizer_config, type=ACCUMULATING[kind], accumulation=batch.accumulation)
    return cfg


def training_config(cfg, spec, group, resume_from=None, batch=None):
    """``cfg`` (an mmcv Config, changed in place and returned) set up for mmdet's train_detector: devices, seed,
    the batch plan, the NaN guard, atomic checkpoints that carry the run's identity, and the checkpoint to
    resume from."""
    if batch is not None:
        apply_batch_plan(cfg, batch)
    cfg.gpu_ids = list(range(group.world_size)) if group.distributed else [0]
    cfg.device = group.device
    cfg.seed = spec.seed
    custom_hooks = list(cfg.get('custom_hooks', []))
    custom_hooks.append(dict(type='NanLossGuardHook', priority='VERY_HIGH'))
    custom_hooks.append(dict(type='ThroughputHook'))
    # after the optimizer step (ABOVE_NORMAL), before the loggers (VERY_LOW): see afa/training/continuation/hook.py
    custom_hooks.append(dict(type='ContinuationHook', seed=spec.seed, priority='LOW'))
    cfg.custom_hooks = custom_hooks
    cfg.log_config = logger_hooks(cfg.log_config, cfg.work_dir)
    cfg.resume_from = resume_from
    cfg.checkpoint_config = dict(cfg.get('checkpoint_config') or {}, type='AtomicCheckpointHook',
                                 meta=dict(afa_run_id=spec.run_id, afa_scale=spec.scale))
    return cfg


def logger_hooks(log_config, run_folder):
    """mmcv's log_config with the text logger's JSON log at 6 significant digits (hooks/json_log.py: mmcv's 5
    decimals wrote a warm-up lr of 1e-7 as 0.0), plus its TensorBoard logger (losses, lr, throughput, validation
    AP) into RUN/tensorboard at the same interval, so that curves can be watched while a run trains."""
    hooks = [dict(h, type='SignificantTextLoggerHook') if h.get('type') == 'TextLoggerHook' else h
             for h in log_config.get('hooks', []) if h.get('type') != 'TensorboardLoggerHook']
    hooks.append(dict(type='TensorboardLoggerHook', log_dir=layout.tensorboard_dir(run_folder)))
    return dict(log_config, hooks=hooks)


def checkpoint_meta(cfg, mmdet_version, classes):
    """Complete the checkpoints' meta once the dataset (its class names) is built."""
    cfg.checkpoint_config.meta = dict(cfg.checkpoint_config.meta, mmdet_version=mmdet_version, CLASSES=classes)


def asked(spec, group, deterministic):
    """What `run.json` says was asked of this start, and where it runs (RunFolder.start_record completes it)."""
    return dict(spec.describe(), gpus=group.gpus, seed=spec.seed, deterministic=deterministic, device=group.device)


def should_validate(spec, validate=None):
    """Evaluate on val after each epoch: by default for real runs and their rehearsal, not at the smoke scale."""
    return spec.scale != 'smoke' if validate is None else validate


def validation_config(cfg, validate):
    """An explicit --validate evaluates after every epoch, also at the smoke scale (whose config evaluates only
    past its last epoch, i.e. never, to keep smoke runs short)."""
    if validate:
        cfg.evaluation = dict(cfg.get('evaluation') or {}, interval=1)
    return cfg

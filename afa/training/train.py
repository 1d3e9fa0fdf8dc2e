"""`afa train`: one run of one row on mmdet's runner, resumable, never retrained once finished.

The same command serves a CPU, one GPU and N GPUs (with --gpus N > 1 it relaunches itself: afa/training/launch.py).
A run's folder holds mmdet's logs and checkpoints, ``config.py`` (the resolved config), ``run.json`` (what
was asked and where) and, only once training finished, ``train_done.json`` (final checkpoint, its sha256,
provenance). A rerun resumes from the newest checkpoint that reads back completely; a finished run returns at
once. Rerunning is safe: the run folder (afa/runs/folder.py) is held by one process at a time, its checkpoints
appear whole or not at all, and a folder trained under another config is refused unless --retrain moves it aside.

The steps, in order, as mmdet's apis/train.py and detectron2's DefaultTrainer order them: claim the folder
(claim), check the inputs and set up the config (setup, pure), fit (mmdet's train_detector), finish (finish).
"""
import os
import sys
import time

from afa.integration import compat
from afa.runs import layout, segments
from afa.runs.folder import RunFolder, claim
from afa.runs.spec import config_hash
from afa.data.checks import check_inputs
from afa.data.standin import describe_backbone
from afa.training import setup
from afa.training.alarm.reference import hook_config as alarm_hook_config
from afa.training.backbone_weights import init_checked
from afa.training.continuation import job_limit, layout_check as continued_layout, signals
from afa.training.continuation.signals import ContinueLater
from afa.utils import provenance
from afa.utils.errors import AfaError


def _say(line):
    print(line, file=sys.stderr, flush=True)


def train(spec, cfg, gpus=1, deterministic=False, launcher='none', validate=None, retrain=False, alarm=None,
          max_imgs_per_gpu=None, max_segments=segments.DEFAULT_MAX_SEGMENTS, stop_before_limit=0, plan=None):
    """Train the run described by ``spec`` (a RunSpec) with ``cfg``, its resolved config (spec.build_config(),
    made once by the caller; training completes it in place). Returns the path of train_done.json; raises ContinueLater
    when a stop signal ended this segment with a continuation checkpoint (the CLI exits CONTINUE_EXIT_CODE).
    ``alarm``: the early alarm's options (reference, offset, stop; afa/training/alarm/reference.py);
    ``max_imgs_per_gpu``: the cap of the batch plan (afa/planning/batch.py); ``plan``: the BatchPlan `afa train`
    made for its refusal before any launch (made here from the process group when not given)."""
    signals.install()
    if stop_before_limit and int(os.environ.get('RANK', '0')) == 0:
        job_limit.warn_before_end(stop_before_limit, say=_say)
    setup.check_optimizer(cfg)  # before the run folder is claimed or written
    spec.backbone_weights = describe_backbone(cfg.model.backbone)  # real or stand-in: in every record
    options = (alarm, max_imgs_per_gpu, max_segments, plan)
    if launcher != 'none' and int(os.environ.get('RANK', '0')) != 0:
        return _run(spec, cfg, gpus, deterministic, launcher, validate, *options)  # rank 0 holds the folder
    with claim(spec, cfg, retrain):
        return _run(spec, cfg, gpus, deterministic, launcher, validate, *options)


def _run(spec, cfg, gpus, deterministic, launcher, validate, alarm=None, max_imgs_per_gpu=None,
         max_segments=segments.DEFAULT_MAX_SEGMENTS, plan=None):
    folder = RunFolder(cfg.work_dir)
    if folder.is_trained():
        print('afa train: %s is already trained (%s); nothing to do' % (spec.run_id, folder.done_path), flush=True)
        return folder.done_path
    check_inputs(cfg, spec.scale)
    if int(os.environ.get('RANK', '0')) == 0:
        folder.remove_partial_saves(say=lambda line: print(line, flush=True))
    where = join_process_group(spec, cfg, gpus, launcher)
    batch = plan if setup.plan_fits(plan, where) else setup.batch_plan(spec, where, max_imgs_per_gpu)
    counted = setup.schedule_of(cfg, spec, batch)

    import afa
    afa.register_modules()
    fixes = compat.apply()
    from mmdet.apis import set_random_seed

    set_random_seed(spec.seed, deterministic=deterministic)
    resume_from = folder.resume_point(say=_say)
    continued_layout.check(folder, batch, 'GPU' if where.use_cuda else 'process', resume_from)
    setup.training_config(cfg, spec, where, resume_from, batch)
    validate = setup.should_validate(spec, validate)
    setup.validation_config(cfg, validate)
    alarm_hook = alarm_hook_config(spec, alarm or {}, where.rank == 0) if validate else None
    if alarm_hook:
        cfg.custom_hooks = list(cfg.custom_hooks) + [alarm_hook]
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    logger = _start_log(cfg, timestamp)
    if where.rank == 0:
        record = setup.run_record(cfg, spec, where, deterministic, fixes, provenance.record(), batch, counted)
        folder.write_config(cfg.pretty_text)
        folder.write_run_record(record)
    if cfg.resume_from:
        logger.info('afa: resuming %s from %s', spec.run_id, cfg.resume_from)
    logger.info('afa: %s on %s = %d images per optimizer step', spec.run_id,
                batch.describe('GPU' if where.use_cuda else 'process'), batch.effective_batch)
    if where.rank == 0:
        number = folder.begin_segment(spec.run_id, cfg.resume_from, max_segments)
        logger.info('afa: segment %d (at most %d) of %s', number, max_segments, spec.run_id)
    try:
        _fit(cfg, spec, where, validate, timestamp)
    except ContinueLater as stop:
        if where.rank == 0:
            folder.end_segment('continue', signal=stop.signal_name, checkpoint=os.path.basename(stop.checkpoint),
                               epoch=stop.epoch, iteration=stop.inner_iter, processes=batch.processes,
                               imgs_per_gpu=batch.imgs_per_device)  # the layout it continues under
            logger.info('afa: %s; run the same command to continue (exit %d)', stop, layout.CONTINUE_EXIT_CODE)
        raise
    except BaseException as e:
        if where.rank == 0:
            folder.end_segment('failed', error=type(e).__name__)
        raise
    stopped = alarm_hook and folder.stopped_by_alarm()
    if stopped:
        if where.rank == 0:
            folder.end_segment('failed', error='early alarm')
        raise AfaError('%s stopped by the early alarm (--alarm-stop): %s. Its checkpoints are kept in %s: '
                       '`afa train` again resumes it (without --alarm-stop to go on regardless)'
                       % (spec.run_id, stopped, cfg.work_dir))
    if where.rank == 0:
        folder.end_segment('finished')
        finish(cfg, spec, folder, batch.as_record(where.device), counted)
    return folder.done_path


def join_process_group(spec, cfg, gpus, launcher):
    """This process's device, rank and world size (joining the process group when launched distributed)."""
    import torch
    use_cuda = torch.cuda.is_available() and gpus > 0
    if spec.precision != 'fp32' and not use_cuda:
        raise AfaError('precision %r needs a CUDA GPU; on CPU use --precision fp32' % spec.precision)
    if launcher == 'none':
        return setup.ProcessGroup(use_cuda)
    from mmcv.runner import get_dist_info, init_dist
    if use_cuda:
        init_dist(launcher, **cfg.get('dist_params', {}))
    else:  # CPU processes standing in for GPUs (mmcv's init_dist picks a CUDA device)
        import torch.distributed as dist
        dist.init_process_group(backend='gloo')
    rank, world_size = get_dist_info()
    per_node = int(os.environ.get('LOCAL_WORLD_SIZE', world_size))
    return setup.ProcessGroup(use_cuda, distributed=True, rank=rank, world_size=world_size,
                        nodes=max(1, world_size // max(1, per_node)))


def _start_log(cfg, timestamp):
    from mmdet.utils import get_root_logger
    os.makedirs(cfg.work_dir, exist_ok=True)
    return get_root_logger(log_file=os.path.join(cfg.work_dir, '%s.log' % timestamp), log_level=cfg.log_level)


def _fit(cfg, spec, where, validate, timestamp):
    """Build the detector and the training set, then hand them to mmdet's train_detector."""
    from mmdet import __version__ as mmdet_version
    from mmdet.apis import train_detector
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector
    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), test_cfg=cfg.get('test_cfg'))
    init_checked(model, cfg.model.backbone, spec.backbone_weights,
                 RunFolder(cfg.work_dir).write_backbone_record if where.rank == 0 else None, say=_say)
    datasets = [build_dataset(cfg.data.train)]
    model.CLASSES = datasets[0].CLASSES
    setup.checkpoint_meta(cfg, mmdet_version, datasets[0].CLASSES)
    meta = dict(seed=spec.seed, exp_name=spec.run_id, env_info='see run.json')
    with compat.cpu_training(model, on_cpu=not where.use_cuda), \
            compat.cpu_distributed(on_cpu=not where.use_cuda, distributed=where.distributed):
        train_detector(model, datasets, cfg, distributed=where.distributed, validate=validate, timestamp=timestamp,
                       meta=meta)


def time_against_estimate(folder):
    """The run's segments and training time and, where `afa plan --probe` left an estimate, the two compared."""
    from afa.planning import cost
    record = segments.summary(folder.path)
    estimate = folder.estimate()
    if estimate is not None:
        record['time_vs_estimate'] = dict(cost.compare(estimate['wall_h'], record['train_seconds'] / 3600.0),
                                          estimated_on=estimate.get('probe', {}).get('device'))
    return record


def finish(cfg, spec, folder, batch_record=None, schedule=None):
    """Write train_done.json (the final checkpoint and its sha256, the batch plan of the start that finished
    it and the schedule mmcv ran: afa/runs/schedule.py): the marker that the run is trained."""
    numbered = folder.checkpoints()
    final = numbered[0][1] if numbered else None
    expected = layout.epoch_checkpoint(cfg.runner.max_epochs)
    if final is None or os.path.basename(final) != expected:
        raise AfaError('training of %s ended without %s in %s' % (spec.run_id, expected, folder.path))
    folder.write_done(spec.run_id, spec.scale, spec.seed, final, config_hash(cfg), provenance.record(), spec.batch,
                      spec.batch == spec.recipe_batch, dict(batch_record or {}, schedule=schedule,
                                                            **time_against_estimate(folder)))
    print('afa train: %s finished: %s' % (spec.run_id, final), flush=True)

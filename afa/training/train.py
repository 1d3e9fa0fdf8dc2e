"""`afa train`: one run of one row on mmdet's runner, resumable, never retrained once finished.

The same command serves a CPU, one GPU and N GPUs (with --gpus N > 1 it relaunches itself: afa/training/launch.py).
A run's folder holds mmdet's logs and checkpoints, ``config.py`` (the resolved config), ``run.json`` (what
was asked and where) and, only once training finished, ``train_done.json`` (final checkpoint, its sha256,
provenance). A rerun resumes from the newest checkpoint that reads back completely; a finished run returns at
once. Rerunning is safe: the run folder (afa/runs/folder.py) is held by one process at a time, its checkpoints
appear whole or not at all, and a folder trained under another config is refused unless --retrain moves it aside.

The steps, in order, as mmdet's apis/train.py and detectron2's DefaultTrainer order them: read the run's spec once
(request.py), claim the folder, set up (the process group, the config: setup.py, pure; the batch plan, the input
checks, the schedule), fit (mmdet's train_detector), finish (finish). The stages below the reading are handed its
values, never the spec, and call down the import order only.
"""
import contextlib
import os
import sys
import time

from afa.integration import compat
from afa.planning import out_of_memory
from afa.runs import layout, schedule, segments
from afa.runs.folder import RunFolder
from afa.runs.spec import config_hash
from afa.data.checks import check_inputs
from afa.data.standin import describe_backbone
from afa.training import setup
from afa.training.backbone_weights import init_checked
from afa.training.continuation import job_limit, layout_check as continued_layout, signals
from afa.training.continuation.signals import ContinueLater
from afa.training.request import request_of
from afa.utils import host_memory, provenance
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
    served = describe_backbone(cfg.model.backbone)
    spec.backbone_weights = served  # real or stand-in: in every record
    request = request_of(spec, cfg, validate, alarm)  # the spec is read here alone
    folder = RunFolder(cfg.work_dir)
    holds_folder = launcher == 'none' or int(os.environ.get('RANK', '0')) == 0  # rank 0 holds the folder
    lock = folder.claim(request.run_id, request.fingerprint, retrain, say=_print) if holds_folder else None
    with lock or contextlib.nullcontext():
        return _run(request, cfg, folder, served, gpus, deterministic, launcher, max_imgs_per_gpu, max_segments,
                    plan)


def _print(line):
    print(line, flush=True)


def _run(request, cfg, folder, served, gpus, deterministic, launcher, max_imgs_per_gpu=None,
         max_segments=segments.DEFAULT_MAX_SEGMENTS, plan=None):
    """Set up, fit, finish: the run's folder is claimed (by rank 0)."""
    if folder.is_trained():
        print('afa train: %s is already trained (%s); nothing to do' % (request.run_id, folder.done_path), flush=True)
        return folder.done_path
    if int(os.environ.get('RANK', '0')) == 0:
        folder.remove_partial_saves(say=_print)
    where = join_process_group(request.precision, cfg, gpus, launcher)
    setup.training_config(cfg, request, where)
    setup.validation_config(cfg, request.validate)
    if request.alarm_hook:
        cfg.custom_hooks = list(cfg.custom_hooks) + [request.alarm_hook]
    asked = setup.asked(request, where, deterministic)
    batch = plan if setup.plan_fits(plan, where) else setup.batch_plan(request, where, max_imgs_per_gpu)
    check_inputs(cfg, request.scale)
    counted = schedule.count(cfg, batch.processes, batch.imgs_per_device, batch.accumulation, request.scale)

    import afa
    afa.register_modules()
    fixes = compat.apply()
    from mmdet.apis import set_random_seed, train_detector

    set_random_seed(cfg.seed, deterministic=deterministic)
    resume_from = folder.resume_point(say=_say)
    continued_layout.check(folder, batch, 'GPU' if where.use_cuda else 'process', resume_from)
    setup.apply_batch_plan(cfg, batch)
    cfg.resume_from = resume_from
    if request.validate and where.rank == 0:
        print('afa train: early alarm: %s' % request.alarm_why, flush=True)
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    logger = _start_log(cfg, timestamp)
    if where.rank == 0:
        folder.write_config(cfg.pretty_text)
        record = folder.start_record(asked, config_hash(cfg), cfg.resume_from, fixes, provenance.record(),
                                     batch.as_record(where.device), counted)
        folder.write_run_record(record)
    if cfg.resume_from:
        logger.info('afa: resuming %s from %s', request.run_id, cfg.resume_from)
    logger.info('afa: %s on %s = %d images per optimizer step', request.run_id,
                batch.describe('GPU' if where.use_cuda else 'process'), batch.effective_batch)
    if where.rank == 0:
        number = folder.begin_segment(request.run_id, cfg.resume_from, max_segments)
        logger.info('afa: segment %d (at most %d) of %s', number, max_segments, request.run_id)
    try:
        model, datasets = _build(cfg, where, folder, served)
        with compat.cpu_training(model, on_cpu=not where.use_cuda), \
                compat.cpu_distributed(on_cpu=not where.use_cuda, distributed=where.distributed):
            train_detector(model, datasets, cfg, distributed=where.distributed, validate=request.validate,
                           timestamp=timestamp, meta=dict(seed=cfg.seed, exp_name=request.run_id,
                                                          env_info='see run.json'))
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
        if where.use_cuda and out_of_memory.is_gpu_out_of_memory(e):
            raise AfaError(out_of_memory.advice(request.run_id, batch, e)) from e
        raise
    stopped = request.alarm_hook and folder.stopped_by_alarm()
    if stopped:
        if where.rank == 0:
            folder.end_segment('failed', error='early alarm')
        raise AfaError('%s stopped by the early alarm (--alarm-stop): %s. Its checkpoints are kept in %s: '
                       '`afa train` again resumes it (without --alarm-stop to go on regardless)'
                       % (request.run_id, stopped, cfg.work_dir))
    if where.rank == 0:
        folder.end_segment('finished')
        finish(cfg, request, folder, batch.as_record(where.device), counted)
    return folder.done_path


def join_process_group(precision, cfg, gpus, launcher):
    """This process's device, rank and world size (joining the process group when launched distributed)."""
    import torch
    use_cuda = torch.cuda.is_available() and gpus > 0
    if precision != 'fp32' and not use_cuda:
        raise AfaError('precision %r needs a CUDA GPU; on CPU use --precision fp32' % precision)
    if not use_cuda:
        host_memory.return_freed_memory()
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


def _build(cfg, where, folder, served):
    """The detector (its backbone's weights checked against ``served``: afa/training/backbone_weights.py) and the
    training set, as mmdet's train_detector takes them."""
    from mmdet import __version__ as mmdet_version
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector
    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), test_cfg=cfg.get('test_cfg'))
    init_checked(model, cfg.model.backbone, served, folder.write_backbone_record if where.rank == 0 else None,
                 say=_say)
    datasets = [build_dataset(cfg.data.train)]
    model.CLASSES = datasets[0].CLASSES
    setup.checkpoint_meta(cfg, mmdet_version, datasets[0].CLASSES)
    return model, datasets


def time_against_estimate(folder):
    """The run's segments and training time and, where `afa plan --probe` left an estimate, the two compared."""
    from afa.planning import cost
    record = segments.summary(folder.path)
    estimate = folder.estimate()
    if estimate is not None:
        record['time_vs_estimate'] = dict(cost.compare(estimate['wall_h'], record['train_seconds'] / 3600.0),
                                          estimated_on=estimate.get('probe', {}).get('device'))
    return record


def finish(cfg, request, folder, batch_record=None, schedule=None):
    """Write train_done.json (the final checkpoint and its sha256, the batch plan of the start that finished
    it and the schedule mmcv ran: afa/runs/schedule.py): the marker that the run is trained."""
    numbered = folder.checkpoints()
    final = numbered[0][1] if numbered else None
    expected = layout.epoch_checkpoint(cfg.runner.max_epochs)
    if final is None or os.path.basename(final) != expected:
        raise AfaError('training of %s ended without %s in %s' % (request.run_id, expected, folder.path))
    folder.write_done(request.run_id, request.scale, request.seed, final, config_hash(cfg), provenance.record(),
                      request.batch, request.is_recipe_batch, dict(batch_record or {}, schedule=schedule,
                                                            **time_against_estimate(folder)))
    print('afa train: %s finished: %s' % (request.run_id, final), flush=True)

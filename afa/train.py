"""`afa train`: one run of one row on mmdet's runner, resumable, never retrained once finished.

The same command serves a CPU, one GPU and N GPUs: with --gpus N > 1 it relaunches itself under
``python -m torch.distributed.run --nproc_per_node N`` (torchrun's module, present since torch 1.9).
A run's folder holds mmdet's logs and checkpoints, ``config.py`` (the resolved config), ``run.json`` (what
was asked and where) and, only once training finished, ``train_done.json`` (final checkpoint, its sha256,
provenance). A rerun resumes from the newest checkpoint that reads back completely; a finished run returns at
once. Rerunning is safe: one process at a time holds the folder (afa/runlock.py), checkpoints appear whole or not
at all (afa/hooks/atomic_checkpoint.py), and a folder trained under another config is refused
(afa/fingerprint.py) unless --retrain moves it aside.
"""
import os
import subprocess
import sys
import time

from . import atomic, compat, fingerprint, layout, provenance
from .checkpoints import find_resumable_checkpoint, numbered_checkpoints
from .data.checks import check_dataset
from .errors import AfaError
from .runconfig import config_hash
from .runlock import RunLock


def resume_point(work_dir, say=print):
    """The checkpoint to resume from (or None), after saying which newer, damaged ones are skipped and why."""
    path, skipped = find_resumable_checkpoint(work_dir)
    for bad, why in skipped:
        say('afa train: skipping %s: %s (kept; delete it yourself once you no longer need it)' % (bad, why))
    if skipped:
        say('afa train: resuming from %s instead' % (path or 'scratch (no checkpoint reads back)'))
    return path


def check_inputs(cfg, scale):
    """Fail before any work when the dataset or the pretrained weights are missing, saying how to get them."""
    fetch_data = ('afa data synthetic --root %s' if scale == 'smoke' else 'afa data coco --root %s')
    for ann_file, img_prefix in _dataset_files(cfg.data.train):
        if not os.path.isfile(ann_file):
            root = os.path.dirname(os.path.dirname(ann_file.rstrip('/'))) or '.'
            raise AfaError('training annotations %s not found; fetch the dataset with `%s` or pass --data-root'
                           % (ann_file, fetch_data % root))
        if not os.path.isdir(img_prefix):
            raise AfaError('training images folder %s not found (dataset incomplete?); run `afa data verify '
                           '--root %s`' % (img_prefix, os.path.dirname(img_prefix.rstrip('/'))))
        check_dataset(ann_file, img_prefix)
    init_cfg = cfg.model.backbone.get('init_cfg') or {}
    checkpoint = init_cfg.get('checkpoint') if init_cfg.get('type') == 'Pretrained' else None
    if checkpoint and '://' not in checkpoint and not os.path.isfile(checkpoint):
        raise AfaError('pretrained backbone %s not found; fetch it with `afa data pretrained --dir %s` or pass '
                       '--pretrained-dir' % (checkpoint, os.path.dirname(checkpoint) or '.'))


def _dataset_files(dataset_cfg):
    if 'dataset' in dataset_cfg:  # RepeatDataset and friends
        return _dataset_files(dataset_cfg['dataset'])
    if 'datasets' in dataset_cfg:
        return [f for d in dataset_cfg['datasets'] for f in _dataset_files(d)]
    return [(dataset_cfg['ann_file'], dataset_cfg['img_prefix'])]


def check_gpus(gpus):
    """Refuse a multi-GPU launch that this node cannot serve, before any process starts."""
    import torch
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < gpus:
        raise AfaError('--gpus %d needs %d CUDA GPUs, %d visible (CUDA_VISIBLE_DEVICES=%s); use --gpus %d or fewer'
                       % (gpus, gpus, visible, os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), max(visible, 0)))


def relaunch_distributed(gpus, argv, spec=None, retrain=False):
    """Run this same command under torch.distributed.run with one process per GPU, holding the run's lock for
    the workers (they find it through the environment)."""
    if spec is not None:
        with prepare_run_folder(spec, spec.build_config(), retrain) as lock:
            argv = [a for a in argv if a != '--retrain']  # done here, once
            return _launch(gpus, argv, env=lock.child_env())
    return _launch(gpus, argv)


def _launch(gpus, argv, env=None):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(gpus),
           '--master_port', os.environ.get('MASTER_PORT', str(29500 + os.getpid() % 1000)),
           '-m', 'afa.cli'] + list(argv) + ['--launcher', 'pytorch']
    print('afa train: launching %d processes: %s' % (gpus, ' '.join(cmd)), flush=True)
    return subprocess.call(cmd, env=env)


def prepare_run_folder(spec, cfg, retrain=False):
    """Lock the run folder (returned, held) after moving it aside for --retrain and checking its fingerprint."""
    work_dir = cfg.work_dir
    if retrain and fingerprint.has_training(work_dir):
        with RunLock(work_dir, 'train'):
            moved = fingerprint.move_aside(work_dir)
        print('afa train: --retrain: moved the earlier run of %s to %s' % (spec.run_id, moved), flush=True)
    lock = RunLock(work_dir, 'train').acquire()
    try:
        fingerprint.check(work_dir, fingerprint.compute(cfg, spec), spec.run_id)
    except BaseException:
        lock.release()
        raise
    return lock


def train(spec, gpus=1, deterministic=False, launcher='none', validate=None, retrain=False):
    """Train the run described by ``spec`` (a RunSpec). Returns the path of train_done.json."""
    cfg = spec.build_config()
    if launcher != 'none' and int(os.environ.get('RANK', '0')) != 0:
        return _train(spec, cfg, gpus, deterministic, launcher, validate)  # rank 0 holds the folder
    with prepare_run_folder(spec, cfg, retrain):
        return _train(spec, cfg, gpus, deterministic, launcher, validate)


def _train(spec, cfg, gpus, deterministic, launcher, validate):
    work_dir = cfg.work_dir
    done_path = layout.done_path(work_dir)
    seed = spec.seed
    if os.path.exists(done_path):
        print('afa train: %s is already trained (%s); nothing to do' % (spec.run_id, done_path), flush=True)
        return done_path
    check_inputs(cfg, spec.scale)
    from .hooks.atomic_checkpoint import remove_stale_staging
    for name in remove_stale_staging(work_dir) if int(os.environ.get('RANK', '0')) == 0 else []:
        print('afa train: removed %s, the partial file of a checkpoint save that was killed' % name, flush=True)

    import torch
    use_cuda = torch.cuda.is_available() and gpus > 0
    if spec.precision != 'fp32' and not use_cuda:
        raise AfaError('precision %r needs a CUDA GPU; on CPU use --precision fp32' % spec.precision)

    import afa
    afa.register_modules()
    fixes = compat.apply()
    from mmcv.runner import get_dist_info, init_dist
    from mmdet import __version__ as mmdet_version
    from mmdet.apis import set_random_seed, train_detector
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector
    from mmdet.utils import get_root_logger

    distributed = launcher != 'none'
    if distributed:
        init_dist(launcher, **cfg.get('dist_params', {}))
        rank, world_size = get_dist_info()
        cfg.gpu_ids = list(range(world_size))
    else:
        rank, world_size = 0, 1
        cfg.gpu_ids = [0]
    cfg.device = 'cuda' if use_cuda else 'cpu'
    cfg.seed = seed
    set_random_seed(seed, deterministic=deterministic)
    custom_hooks = list(cfg.get('custom_hooks', []))
    custom_hooks.append(dict(type='NanLossGuardHook', priority='VERY_HIGH'))
    cfg.custom_hooks = custom_hooks
    cfg.resume_from = resume_point(work_dir, say=lambda line: print(line, file=sys.stderr, flush=True))
    cfg.checkpoint_config = dict(cfg.get('checkpoint_config') or {}, type='AtomicCheckpointHook')

    os.makedirs(work_dir, exist_ok=True)
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    logger = get_root_logger(log_file=os.path.join(work_dir, '%s.log' % timestamp), log_level=cfg.log_level)
    if rank == 0:
        atomic.write_text(os.path.join(work_dir, layout.CONFIG_FILE), cfg.pretty_text)
        run = dict(spec.describe(), gpus=world_size if distributed else int(use_cuda), seed=seed,
                   deterministic=deterministic, device=cfg.device, config_sha256=config_hash(cfg),
                   resumed_from=cfg.resume_from, library_fixes=fixes, provenance=provenance.record())
        atomic.write_json(os.path.join(work_dir, layout.RUN_FILE), run)
    if cfg.resume_from:
        logger.info('afa: resuming %s from %s', spec.run_id, cfg.resume_from)

    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), test_cfg=cfg.get('test_cfg'))
    model.init_weights()
    datasets = [build_dataset(cfg.data.train)]
    model.CLASSES = datasets[0].CLASSES
    cfg.checkpoint_config.meta = dict(mmdet_version=mmdet_version, CLASSES=datasets[0].CLASSES,
                                      afa_run_id=spec.run_id, afa_scale=spec.scale)
    if validate is None:
        validate = spec.scale == 'paper'
    meta = dict(seed=seed, exp_name=spec.run_id, env_info='see run.json')
    with compat.cpu_training(model, on_cpu=not use_cuda):
        train_detector(model, datasets, cfg, distributed=distributed, validate=validate, timestamp=timestamp,
                       meta=meta)

    if rank == 0:
        numbered = numbered_checkpoints(work_dir)
        final = numbered[0][1] if numbered else None
        expected = 'epoch_%d.pth' % cfg.runner.max_epochs
        if final is None or os.path.basename(final) != expected:
            raise AfaError('training of %s ended without %s in %s' % (spec.run_id, expected, work_dir))
        atomic.write_json(done_path, dict(
            run_id=spec.run_id, scale=spec.scale, seed=seed, checkpoint=final, checkpoint_sha256=provenance.sha256_file(final),
            config_sha256=config_hash(cfg), provenance=provenance.record()))
        print('afa train: %s finished: %s' % (spec.run_id, final), flush=True)
    return done_path

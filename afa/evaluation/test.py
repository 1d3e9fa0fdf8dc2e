"""`afa test`: a checkpoint on val2017 into a metrics JSON with provenance, or test-dev files for the server.

The metrics JSON holds, for bbox and (for mask models) segm, the 12 COCOeval numbers in percent, plus the
run id, config hash, checkpoint sha256, package versions, git commit, dataset and date. It is written
atomically: a failed evaluation never replaces an earlier good file.

Before any inference the checkpoint must be this run's (check_checkpoint_identity: its meta names the run id
and scale) and its weights must fit the model exactly (strict loading), the metrics file it would replace must
be this run's, and the output is locked against a concurrent evaluation writing it.
"""
import os
import shutil
import tempfile
import zipfile

from afa.data.checks import IMAGE_INFO_KEYS, INSTANCE_KEYS, check_dataset
from afa.data.classes import check_classes
from afa.data.standin import describe_backbone
from afa.evaluation import settings
from afa.evaluation.coco_eval import evaluate as coco_evaluate
from afa.integration import compat
from afa.release import names as release
from afa.runs import layout
from afa.runs.checkpoints import check_checkpoint_identity, read_meta
from afa.runs.folder import RunFolder
from afa.runs.spec import config_hash
from afa.utils import atomic, hashing, provenance
from afa.utils.errors import AfaError

TESTDEV_ANN = 'annotations/image_info_test-dev2017.json'
TESTDEV_IMAGES = 'test2017/'


def resolve_checkpoint(path):
    """A .pth path, or a train_done.json whose final checkpoint is taken (and checked against its sha256), or a
    run folder holding one."""
    if os.path.isdir(path):
        if not os.path.isfile(layout.done_path(path)):
            raise AfaError('%s is a folder without %s (training has not finished there); pass a checkpoint .pth '
                           'or a finished run\'s folder or %s' % (path, layout.DONE_FILE, layout.DONE_FILE))
        path = layout.done_path(path)
    if path.endswith('.json'):
        path = RunFolder(os.path.dirname(path)).final_checkpoint(path)
    if not os.path.isfile(path):
        raise AfaError('checkpoint %s not found; train it first with `afa train`' % path)
    return path


def check_output(out, spec, evaluation=None):
    """Refuse to replace a file that is not an earlier result of this same run (another run's metrics, a record
    such as train_done.json or run.json, or not a metrics file at all), or one of this run made on another val set
    or under other settings than ``evaluation`` (settings.record), or to write into another run's folder."""
    check_output_place(out, spec)
    if not os.path.exists(out):
        return
    owner = RunFolder.metrics_owner(out)
    if owner != (spec.run_id, spec.scale):
        raise AfaError('%s holds %s, not an earlier result of %s (%s scale); it is left untouched: choose another '
                       '--out' % (out, 'the metrics of %s (%s scale)' % owner if owner else 'something else',
                                  spec.run_id, spec.scale))
    if evaluation is not None:
        settings.check_same(out, atomic.read_json(out) or {}, evaluation)


def check_output_place(out, spec):
    """No --out names a record file (layout.RECORD_FILES) or lies in the folder of another run."""
    if os.path.basename(os.path.normpath(out)) in layout.RECORD_FILES:
        raise AfaError('--out %s names a record file that afa writes itself (%s); it is left untouched: choose '
                       'another --out' % (out, os.path.basename(os.path.normpath(out))))
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.abspath(folder) != os.path.abspath(spec.work_dir) and layout.is_run_folder(folder):
        raise AfaError('--out %s is in the folder of another run (%s), not of %s; choose a folder of your own '
                       '(or leave --out out to write to %s)' % (out, folder, spec.run_id, spec.work_dir))


def _iou_types(cfg):
    return ['bbox', 'segm'] if cfg.model.get('roi_head', {}).get('mask_head') else ['bbox']


def _test_dataset_cfg(cfg, spec, format_only):
    test = cfg.data.test.copy()
    if format_only:
        test.ann_file = spec.data_root + TESTDEV_ANN
        test.img_prefix = spec.data_root + TESTDEV_IMAGES
    test.test_mode = True
    if not os.path.isfile(test.ann_file):
        raise AfaError('annotations %s not found; get the dataset with `afa data %s --root %s`'
                       % (test.ann_file, {'smoke': 'synthetic', 'rehearsal': 'synthetic --coco-like'}.get(
                           spec.scale, 'coco'), spec.data_root))
    doc = check_dataset(test.ann_file, test.img_prefix, IMAGE_INFO_KEYS if format_only else INSTANCE_KEYS)
    check_classes(cfg, doc, test.ann_file, data_key='test')
    return test


def run_inference(cfg, checkpoint, dataset_cfg, gpus=1, distributed=False):
    """Outputs of the model on the dataset: mmdet's single-GPU test loop (with its progress bar), or with
    ``distributed`` each process's share, collected in dataset order on every process (distributed.py)."""
    import torch
    import afa
    afa.register_modules()
    compat.apply()
    from mmcv.parallel import MMDataParallel
    from mmdet.apis import single_gpu_test
    from mmdet.datasets import build_dataloader, build_dataset, replace_ImageToTensor
    from mmdet.models import build_detector

    dataset_cfg.pipeline = replace_ImageToTensor(dataset_cfg.pipeline)
    dataset = build_dataset(dataset_cfg)
    loader = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=cfg.data.get('workers_per_gpu', 2),
                              dist=distributed, shuffle=False)
    cfg.model.train_cfg = None
    model = build_detector(cfg.model, test_cfg=cfg.get('test_cfg'))
    meta = release.load_weights(model, checkpoint)  # strict; release names converted on the fly
    model.CLASSES = meta.get('CLASSES', dataset.CLASSES)
    if torch.cuda.is_available() and gpus > 0:
        device = torch.cuda.current_device() if distributed else 0
        model = MMDataParallel(model.cuda(device), device_ids=[device])
    else:
        model = MMDataParallel(model, device_ids=None)  # mmcv runs it on the CPU
    if distributed:  # inference needs no DDP: each process runs its share, then the shares are gathered
        from afa.evaluation.distributed import collect_in_order, infer
        return dataset, collect_in_order(infer(model, loader), len(dataset))
    outputs = single_gpu_test(model, loader)
    return dataset, outputs


def test(spec, checkpoint, out=None, format_only=False, gpus=1, launcher='none'):
    """Evaluate (or, with format_only, write test-dev files); returns the output path.

    A checkpoint of `afa train` must be this run's (check_checkpoint_identity); a released one (no run id in
    its meta) is written to the released results instead (output_path). Both load strictly.
    """
    cfg = spec.build_config()
    spec.backbone_weights = describe_backbone(cfg.model.backbone)  # what the trained run started from
    # before inference changes cfg (its train_cfg)
    evaluation = settings.record(cfg, spec, spec.data_root + TESTDEV_ANN if format_only else None)
    checkpoint, checkpoint_info, out = _checked_output(spec, cfg, checkpoint, out, format_only, evaluation)
    rank = 0
    if launcher != 'none':  # several processes: each infers its share, rank 0 alone evaluates and writes
        from afa.evaluation.distributed import join
        rank = join(launcher, use_cuda=gpus > 0, dist_params=cfg.get('dist_params', {}))
    if rank != 0:
        return _test(spec, cfg, checkpoint, checkpoint_info, out, format_only, gpus, evaluation, rank)
    with spec.folder.output_lock('test', out):
        return _test(spec, cfg, checkpoint, checkpoint_info, out, format_only, gpus, evaluation, rank,
                     launcher != 'none')


def _checked_output(spec, cfg, checkpoint, out, format_only, evaluation=None):
    """(checkpoint path, its description, the output path) after every check that precedes an evaluation."""
    checkpoint = resolve_checkpoint(checkpoint)
    checkpoint_info = release.describe(checkpoint)
    if checkpoint_info['checkpoint_origin'] == 'trained':  # released checkpoints name no run: routed apart
        check_checkpoint_identity(read_meta(checkpoint), spec, checkpoint)
    out = output_path(cfg.work_dir, checkpoint_info['checkpoint_origin'], format_only, out,
                      final=checkpoint_info['checkpoint_origin'] != 'trained'
                      or RunFolder(cfg.work_dir).is_final_checkpoint(checkpoint), checkpoint=checkpoint)
    if format_only:
        check_output_place(out, spec)
        manifest = os.path.join(out, layout.TESTDEV_MANIFEST)
        if evaluation is not None and os.path.isfile(manifest):
            settings.check_same(manifest, atomic.read_json(manifest) or {}, evaluation, 'test-dev files')
        if layout.is_run_folder(out):
            raise AfaError('--out %s is a run folder; the test-dev files go to a folder of their own (leave --out '
                           'out to write to %s)' % (out, layout.testdev_dir(cfg.work_dir)))
    else:
        check_output(out, spec, evaluation or settings.record(cfg, spec))
    return checkpoint, checkpoint_info, out


def relaunch_test(spec, processes, argv, checkpoint, out=None, format_only=False):
    """`afa test --gpus N` (or --gpus 0 --procs N): this command again under torch.distributed.run, one process
    per GPU, while this process holds the output's lock (the workers find it through the environment)."""
    from afa.training.launch import launch
    cfg = spec.build_config()
    _, _, out = _checked_output(spec, cfg, checkpoint, out, format_only)
    with spec.folder.output_lock('test', out) as lock:
        return launch(processes, argv, env=lock.child_env())


def _test(spec, cfg, checkpoint, checkpoint_info, out, format_only, gpus, evaluation, rank=0, distributed=False):
    dataset_cfg = _test_dataset_cfg(cfg, spec, format_only)
    iou_types = _iou_types(cfg)
    dataset, outputs = run_inference(cfg, checkpoint, dataset_cfg, gpus, distributed or rank != 0)
    if rank != 0:
        return out
    tmp = tempfile.mkdtemp(prefix='afa-test-')
    try:
        result_files, _ = dataset.format_results(outputs, jsonfile_prefix=os.path.join(tmp, 'results'))
        if format_only:
            return write_testdev(result_files, iou_types, spec, out, evaluation)
        metrics = {iou: coco_evaluate(dataset.coco, result_files[iou], iou) for iou in iou_types}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check_output(out, spec, evaluation)  # again, under the lock
    trained_on = RunFolder(cfg.work_dir).training_batch() if checkpoint_info['checkpoint_origin'] == 'trained' else None
    payload = dict(
        spec.describe(), config_sha256=config_hash(cfg), checkpoint=checkpoint,
        checkpoint_sha256=hashing.sha256_file(checkpoint), unit='percent',
        dataset=dict(root=spec.data_root, ann_file=dataset_cfg.ann_file, images=len(dataset)),
        bbox=metrics['bbox'], segm=metrics.get('segm'), provenance=provenance.record(),
        training_layout=trained_on, evaluation=evaluation, **checkpoint_info)
    RunFolder.write_metrics(out, payload)
    summary = ', '.join('%s AP %.1f' % (iou, metrics[iou]['AP']) for iou in iou_types)
    print('afa test: %s (%s checkpoint): %s -> %s' % (spec.run_id, checkpoint_info['checkpoint_origin'], summary, out),
          flush=True)
    return out


def output_path(run_folder, origin, format_only, out=None, final=True, checkpoint=None):
    """Where results of a checkpoint of this origin go: a released checkpoint's never replace a trained run's
    (metrics_released.json, test-dev-released/ beside metrics.json, test-dev/), nor the other way round. A
    trained checkpoint that is not the run's final one (``final`` False: an epoch of a run still training, or an
    earlier epoch) never writes the run's own results, which the tables show as done: its results go beside
    them under its own name (metrics_epoch_1.json, test-dev_epoch_1/)."""
    own = {'trained': (layout.metrics_path(run_folder), layout.testdev_dir(run_folder)),
           'released': (layout.released_metrics_path(run_folder), layout.released_testdev_dir(run_folder))}
    other = own['trained' if origin == 'released' else 'released'][int(format_only)]
    if out and os.path.abspath(out) == os.path.abspath(other):
        raise AfaError('--out %s holds the results of %s checkpoints, and this checkpoint is %s; leave --out '
                       'out to write to %s' % (out, 'trained' if origin == 'released' else 'released', origin,
                                               own[origin][int(format_only)]))
    default = own[origin][int(format_only)]
    if final:
        return out or default
    beside = os.path.join(run_folder, layout.checkpoint_results_name(os.path.basename(default), checkpoint))
    if out and os.path.abspath(out) == os.path.abspath(default):
        raise AfaError('--out %s is the run\'s own result, but %s is not the final checkpoint its %s records '
                       '(the run is unfinished, or this is an earlier epoch); leave --out out to write to %s'
                       % (out, checkpoint, layout.DONE_FILE, beside))
    if not out:
        print('afa test: %s is not the run\'s final checkpoint (no %s records it): its results go to %s, '
              'not to %s' % (checkpoint, layout.DONE_FILE, beside, os.path.basename(default)), flush=True)
    return out or beside


def write_testdev(result_files, iou_types, spec, folder, evaluation=None):
    """COCO server files: detections_test-dev2017_<alg>_results.json, one zip per task (bbox, segm); the manifest
    records ``evaluation`` (settings.record), which a later evaluation into the folder must match."""
    os.makedirs(folder, exist_ok=True)
    alg = spec.run_id.replace('+', '-').replace('@', '-').replace('_', '')
    archives = {}
    for iou in iou_types:
        name = 'detections_test-dev2017_%s_results.json' % alg
        archive = os.path.join(folder, '%s_%s.zip' % (spec.run_id, iou))

        def write_zip(tmp, source=result_files[iou], member=name):
            with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
                z.write(source, member)
        atomic.write_with(archive, write_zip)
        archives[iou] = {'zip': os.path.basename(archive), 'sha256': hashing.sha256_file(archive)}
        print('afa test: test-dev %s results for upload: %s' % (iou, archive), flush=True)
    # Written last: its presence says every archive is complete (the workflow's output for this step).
    atomic.write_json(os.path.join(folder, layout.TESTDEV_MANIFEST), dict(
        spec.describe(), archives=archives, evaluation=evaluation,
        upload='the COCO detection evaluation server (cocodataset.org/#upload): one zip per task',
        provenance=provenance.record()))
    return folder

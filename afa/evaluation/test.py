"""`afa test`: a checkpoint on val2017 into a metrics JSON with provenance, or test-dev files for the server.

The metrics JSON holds, for bbox and (for mask models) segm, the 12 COCOeval numbers in percent, plus the
run id, config hash, checkpoint sha256, package versions, git commit, dataset and date. It is written
atomically: a failed evaluation never replaces an earlier good file.

Before any inference the checkpoint must be this run's (check_checkpoint_identity: its meta names the run id
and scale) and its weights must fit the model exactly (strict loading), the metrics file it would replace must
be this run's, and the output is locked against a concurrent evaluation writing it.
"""
import contextlib
import os
import shutil
import tempfile

from afa.data.standin import describe_backbone
from afa.evaluation import distributed
from afa.evaluation.checkpoint import resolve_checkpoint
from afa.evaluation.coco_eval import evaluate as coco_evaluate
from afa.evaluation.inference import iou_types as iou_types_of, run_inference, test_dataset_cfg
from afa.evaluation.testdev import TESTDEV_ANN, write_testdev
from afa.release import names as release
from afa.runs import evaluation_settings, results
from afa.runs.checkpoints import check_checkpoint_identity, read_meta
from afa.runs.folder import RunFolder
from afa.runs.spec import config_hash
from afa.utils import hashing, host_memory, provenance


def test(spec, cfg, checkpoint, out=None, format_only=False, gpus=1, launcher='none'):
    """Evaluate ``checkpoint`` with ``cfg``, the run's resolved config (spec.build_config(), made once by the
    caller), or with format_only write test-dev files; returns the output path.

    A checkpoint of `afa train` must be this run's (check_checkpoint_identity); a released one (no run id in
    its meta) is written to the released results instead (results.output_path). Both load strictly.
    """
    if gpus == 0:
        host_memory.return_freed_memory()
    spec.backbone_weights = describe_backbone(cfg.model.backbone)  # what the trained run started from
    # before inference changes cfg (its train_cfg)
    evaluation = evaluation_settings.record(cfg, spec, spec.data_root + TESTDEV_ANN if format_only else None)
    checkpoint, checkpoint_info, out = place(cfg, checkpoint, out, format_only)
    check_before_evaluation(spec, cfg, checkpoint, checkpoint_info, out, format_only, evaluation)
    rank = 0
    if launcher != 'none':  # several processes: each infers its share, rank 0 alone evaluates and writes
        rank = distributed.join(launcher, use_cuda=gpus > 0, dist_params=cfg.get('dist_params', {}))
    lock = RunFolder(cfg.work_dir).output_lock('test', out) if rank == 0 else None
    with lock or contextlib.nullcontext():
        return _test(spec, cfg, checkpoint, checkpoint_info, out, format_only, gpus, evaluation, rank,
                     launcher != 'none')


def place(cfg, checkpoint, out, format_only):
    """(checkpoint path, its description, the output path): where the results of this checkpoint go."""
    checkpoint = resolve_checkpoint(checkpoint)
    checkpoint_info = release.describe(checkpoint)
    origin = checkpoint_info['checkpoint_origin']
    final = origin != 'trained' or RunFolder(cfg.work_dir).is_final_checkpoint(checkpoint)
    return checkpoint, checkpoint_info, results.output_path(cfg.work_dir, origin, format_only, out, final, checkpoint)


def check_before_evaluation(spec, cfg, checkpoint, checkpoint_info, out, format_only, evaluation=None):
    """Every check that precedes an evaluation: the checkpoint is this run's (released ones name no run: they
    are routed apart) and its results replace nothing but an earlier result of this run on the same data."""
    if checkpoint_info['checkpoint_origin'] == 'trained':
        check_checkpoint_identity(read_meta(checkpoint), spec, checkpoint)
    if format_only:
        results.check_testdev_place(out, spec.run_id, cfg.work_dir, evaluation)
    else:
        results.check_output(out, spec.run_id, spec.scale, cfg.work_dir,
                             evaluation or evaluation_settings.record(cfg, spec))


def relaunch_test(spec, cfg, processes, argv, checkpoint, out=None, format_only=False):
    """`afa test --gpus N` (or --gpus 0 --procs N): this command again under torch.distributed.run, one process
    per GPU, while this process holds the output's lock (the workers find it through the environment)."""
    from afa.training.launch import launch
    checkpoint, checkpoint_info, out = place(cfg, checkpoint, out, format_only)
    check_before_evaluation(spec, cfg, checkpoint, checkpoint_info, out, format_only)
    with RunFolder(cfg.work_dir).output_lock('test', out) as lock:
        return launch(processes, argv, env=lock.child_env())


def _test(spec, cfg, checkpoint, checkpoint_info, out, format_only, gpus, evaluation, rank=0, distributed=False):
    dataset_cfg = test_dataset_cfg(cfg, spec.data_root, spec.scale, format_only)
    iou_types = iou_types_of(cfg)
    dataset, outputs = run_inference(cfg, checkpoint, dataset_cfg, gpus, distributed or rank != 0)
    if rank != 0:
        return out
    tmp = tempfile.mkdtemp(prefix='afa-test-')
    try:
        result_files, _ = dataset.format_results(outputs, jsonfile_prefix=os.path.join(tmp, 'results'))
        if format_only:
            return write_testdev(result_files, iou_types, spec.describe(), out, evaluation)
        metrics = {iou: coco_evaluate(dataset.coco, result_files[iou], iou) for iou in iou_types}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results.check_output(out, spec.run_id, spec.scale, cfg.work_dir, evaluation)  # again, under the lock
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

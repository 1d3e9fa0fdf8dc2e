"""A run folder before training touches it: one writer (the lock), the same config as before (the fingerprint),
--retrain moving the old run aside, the checkpoint to resume from, and the leftovers of a killed save removed."""
import os

from afa.runs.runlock import RunLock
from afa.training import fingerprint
from afa.training.checkpoints import find_resumable_checkpoint


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


def resume_point(work_dir, say=print):
    """The checkpoint to resume from (or None), after saying which newer, damaged ones are skipped and why."""
    path, skipped = find_resumable_checkpoint(work_dir)
    for bad, why in skipped:
        say('afa train: skipping %s: %s (kept; delete it yourself once you no longer need it)' % (bad, why))
    if skipped:
        say('afa train: resuming from %s instead' % (path or 'scratch (no checkpoint reads back)'))
    return path


def remove_partial_saves(work_dir):
    """Delete the staging files of checkpoint saves that were killed (rank 0 only), saying which."""
    from afa.hooks.atomic_checkpoint import remove_stale_staging
    if int(os.environ.get('RANK', '0')) != 0:
        return
    for name in remove_stale_staging(work_dir):
        print('afa train: removed %s, the partial file of a checkpoint save that was killed' % name, flush=True)

"""mmcv's CheckpointHook, with every checkpoint appearing whole or not at all.

mmcv writes ``epoch_N.pth`` in place: a SIGKILL (preemption, out-of-memory kill) or a full disk during the
save leaves a truncated file under the final name, which every resume then trips on. Here the runner saves into
a private staging folder beside the checkpoints, the file is flushed to disk and renamed into place, and
``latest.pth`` is switched the same way. A failed save leaves the previous checkpoints as they were and no
partial file behind; a killed one leaves only its staging folder, which the next start of the run removes.
Works with mmcv 1.3.11 (the paper's) and 1.7.x: only ``runner.save_checkpoint`` and the hook's own fields are
used.

Under gradient accumulation a checkpoint is written only at a group boundary (afa/hooks/accumulation.py): an
iteration checkpoint due in the middle of a group is written after the group's optimizer step, so no checkpoint
holds half an accumulated gradient. Epoch checkpoints are always at a boundary (an epoch ends its last group).
"""
import os
import shutil
import tempfile

from mmcv.runner import HOOKS, CheckpointHook, master_only
from mmcv.runner.dist_utils import allreduce_params

from afa.hooks.accumulation import at_accumulation_boundary
from afa.utils import atomic
from afa.utils.errors import AfaError

STAGING_PREFIX = '.afa-saving-'
LATEST = 'latest.pth'


def remove_stale_staging(work_dir):
    """Remove staging folders left by a save that was killed (they hold only a partial file of ours)."""
    removed = []
    if os.path.isdir(work_dir):
        for name in os.listdir(work_dir):
            if name.startswith(STAGING_PREFIX):
                shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)
                removed.append(name)
    return removed


def replace_symlink(target_name, link_path):
    """Point ``link_path`` at ``target_name`` (relative) in one step."""
    tmp = atomic.temp_path(link_path)
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target_name, tmp)
    os.replace(tmp, link_path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Drop-in for CheckpointHook (same arguments); `afa train` sets ``checkpoint_config.type`` to it."""

    def before_run(self, runner):
        super(AtomicCheckpointHook, self).before_run(runner)
        self.out_dir = self.out_dir or runner.work_dir

    def after_train_iter(self, runner):
        """mmcv's iteration checkpoints, deferred to the end of an accumulation group when one falls inside it."""
        if self.by_epoch:
            return
        due = self.every_n_iters(runner, self.interval) or (self.save_last and self.is_last_iter(runner))
        self._due = getattr(self, '_due', False) or due
        if not self._due or not at_accumulation_boundary(runner):
            return
        self._due = False
        runner.logger.info('Saving checkpoint at %d iterations', runner.iter + 1)
        if self.sync_buffer:
            allreduce_params(runner.model.buffers())
        self._save_checkpoint(runner)

    def _step(self, runner):
        return runner.epoch + 1 if self.by_epoch else runner.iter + 1

    @master_only
    def _save_checkpoint(self, runner):
        out_dir = self.out_dir or runner.work_dir
        args = dict(self.args)
        create_symlink = args.pop('create_symlink', True)
        template = args.get('filename_tmpl', 'epoch_{}.pth' if self.by_epoch else 'iter_{}.pth')
        name = template.format(self._step(runner))
        final = os.path.join(out_dir, name)

        def write(staging):
            runner.save_checkpoint(staging, save_optimizer=self.save_optimizer, create_symlink=False, **args)
            if create_symlink:
                return lambda: replace_symlink(name, os.path.join(out_dir, LATEST))
        save_atomically(runner, out_dir, name, write)
        if runner.meta is not None:
            runner.meta.setdefault('hook_msgs', dict())
            runner.meta['hook_msgs']['last_ckpt'] = final
        if self.max_keep_ckpts > 0:
            self._remove_old(out_dir, template, self._step(runner))

    def _remove_old(self, out_dir, template, current):
        """mmcv's max_keep_ckpts (off in every config here): older numbered checkpoints of this run."""
        for step in range(current - self.max_keep_ckpts * self.interval, 0, -self.interval):
            path = os.path.join(out_dir, template.format(step))
            if not os.path.isfile(path):
                break
            os.remove(path)


def save_atomically(runner, out_dir, name, write):
    """Have ``write(staging_folder)`` save checkpoint ``name`` into a private staging folder, then move it into
    ``out_dir`` whole. ``write`` may return a function to run once the file is in place (a link update)."""
    final = os.path.join(out_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    check_space(runner, out_dir, final)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir)
    try:
        then = write(staging)
        staged = os.path.join(staging, name)
        atomic.fsync_file(staged)
        os.replace(staged, final)
        atomic.fsync_dir(out_dir)
        if then is not None:
            then()
    except Exception as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise _save_error(e, final, runner) from e
    shutil.rmtree(staging, ignore_errors=True)
    return final


def estimated_bytes(runner):
    """About how many bytes the next checkpoint takes: weights and buffers, plus the optimizer's state."""
    import torch
    model = getattr(runner.model, 'module', runner.model)
    total = sum(t.numel() * t.element_size() for t in model.state_dict().values() if torch.is_tensor(t))
    optimizer = runner.optimizer if isinstance(runner.optimizer, dict) else {'': runner.optimizer}
    for opt in optimizer.values():
        for state in getattr(opt, 'state', {}).values():
            total += sum(t.numel() * t.element_size() for t in state.values() if torch.is_tensor(t))
    return int(total * 1.05) + (1 << 20)  # pickle and zip headers


def _free_bytes(folder):
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def check_space(runner, out_dir, final):
    """Refuse a save that cannot fit before writing anything: besides the clear message, torch 1.9's zip writer
    aborts the whole process (std::terminate) when the disk fills during a save."""
    need, free = estimated_bytes(runner), _free_bytes(out_dir)
    if free is not None and free < need:
        raise AfaError('cannot save checkpoint %s (needs about %.1f MB, %.1f MB free on its disk); nothing was '
                       'written under that name and the earlier checkpoints are intact: free space and rerun to '
                       'resume' % (final, need / 1e6, free / 1e6))


def _save_error(exc, final, runner):
    """An AfaError for a save that failed for a reason the user can fix (full disk, permissions), else exc."""
    free = _free_bytes(os.path.dirname(final))
    if isinstance(exc, OSError) and exc.errno in atomic.USER_ERRNOS:
        cause = exc.strerror or str(exc)
    elif free is not None and free < estimated_bytes(runner):
        cause = 'the disk is full: %s' % str(exc).splitlines()[0][:160]  # torch reports it as a RuntimeError
    else:
        return exc
    return AfaError('cannot save checkpoint %s (%s%s); nothing was written under that name and the earlier '
                    'checkpoints are intact: free space (or fix the folder) and rerun to resume'
                    % (final, cause, '' if free is None else ', %.1f MB free' % (free / 1e6)))

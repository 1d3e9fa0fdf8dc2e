"""mmcv's CheckpointHook, with every checkpoint appearing whole or not at all.

mmcv writes ``epoch_N.pth`` in place: a SIGKILL (preemption, out-of-memory kill) or a full disk during the
save leaves a truncated file under the final name, which every resume then trips on. Here the runner saves
through afa/runs/checkpoints.py's save_atomically (a staging folder, then a rename), and ``latest.pth`` is
switched the same way.
Works with mmcv 1.3.11 (the paper's) and 1.7.x: only ``runner.save_checkpoint`` and the hook's own fields are
used.

Under gradient accumulation a checkpoint is written only at a group boundary (afa/training/hooks/accumulation.py): an
iteration checkpoint due in the middle of a group is written after the group's optimizer step, so no checkpoint
holds half an accumulated gradient. Epoch checkpoints are always at a boundary (an epoch ends its last group).
"""
import os

from mmcv.runner import HOOKS, CheckpointHook, master_only
from mmcv.runner.dist_utils import allreduce_params

from afa.runs import layout
from afa.runs.checkpoints import replace_symlink, save_atomically
from afa.training.hooks.accumulation import at_accumulation_boundary


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
        template = args.get('filename_tmpl', layout.EPOCH_CHECKPOINT if self.by_epoch else layout.ITER_CHECKPOINT)
        name = template.format(self._step(runner))
        final = os.path.join(out_dir, name)

        def write(staging):
            runner.save_checkpoint(staging, save_optimizer=self.save_optimizer, create_symlink=False, **args)
            if create_symlink:
                return lambda: replace_symlink(name, os.path.join(out_dir, layout.LATEST_CHECKPOINT))
        save_atomically(out_dir, name, write, estimated_bytes(runner))
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

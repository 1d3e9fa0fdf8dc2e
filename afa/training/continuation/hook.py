"""Stop at any iteration on request and continue there exactly, mid-epoch included.

mmcv 1.x resumes at epoch boundaries only: the data loader starts the epoch over and the random state is not
restored, so a run stopped and resumed ends with other weights than one that never stopped. This hook:

- replaces the runner's training loader by one that can start an epoch at any batch with the same order and
  augmentation (afa/training/continuation/resumable_loader.py);
- when a stop was requested (afa/training/continuation/signals.py: SIGUSR2 or SIGTERM), after the iteration in
  progress and at an accumulation boundary, writes ``epoch_E_iter_K.pth`` (model, optimizer, epoch and iteration
  counters, the position in the epoch, every random state), atomically, and ends the run with ContinueLater;
- when the run resumes from such a checkpoint, starts the epoch at that position and puts the random states back
  before the first iteration, so the continued run draws what the uninterrupted one drew.

In a run of several processes every rank stops at the same iteration (the stop flag is reduced across ranks
each iteration); every rank's random states are gathered to rank 0, which writes them in the checkpoint (one per
rank: each rank draws its own RoI samples and dropout, and on a GPU each has its own CUDA generator) while the
others wait for it; on resume each rank puts back its own. A run resumed with another number of processes is
refused (the position in the epoch and the random states are those of each rank of the run that stopped).
Checkpoints written before the per-rank states (one ``rng``, rank 0's) still resume: exactly with one process,
with a warning with several.
Priority LOW: its ``after_train_iter`` must come after the optimizer step (ABOVE_NORMAL) and its shift of
``inner_iter`` before the loggers (VERY_LOW). Works on mmcv 1.3.11 and 1.7.x: it uses the runner's public counters,
``_inner_iter``, ``data_loader`` and ``meta`` only.
"""
import os

from mmcv.runner import HOOKS, Hook, get_dist_info

from afa.runs import layout
from afa.runs.checkpoints import save_atomically
from afa.training.hooks.atomic_checkpoint import estimated_bytes
from afa.training.continuation import resumable_loader, rng, signals
from afa.training.continuation.signals import ContinueLater  # noqa: F401 (raised here; its home is light)
from afa.utils.errors import AfaError

META_KEY = 'afa_continuation'


def at_accumulation_boundary(runner):
    """Is the iteration that just ended the last of a gradient accumulation (or is there no accumulation)?"""
    for hook in runner.hooks:
        every = getattr(hook, 'cumulative_iters', None)
        if every and every > 1:
            return (runner.iter + 1) % every == 0 or runner.iter + 1 >= runner.max_iters
    return True


@HOOKS.register_module()
class ContinuationHook(Hook):

    def __init__(self, seed=0):
        self.seed = seed
        self.loader = None
        self.pending = None  # the continuation state read from the checkpoint resumed, until it is applied
        self.offset = 0      # batches of the current epoch done before this process started
        self.drills = signals.drill_iterations()

    def before_run(self, runner):
        meta = runner.meta if isinstance(runner.meta, dict) else {}
        self.pending = meta.pop(META_KEY, None)  # later epoch checkpoints must not carry it
        if self.pending is not None and self.pending['epoch'] != runner.epoch:
            raise RuntimeError('continuation state of epoch %d in a checkpoint of epoch %d'
                               % (self.pending['epoch'], runner.epoch))
        if self.pending is not None:
            check_world_size(self.pending, get_dist_info()[1], runner.epoch)

    def before_train_epoch(self, runner):
        if self.loader is None:
            self.loader = resumable_loader.continuable_loader(runner.data_loader, self.seed, get_dist_info()[0])
            if self.loader is None:
                runner.logger.warning('afa: this data loader cannot start mid-epoch; continuation is exact only '
                                      'at epoch boundaries')
                return
        sampler = self.loader.sampler
        sampler.set_epoch(runner.epoch)
        self.offset = 0
        if self.pending is not None:
            check_imgs_per_process(self.pending, self.loader.batch_size, runner.epoch)
            self.offset = self.pending['position']
            rank, world = get_dist_info()
            if 'rngs' not in self.pending and world > 1:
                runner.logger.warning('afa: this continuation checkpoint holds the random state of rank 0 only '
                                      '(written before the per-rank states): every rank restores it, so ranks '
                                      'other than 0 sample differently from a run that never stopped')
            rng.restore(random_state_of(self.pending, rank))
            runner.logger.info('afa: continuing epoch %d at iteration %d/%d (same order, augmentation and random '
                               'state as without the stop)', runner.epoch + 1, self.offset, len(self.loader))
            self.pending = None
        sampler.start = self.offset * self.loader.batch_size
        runner.data_loader = self.loader

    def before_train_iter(self, runner):
        runner._inner_iter += self.offset

    def after_train_iter(self, runner):
        if runner.iter + 1 in self.drills:
            signals.send_drill()
        if not self._stop_requested(runner) or not at_accumulation_boundary(runner):
            return
        name = signals.received() or 'a signal to another rank'
        path = self._save(runner, name)
        signals.ignore_termination()
        raise ContinueLater(path, name, runner.epoch + 1, runner.inner_iter + 1, len(runner.data_loader))

    def _stop_requested(self, runner):
        stop = signals.received() is not None
        rank, world = get_dist_info()
        if world > 1:
            import torch
            import torch.distributed as dist
            device = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'
            flag = torch.tensor([1 if stop else 0], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def _save(self, runner, signal_name):
        """Rank 0 writes the continuation checkpoint with every rank's random states; every rank returns its path
        once it is in place."""
        rank, world = get_dist_info()
        name = layout.continuation_checkpoint(runner.epoch + 1, runner.inner_iter + 1)
        out_dir = runner.work_dir
        states = gather_random_states(world)
        if rank == 0:
            meta = dict(self._checkpoint_meta(runner))
            meta.update(runner.meta or {})
            meta.update(epoch=runner.epoch, iter=runner.iter + 1)
            # rng: rank 0's (what checkpoints before the per-rank states held, and the same object as rngs[0]:
            # pickled once)
            meta[META_KEY] = dict(epoch=runner.epoch, position=runner.inner_iter + 1, rng=states[0], rngs=states,
                                  world_size=world, signal=signal_name,
                                  imgs_per_process=getattr(runner.data_loader, 'batch_size', None))

            def write(staging):
                from mmcv.runner import save_checkpoint
                save_checkpoint(runner.model, os.path.join(staging, name), optimizer=runner.optimizer, meta=meta)
            save_atomically(out_dir, name, write, estimated_bytes(runner))
        if world > 1:
            import torch.distributed as dist
            dist.barrier()
        return os.path.join(out_dir, name)

    @staticmethod
    def _checkpoint_meta(runner):
        """The meta the run's epoch checkpoints carry (run id, scale, classes), from its checkpoint hook."""
        for hook in runner.hooks:
            args = getattr(hook, 'args', None)
            if isinstance(args, dict) and isinstance(args.get('meta'), dict):
                return args['meta']
        return {}


def gather_random_states(world):
    """Every rank's random states (rng.capture), in rank order; the list on every rank."""
    state = rng.capture()
    if world <= 1:
        return [state]
    import torch.distributed as dist
    states = [None] * world
    dist.all_gather_object(states, state)  # gloo, and NCCL (each rank's current CUDA device is set by init_dist)
    return states


def random_state_of(pending, rank):
    """The random state rank ``rank`` puts back from a checkpoint's continuation state (its own; rank 0's in a
    checkpoint written before the per-rank states)."""
    return pending['rngs'][rank] if 'rngs' in pending else pending['rng']


def check_imgs_per_process(pending, imgs, epoch):
    """Refuse to continue mid-epoch with another number of images per process: the position counts micro-batches
    of the stopped run's size (layout_check.py refuses it before the start; this holds for any caller)."""
    written = pending.get('imgs_per_process')
    if written is None or written == imgs:
        return
    raise AfaError('the continuation checkpoint %s was written with %d images per process, this run has %d: '
                   'continue it with --max-imgs-per-gpu %d, or move the epoch_*_iter_*.pth files out of the run '
                   'folder to restart epoch %d' % (layout.continuation_checkpoint(epoch + 1, pending['position']),
                                                   written, imgs, written, epoch + 1))


def check_world_size(pending, world, epoch):
    """Refuse to continue mid-epoch with another number of processes than the run that stopped: each rank's
    share of the epoch (the distributed sampler's split), its position in it and its random states belong to
    that number. (A checkpoint from before the per-rank states does not say its number; it is not checked.)"""
    written = pending.get('world_size')
    if written is None or written == world:
        return
    earlier = layout.epoch_checkpoint(epoch) if epoch else 'the start of the run'
    raise AfaError(
        'the continuation checkpoint %s was written by %d training processes, this run has %d: continue it with '
        '%d (--gpus %d, or --gpus 0 --procs %d on CPU), which continues it exactly; or move the epoch_*_iter_*.pth '
        'files out of the run folder to start over from %s with the new layout'
        % (layout.continuation_checkpoint(epoch + 1, pending['position']), written, world, written, written,
           written, earlier))

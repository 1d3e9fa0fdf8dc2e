"""Requests to stop and continue later: the signals a scheduler sends before it ends a job.

SIGUSR2 is the advance warning: the trainer sends it to itself a margin before the SLURM job's EndTime
(afa/training/continuation/job_limit.py), not through ``sbatch --signal``, which would also reach the nested
Snakemake step and kill it (docs/clusters.md). SIGUSR2 rather than SIGUSR1 (submitit's choice: NCCL may install its own
SIGUSR1 handler, Lightning's default). SIGTERM is what SLURM sends on preemption, scancel and at the time
limit, followed by SIGKILL after the grace period (KillWait, 30 s by default). Either one only sets a flag
here: the training loop finishes the iteration (or accumulation) in progress, writes an iteration checkpoint
and exits with ``layout.CONTINUE_EXIT_CODE`` (afa/training/continuation/hook.py). A second SIGTERM while the
checkpoint is being written is ignored: the save is atomic, and SIGKILL still ends everything.
"""
import os
import signal

SIGNALS = ('SIGUSR2', 'SIGTERM')
DRILL_ENV = 'AFA_STOP_AFTER_ITER'  # rehearse a warning: the process signals itself after these iterations
DRILL_SIGNAL_ENV = 'AFA_STOP_SIGNAL'  # ... with this signal (default SIGUSR2; SIGTERM rehearses a preemption)

_received = []


def install():
    """Catch SIGUSR2 and SIGTERM from now on (main thread only; returns the names caught)."""
    for name in SIGNALS:
        signal.signal(getattr(signal, name), _note)
    return SIGNALS


def _note(signum, frame):
    _received.append(signal.Signals(signum).name)


def received():
    """The name of the first stop signal received, or None."""
    return _received[0] if _received else None


def clear():
    del _received[:]


def drill_iterations():
    """Global iteration counts after which to send oneself SIGUSR2 (``AFA_STOP_AFTER_ITER=3,6``): the real route
    of a warning, at a chosen point, for tests and for rehearsing on a new cluster."""
    text = os.environ.get(DRILL_ENV, '').strip()
    return {int(part) for part in text.split(',') if part.strip()} if text else set()


def send_warning():
    """The warning before a job's end, sent to oneself (afa/training/continuation/job_limit.py)."""
    os.kill(os.getpid(), signal.SIGUSR2)


def ignore_termination():
    """From now on SIGTERM is ignored: the continuation checkpoint is in place and the process is on its way out
    with the continue code. In a run of several processes torchrun's agent sends SIGTERM to the ranks still
    running as soon as one has exited; a handler of Python's own is undone while the interpreter shuts down, so
    without this a rank could end killed by that signal instead of with the continue code. SIGKILL still ends it
    (torchrun sends it 30 s later, SLURM after its grace period); `afa train --requeue-on-stop` restores the
    default before it waits for SLURM's requeue."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def send_drill():
    os.kill(os.getpid(), getattr(signal, os.environ.get(DRILL_SIGNAL_ENV) or 'SIGUSR2'))


class ContinueLater(Exception):
    """Training stopped on request after writing its continuation checkpoint: run the same command again.
    Here, not in the hook's module (which imports mmcv.runner): `afa train` catches it before mmcv is loaded,
    and importing the hook first would re-enter it through the hooks' registration (a circular import)."""

    def __init__(self, checkpoint, signal_name, epoch, inner_iter, iters_per_epoch):
        super(ContinueLater, self).__init__(
            'stopped on %s after iteration %d/%d of epoch %d; continuation checkpoint %s'
            % (signal_name, inner_iter, iters_per_epoch, epoch, checkpoint))
        self.checkpoint = checkpoint
        self.signal_name = signal_name
        self.epoch = epoch
        self.inner_iter = inner_iter

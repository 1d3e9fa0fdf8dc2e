"""Several processes for one run: `afa train --gpus N` (or on CPU `--gpus 0 --procs N`: processes standing in for
GPUs, torch.distributed with gloo) relaunches itself under torch.distributed.run (torchrun's module, present since
torch 1.9), one process per GPU, while this process holds the run folder's lock."""
import os
import signal
import subprocess
import sys

from afa.runs import layout
from afa.runs.folder import RunFolder, claim
from afa.utils.errors import AfaError


def relaunch_distributed(gpus, argv, spec=None, cfg=None, retrain=False, batch=None, device_word='GPU'):
    """Run this same command under torch.distributed.run with one process per GPU, holding the folder of ``spec``
    (``cfg``: its resolved config) for the workers (they find the lock through the environment); ``batch`` (the
    BatchPlan) is checked against a mid-epoch continuation before any worker starts."""
    if spec is not None:
        from afa.training.setup import check_optimizer
        check_optimizer(cfg)  # one line here, not in every worker's output
        with claim(spec, cfg, retrain) as lock:
            if batch is not None:
                from afa.training.continuation import layout_check
                layout_check.check(spec.folder, batch, device_word)
            argv = [a for a in argv if a != '--retrain']  # done here, once
            code = launch(gpus, argv, env=lock.child_env())
            return continued_code(code, cfg.work_dir)
    return launch(gpus, argv)


def continued_code(code, run_folder):
    """torchrun reports a worker's exit status as 1: give back the continue code when the workers stopped on
    request (rank 0 recorded it as the outcome of the segment)."""
    if code != 0 and RunFolder(run_folder).stopped_to_continue():
        return layout.CONTINUE_EXIT_CODE
    return code


def torchrun_command(processes, argv, nodes=1, rendezvous=None, rendezvous_id=None, python=sys.executable):
    """The one launcher of several processes: `afa ARGV` under torch.distributed.run (torchrun's module, present
    since torch 1.9), ``processes`` per node. One node: a local master port. Several (each node runs this same
    command): a c10d rendezvous at ``rendezvous`` (HOST:PORT) under ``rendezvous_id`` (the scheduler's job id)."""
    # --max_restarts 0: torch 1.9's torchrun restarts the workers 3 times by default when one exits non-zero, so
    # a stop with the continue code (75) started the run again at once, in the same job, and hung.
    cmd = [python, '-m', 'torch.distributed.run'] + (['--nnodes', str(nodes)] if nodes > 1 else []) + [
        '--nproc_per_node', str(processes), '--max_restarts', '0']
    if nodes > 1:
        cmd += ['--rdzv_backend', 'c10d', '--rdzv_id', rendezvous_id, '--rdzv_endpoint', rendezvous]
    else:
        cmd += ['--master_port', os.environ.get('MASTER_PORT', str(29500 + os.getpid() % 1000))]
    return cmd + ['-m', 'afa.cli'] + list(argv) + ['--launcher', 'pytorch']


def launch(gpus, argv, env=None):
    """Run `afa ARGV` in ``gpus`` processes on this node under torch.distributed.run; its exit status."""
    cmd = torchrun_command(gpus, argv)
    print('afa: launching %d processes: %s' % (gpus, ' '.join(cmd)), flush=True)
    # SIGUSR2 (the warning before a time limit) would end torchrun's agent, which has no handler for it: the agent
    # ignores it (inherited), the workers catch it themselves (afa/training/continuation/signals.py).
    previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        return subprocess.call(cmd, env=env)
    finally:
        signal.signal(signal.SIGUSR2, previous)


def die_with_launcher():
    """In a worker started by torch.distributed.run: be killed when the launcher dies, however it dies.

    The run folder's lock is held by the launching `afa` process; torchrun starts its workers in their own
    sessions, so a SIGKILL of the launcher's process group (a scheduler's kill, a test's) would leave them
    training, and writing, after the lock was released to the next start. PR_SET_PDEATHSIG (Linux) sends them
    SIGKILL when their parent, the torchrun agent, exits; elsewhere nothing changes."""
    if not sys.platform.startswith('linux'):
        return
    import ctypes
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the agent died before the request took effect
        os._exit(1)


def check_gpus(gpus):
    """Refuse a multi-GPU launch that this node cannot serve, before any process starts."""
    import torch
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < gpus:
        raise AfaError('--gpus %d needs %d CUDA GPUs, %d visible (CUDA_VISIBLE_DEVICES=%s); use --gpus %d or fewer'
                       % (gpus, gpus, visible, os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), max(visible, 0)))

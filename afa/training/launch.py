"""Several processes for one run: `afa train --gpus N` (or on CPU `--gpus 0 --procs N`: processes standing in for
GPUs, torch.distributed with gloo) relaunches itself under torch.distributed.run (torchrun's module, present since
torch 1.9), one process per GPU, while this process holds the run folder's lock."""
import os
import subprocess
import sys

from afa.training.run_folder import prepare_run_folder


def relaunch_distributed(gpus, argv, spec=None, retrain=False):
    """Run this same command under torch.distributed.run with one process per GPU, holding the run's lock for
    the workers (they find it through the environment)."""
    if spec is not None:
        with prepare_run_folder(spec, spec.build_config(), retrain) as lock:
            argv = [a for a in argv if a != '--retrain']  # done here, once
            return launch(gpus, argv, env=lock.child_env())
    return launch(gpus, argv)


def launch(gpus, argv, env=None):
    """Run `afa ARGV` in ``gpus`` processes on this node under torch.distributed.run; its exit status."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(gpus),
           '--master_port', os.environ.get('MASTER_PORT', str(29500 + os.getpid() % 1000)),
           '-m', 'afa.cli'] + list(argv) + ['--launcher', 'pytorch']
    print('afa: launching %d processes: %s' % (gpus, ' '.join(cmd)), flush=True)
    return subprocess.call(cmd, env=env)

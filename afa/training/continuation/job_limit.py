"""The end of the scheduler job this training runs in: a warning to oneself before it, and the requeue after.

Why not ``sbatch --signal``: snakemake-executor-plugin-slurm runs each rule through ``srun`` as a nested
Snakemake process, and a signal to the job's steps reaches that Python process too, whose default action on
SIGUSR2 is to die (Snakemake handles SIGTERM only), which ends the step and kills the trainer mid-save;
``--signal=B:...`` reaches only the batch shell, which dies the same way. So the trainer reads the job's end
time from the scheduler (``scontrol show job``) and sends itself SIGUSR2 a margin before it: the same route
as a scheduler's warning (afa/training/continuation/signals.py), with nothing in between that can be killed by it.

After the continuation checkpoint, ``requeue()`` asks SLURM to put the job back in the queue under the same job
id (``scontrol requeue``): Snakemake keeps seeing one job, pending or running, never a failed one. Not when the
job was cancelled: scancel sends the same SIGTERM as a preemption, and SLURM accepts ``scontrol requeue`` on a
cancelled job that is still completing, so without this check a user's scancel restarted the training (measured
on slurm 22.05). The state tells them apart: a cancelled job is CANCELLED when its SIGTERM arrives.
"""
import subprocess
import threading
import time

from afa.training.continuation import signals
from afa.utils.slurm import job_end_time, job_state, slurm_job_id


def warn_before_end(margin_s, say=print):
    """Send oneself SIGUSR2 ``margin_s`` seconds before this SLURM job's end; returns the warning's time (or None
    outside a job with a time limit)."""
    job = slurm_job_id()
    end = job_end_time(job) if job else None
    if end is None:
        return None
    when = end - margin_s
    timer = threading.Timer(max(0.0, when - time.time()), signals.send_warning)
    timer.daemon = True
    timer.start()
    say('afa train: SLURM job %s ends at %s: warning (SIGUSR2) set for %s, %d s before it'
        % (job, time.strftime('%H:%M:%S', time.localtime(end)), time.strftime('%H:%M:%S', time.localtime(when)),
           margin_s))
    return when


def requeue(say=print):
    """Put this SLURM job back in the queue, keeping its id (it is ended and restarted by the scheduler). True
    when SLURM accepted; False (said why) outside SLURM, for a cancelled job, or where requeueing is refused."""
    job = slurm_job_id()
    if not job:
        return False
    if job_state(job) == 'CANCELLED':
        say('afa train: SLURM job %s was cancelled (scancel): not requeued; its continuation checkpoint is kept '
            'and the next run of this row continues from it' % job)
        return False
    result = subprocess.run(['scontrol', 'requeue', job], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        say('afa train: scontrol requeue %s refused (%s): the job ends with exit %s instead'
            % (job, (result.stderr or result.stdout).strip()[:200], 'CONTINUE'))
        return False
    say('afa train: SLURM job %s requeued: it continues in the next segment under the same id' % job)
    return True


# How long a requeued job waits for SLURM to end it (the requeue restarts it under the same id).
REQUEUE_WAIT_S = 300


def requeue_and_wait(say=print):
    """requeue(), then wait for SLURM to end this job for the requeue (its SIGTERM now ends the process at once);
    returns at once when the job was not requeued, or after REQUEUE_WAIT_S if SLURM never ended it."""
    if not requeue(say=say):
        return False
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    time.sleep(REQUEUE_WAIT_S)
    return True

"""What SLURM says of the job this process runs in (``scontrol show job``): its id, requeue count, end time and
state. Queries only; nothing here acts on the job (afa/training/continuation/job_limit.py does)."""
import datetime
import os
import re
import subprocess
import time


def slurm_job_id():
    return os.environ.get('SLURM_JOB_ID') or None


def _show_job(job_id):
    try:
        return subprocess.run(['scontrol', 'show', 'job', '-o', str(job_id)], capture_output=True, text=True,
                              timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ''


def job_restarts(job_id):
    """How many times SLURM restarted (requeued) the job, or None. Read from the scheduler: the executor plugin's
    job step does not pass SLURM_RESTART_COUNT on."""
    match = re.search(r'\bRestarts=(\d+)', _show_job(job_id))
    return int(match.group(1)) if match else None


def job_end_time(job_id):
    """The job's EndTime (seconds since the epoch) as the scheduler reports it, or None."""
    out = _show_job(job_id)
    match = re.search(r'\bEndTime=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)', out)
    if not match:
        return None
    return time.mktime(datetime.datetime.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S').timetuple())


def job_state(job_id):
    """The job's JobState (RUNNING, CANCELLED, PREEMPTED, ...) as the scheduler reports it, or None."""
    match = re.search(r'\bJobState=(\w+)', _show_job(job_id))
    return match.group(1) if match else None

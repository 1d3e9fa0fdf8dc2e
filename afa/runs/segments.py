"""The job segments of a run: one record per start of `afa train` on the run folder, and their bound.

A run that a scheduler's time limit or preemption cuts into pieces continues in a new segment each time
(afa/training/continuation/hook.py). ``segments.json`` in the run folder says when each one started and ended, in which
SLURM job, from which checkpoint and why it ended, so the pieces of a long run can be audited; the number of
segments is bounded so that a run that can never finish (a time limit shorter than one checkpoint interval, a
node that always fails) stops being resubmitted.
"""
import json
import os
import time

from afa.runs import layout
from afa.utils import atomic
from afa.utils.errors import AfaError

DEFAULT_MAX_SEGMENTS = 20  # a 3x paper run cut at 24 h takes 7; the rest is room for preemptions


def read(run_folder, strict=True):
    """The segment records, [] when there are none. An unreadable file: an AfaError naming it with ``strict``
    (a new segment must not overwrite it), else [] (a status line)."""
    path = layout.segments_path(run_folder)
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            records = json.load(f)
    except (OSError, ValueError) as e:
        if not strict:
            return []
        raise AfaError('%s is unreadable (%s); move it away to start the segment count anew' % (path, e)) from None
    if not isinstance(records, list):
        if not strict:
            return []
        raise AfaError('%s is not a list of segment records; move it away to start the segment count anew' % path)
    return records


def _now():
    return time.strftime('%Y-%m-%dT%H:%M:%S%z')


def _job():
    """The scheduler's job this process runs in (id, and SLURM's count of requeues), if any."""
    job_id = os.environ.get('SLURM_JOB_ID')
    if not job_id:
        return {}
    from afa.utils.slurm import job_restarts
    restarts = os.environ.get('SLURM_RESTART_COUNT')
    restarts = int(restarts) if restarts else job_restarts(job_id)
    return dict(slurm_job_id=job_id, slurm_restart_count=restarts)


def begin(run_folder, run_id, resumed_from, max_segments=DEFAULT_MAX_SEGMENTS):
    """Record the start of a segment and return its number (1-based); AfaError once the bound is reached."""
    records = read(run_folder)
    number = len(records) + 1
    if number > max_segments:
        raise AfaError('%s has already run in %d job segments (%s), the most allowed (--max-segments %d): it does '
                       'not progress enough per segment; check the last segment\'s log, then rerun with a larger '
                       '--max-segments or a longer time limit' % (run_id, len(records),
                                                                  layout.segments_path(run_folder), max_segments))
    records.append(dict(segment=number, started=_now(), resumed_from=resumed_from and os.path.basename(resumed_from),
                        pid=os.getpid(), **_job()))
    atomic.write_json(layout.segments_path(run_folder), records)
    return number


def end(run_folder, outcome, **details):
    """Record how the current (last) segment ended: 'continue' (stopped on request), 'finished' or 'failed'."""
    records = read(run_folder)
    if not records:
        return
    records[-1].update(ended=_now(), outcome=outcome, **details)
    atomic.write_json(layout.segments_path(run_folder), records)


def summary(run_folder):
    """{segments, train_seconds}: how many segments the run took and their summed wall time (start to end of
    each `afa train`, set-up included), for train_done.json and the comparison with the plan's estimate."""
    import datetime
    records = read(run_folder)
    seconds = 0.0
    for r in records:
        if r.get('ended'):
            start, end = (datetime.datetime.strptime(r[k], '%Y-%m-%dT%H:%M:%S%z') for k in ('started', 'ended'))
            seconds += (end - start).total_seconds()
    return dict(segments=len(records), train_seconds=seconds)

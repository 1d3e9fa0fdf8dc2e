"""The plan's estimate kept beside each run (``estimate.json``), so that a finished run compares its actual
training time with it (train_done.json: time_vs_estimate). Never written into a finished run's folder."""
import math

from afa.runs.folder import RunFolder

# A training job asks the scheduler for the estimated wall time with this margin: the probe times a few
# iterations of the model, not data loading at scale, validation, checkpoints or the job's start-up.
JOB_TIME_FACTOR = 1.25
JOB_TIME_EXTRA_MIN = 15


def write(rows, runs_root, scale):
    """Write each planned run's estimate (cost.with_cost) into its run folder; returns the paths written (finished
    runs skipped)."""
    from afa.planning.cost import CAVEAT
    written = []
    for row in rows:
        folder = RunFolder.of(runs_root, scale, row['run_id'])
        if folder.is_trained():
            continue
        written.append(folder.write_estimate(dict(row, caveat=CAVEAT)))
    return written


def estimated_job_minutes(run_folder):
    """Minutes a training job of the run asks for, from the estimate kept in its folder (with the margin above);
    None when the run has no estimate (the workflow then asks for its schedule's resources.runtime_min)."""
    record = RunFolder(run_folder).estimate()
    wall_h = record.get('wall_h') if record else None
    if not isinstance(wall_h, (int, float)) or isinstance(wall_h, bool) or not wall_h > 0:
        return None
    return int(math.ceil(wall_h * 60 * JOB_TIME_FACTOR + JOB_TIME_EXTRA_MIN))

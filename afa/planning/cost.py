"""What a run costs, from a measured time per iteration (probe.py) and the run's schedule as `afa plan` lays it
out (plan.py: the iterations mmcv will run on these devices, schedule.count): GPU-hours, wall time and the job
segments a scheduler's time limit implies. Pure arithmetic: every input is measured or read from the config, none
typed in.

Assumes data-parallel scaling: every device runs its own micro-batch in the time the probe measured for one,
plus nothing for gradient exchange, data loading or evaluation; the caveat is printed with the plan.
"""
import math

from afa.utils.errors import AfaError

CAVEAT = ('estimates assume ideal data-parallel scaling (each GPU as fast as the probed one, no time for '
          'gradient exchange, data loading or evaluation): treat them as a lower bound')


def check_limit(limit_h, margin_h=0.0):
    """AfaError for a job time limit that leaves no time after the stop margin (None: no limit)."""
    if limit_h is not None and limit_h - margin_h <= 0:
        raise AfaError('--time-limit-h %g leaves nothing after the %g-minute stop margin (--stop-margin-min); give '
                       'the cluster\'s job time limit in hours' % (limit_h, margin_h * 60))


def estimate(s_per_iter, iterations, devices, limit_h=None, margin_h=0.0):
    """{s_per_iter, iterations, wall_h, gpu_hours, segments} of ``iterations`` (mmcv's counter: micro-batches)
    on ``devices`` devices each taking ``s_per_iter``; segments: job pieces under ``limit_h`` (each losing
    ``margin_h`` to the stop before the limit), 1 without a limit."""
    wall_h = s_per_iter * iterations / 3600.0
    check_limit(limit_h, margin_h)
    usable = (limit_h - margin_h) if limit_h is not None else None
    return dict(s_per_iter=s_per_iter, iterations=iterations, wall_h=wall_h, gpu_hours=wall_h * devices,
                segments=int(math.ceil(wall_h / usable)) if usable else 1)


def with_cost(record, probed, limit_h=None, margin_h=0.0):
    """An `afa plan` record (plan.plan_row) with the probe's figures and the cost they imply."""
    iterations = record.get('total_iters')  # schedule.count: every mmcv epoch (repeats included) or max_iters
    if iterations is None:
        raise AfaError('%s: the schedule\'s iterations are unknown (its training annotations are missing), so '
                       'its cost cannot be estimated; fetch the dataset or pass --data-root' % record['run_id'])
    out = dict(record)
    out.update(probe=probed, **estimate(probed['train_s_per_iter'], iterations, record['processes'], limit_h,
                                        margin_h))
    return out


def total(rows):
    return dict(gpu_hours=sum(r['gpu_hours'] for r in rows), wall_h=sum(r['wall_h'] for r in rows),
                segments=sum(r['segments'] for r in rows), iterations=sum(r['iterations'] for r in rows))


def format_table(rows, limit_h=None):
    """The cost table `afa plan --probe` prints: one line per row, the total and the caveat."""
    head = '%-30s %8s %8s %5s %9s %9s %8s %8s' % ('run', 's/iter', 's/img', 'GPUs', 'iters', 'GPU-h', 'wall-h',
                                                  'segments')
    lines = [head, '-' * len(head)]
    for r in rows:
        lines.append('%-30s %8.3f %8.3f %5d %9d %9.1f %8.1f %8d' % (
            r['run_id'], r['s_per_iter'], r['probe']['infer_s_per_img'], r['processes'], r['iterations'],
            r['gpu_hours'], r['wall_h'], r['segments']))
    t = total(rows)
    lines.append('%-30s %8s %8s %5s %9d %9.1f %8.1f %8d' % ('total (one after another)', '', '', '', t['iterations'],
                                                            t['gpu_hours'], t['wall_h'], t['segments']))
    probed_on = sorted({r['probe']['device'] for r in rows})
    lines.append('probed on %s; segments for a %s time limit' % (', '.join(probed_on),
                                                                 '%g h' % limit_h if limit_h else 'no'))
    lines.append('caveat: ' + CAVEAT)
    return '\n'.join(lines)


def compare(estimated_wall_h, actual_wall_h):
    """The actual training time against the plan's (recorded when a run finishes)."""
    return dict(estimated_wall_h=estimated_wall_h, actual_wall_h=actual_wall_h,
                ratio=actual_wall_h / estimated_wall_h if estimated_wall_h else None)

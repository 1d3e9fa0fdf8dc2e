"""What a run costs, from a measured time per iteration and the run's schedule: iterations, GPU-hours, wall time
and the job segments a scheduler's time limit implies. Pure arithmetic: every input is measured (probe.py) or
read from the config and the dataset's manifest, none typed in.

Assumes data-parallel scaling: every GPU runs its own batch in the time the probe measured for one, plus
nothing for gradient exchange (NCCL on one node adds a few percent); the caveat is printed with the plan.
"""
import json
import math
import os

CAVEAT = ('estimates assume ideal data-parallel scaling (each GPU as fast as the probed one, no time for '
          'gradient exchange, data loading or evaluation): treat them as a lower bound')


def train_images(split='train2017'):
    """Images of a COCO split, from the dataset manifest that `afa data coco` verifies against."""
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data', 'coco_manifest.json')) as f:
        return json.load(f)['splits'][split]['images']


def iterations(images, epochs, gpus, imgs_per_gpu, accumulation=1):
    """Optimizer steps x accumulation = forward/backward iterations of the whole schedule (per GPU)."""
    per_epoch = int(math.ceil(images / float(gpus * imgs_per_gpu)))
    return per_epoch * epochs, per_epoch


def estimate(s_per_iter, images, epochs, gpus, imgs_per_gpu, limit_h=None, margin_h=0.0):
    """{s_per_iter, iterations, iters_per_epoch, wall_h, gpu_hours, segments} of one run on ``gpus`` GPUs, each
    taking ``s_per_iter`` per iteration of ``imgs_per_gpu`` images; segments: job pieces under ``limit_h`` (each
    losing ``margin_h`` to the stop before the limit), 1 without a limit."""
    total, per_epoch = iterations(images, epochs, gpus, imgs_per_gpu)
    wall_h = s_per_iter * total / 3600.0
    usable = (limit_h - margin_h) if limit_h else None
    if usable is not None and usable <= 0:
        raise ValueError('a time limit of %.2f h leaves nothing after the %.2f h stop margin' % (limit_h, margin_h))
    return dict(s_per_iter=s_per_iter, iterations=total, iters_per_epoch=per_epoch, wall_h=wall_h,
                gpu_hours=wall_h * gpus, segments=int(math.ceil(wall_h / usable)) if usable else 1)


def compare(estimated_wall_h, actual_wall_h):
    """The actual training time against the plan's (recorded when a run finishes)."""
    return dict(estimated_wall_h=estimated_wall_h, actual_wall_h=actual_wall_h,
                ratio=actual_wall_h / estimated_wall_h if estimated_wall_h else None)


def plan_table(probes, gpus=None, limit_h=None, margin_h=0.0, images=None):
    """Per-row and total estimates from probe results (probe.probe): rows use their own GPU count unless ``gpus``
    is given. Returns {rows: [...], total: {...}, caveat}."""
    images = images or train_images()
    rows = []
    for p in probes:
        n = gpus or p.get('gpus') or 1
        e = estimate(p['train_s_per_iter'], images, p['epochs'], n, p['imgs_per_gpu'], limit_h, margin_h)
        rows.append(dict(p, gpus=n, **e))
    total = dict(gpu_hours=sum(r['gpu_hours'] for r in rows), wall_h=sum(r['wall_h'] for r in rows),
                 segments=sum(r['segments'] for r in rows), iterations=sum(r['iterations'] for r in rows))
    return dict(rows=rows, total=total, limit_h=limit_h, caveat=CAVEAT)


def format_table(plan):
    """The plan as printed: one line per row, then the total and the caveat."""
    head = '%-28s %9s %6s %10s %9s %9s %8s' % ('row', 's/iter', 'gpus', 'iters', 'GPU-h', 'wall-h', 'segments')
    lines = [head, '-' * len(head)]
    for r in plan['rows']:
        lines.append('%-28s %9.3f %6d %10d %9.1f %9.1f %8d' % (r['row'], r['s_per_iter'], r['gpus'], r['iterations'],
                                                             r['gpu_hours'], r['wall_h'], r['segments']))
    t = plan['total']
    lines.append('%-28s %9s %6s %10d %9.1f %9.1f %8d' % ('total (one run after another)', '', '', t['iterations'],
                                                         t['gpu_hours'], t['wall_h'], t['segments']))
    lines.append('caveat: ' + plan['caveat'])
    return '\n'.join(lines)

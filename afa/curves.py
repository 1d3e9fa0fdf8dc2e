"""Training curves (total loss per iteration) of every run, read from mmdet's JSON logs: for the report."""
import glob
import json
import os

from . import atomic
from .errors import AfaError


def read_losses(work_dir):
    """[(global iteration, loss)] from the run's newest *.log.json files (resumed runs log in several files)."""
    points = []
    for path in sorted(glob.glob(os.path.join(work_dir, '*.log.json'))):
        with open(path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a run killed mid-write leaves a partial last line
                if entry.get('mode') == 'train' and 'loss' in entry:
                    points.append((entry['epoch'], entry['iter'], entry['loss']))
    if not points:
        return []
    per_epoch = max(it for _, it, _ in points)
    return sorted(((epoch - 1) * per_epoch + it, loss) for epoch, it, loss in points)


def plot_curves(runs_dir, path):
    if not os.path.isdir(runs_dir):
        raise AfaError('--runs %s is not a folder of run folders; pass e.g. runs/smoke' % runs_dir)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = 0
    for work_dir in sorted(glob.glob(os.path.join(runs_dir, '*'))):
        points = read_losses(work_dir)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=os.path.basename(work_dir), linewidth=1)
            drawn += 1
    ax.set_xlabel('iteration')
    ax.set_ylabel('training loss')
    ax.set_title('Training curves (%d runs)' % drawn)
    if drawn:
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
    return drawn

"""Training curves (total loss per iteration) of every run, read from mmdet's JSON logs: for the report.

One panel per table of configs/zoo.yaml, one colour per row; the seeds and run kinds of a row share its colour
(seeds dashed). The smoke scale logs every few iterations (afa.runs.smoke) so that even a short run shows a trend.
"""
import glob
import json
import os

from afa.utils import atomic
from afa.runs import layout
from afa.utils.errors import AfaError



def read_losses(work_dir):
    """[(global iteration, loss)] from the run's *.log.json files (resumed runs log in several files)."""
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
    return sorted(set(((epoch - 1) * per_epoch + it, loss) for epoch, it, loss in points))


def _table_of(run_name, zoo):
    try:
        row = layout.parse_run_id(run_name).row
    except ValueError:
        return 'other'
    return zoo.row(row)['table'] if row in zoo.ids() else 'other'


def plot_curves(runs_dir, path, zoo=None):
    """Draw every run's curve into ``path``; returns how many runs had a log."""
    if not os.path.isdir(runs_dir):
        raise AfaError('--runs %s is not a folder of run folders; pass e.g. runs/smoke' % runs_dir)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from afa.runs import zoo as zoo_mod
    zoo = zoo or zoo_mod.load()
    curves = {}
    for work_dir in sorted(glob.glob(os.path.join(runs_dir, '*'))):
        points = read_losses(work_dir)
        if points:
            name = os.path.basename(work_dir)
            curves.setdefault(_table_of(name, zoo), []).append((name, points))
    order = sorted(zoo.tables, key=lambda t: zoo.tables[t].get('order', 0)) + ['other']
    panels = [t for t in order if t in curves] or ['other']
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    colours = plt.get_cmap('tab10')
    for ax, table in zip(axes[:, 0], panels):
        rows = []
        for name, points in curves.get(table, []):
            run = _parse(name)
            key = run.row if run else name
            if key not in rows:
                rows.append(key)
            dashed = run is not None and (run.seed != layout.DEFAULT_SEED or name != run.row)
            ax.plot([p[0] for p in points], [p[1] for p in points], color=colours(rows.index(key) % 10),
                    linestyle='--' if dashed else '-', linewidth=1, label=name)
        ax.set_title(zoo.tables.get(table, {}).get('title', 'Other runs'), fontsize=9)
        ax.set_ylabel('training loss')
        ax.grid(alpha=0.3)
        if curves.get(table):
            ax.legend(fontsize=6, ncol=2, loc='upper right')
    axes[-1, 0].set_xlabel('iteration')
    drawn = sum(len(v) for v in curves.values())
    fig.suptitle('Training curves (%d runs)' % drawn)
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
    return drawn


def _parse(name):
    try:
        return layout.parse_run_id(name)
    except ValueError:
        return None

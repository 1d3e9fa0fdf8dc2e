"""Training curves of every run, read from mmdet's JSON logs: total loss per iteration (left) and validation box
AP per epoch (right; runs trained with validation: every paper-scale run, smoke runs with --validate).

One row of panels per table of configs/zoo.yaml, one colour per row; the seeds and run kinds of a row share its
colour (seeds dashed). The smoke scale logs every few iterations (afa.runs.smoke) so that even a short run shows a
trend. While runs train, TensorBoard shows the same curves live (RUN/tensorboard, see the README).
"""
import glob
import os

from afa.utils import atomic
from afa.runs import layout, training_log
from afa.utils.errors import AfaError



def read_losses(work_dir):
    """[(global iteration, loss)] from the run's *.log.json files (resumed runs log in several files)."""
    entries = training_log.read_entries(training_log.log_files(work_dir))
    points = [(e['epoch'], e['iter'], e['loss']) for e in entries if e.get('mode') == 'train' and 'loss' in e]
    if not points:
        return []
    per_epoch = max(it for _, it, _ in points)
    return sorted(set(((epoch - 1) * per_epoch + it, loss) for epoch, it, loss in points))


def read_val_ap(work_dir):
    """[(epoch, box AP in percent)] of the run's validations."""
    return sorted(training_log.validation_ap(training_log.read_entries(training_log.log_files(work_dir))).items())


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
    from matplotlib.ticker import MaxNLocator
    from afa.runs import zoo as zoo_mod
    zoo = zoo or zoo_mod.load()
    curves = {}
    for work_dir in sorted(glob.glob(os.path.join(runs_dir, '*'))):
        points, aps = read_losses(work_dir), read_val_ap(work_dir)
        if points or aps:
            name = os.path.basename(work_dir)
            curves.setdefault(_table_of(name, zoo), []).append((name, points, aps))
    order = sorted(zoo.tables, key=lambda t: zoo.tables[t].get('order', 0)) + ['other']
    panels = [t for t in order if t in curves] or ['other']
    fig, axes = plt.subplots(len(panels), 2, figsize=(13, 3.2 * len(panels)), squeeze=False,
                             gridspec_kw=dict(width_ratios=[3, 2]))
    colours = plt.get_cmap('tab10')
    for (loss_ax, ap_ax), table in zip(axes, panels):
        rows = []
        for name, points, aps in curves.get(table, []):
            run = _parse(name)
            key = run.row if run else name
            if key not in rows:
                rows.append(key)
            style = dict(color=colours(rows.index(key) % 10), linewidth=1, label=name,
                         linestyle='--' if run is not None and (run.seed != layout.DEFAULT_SEED or name != run.row)
                         else '-')
            if points:
                loss_ax.plot([p[0] for p in points], [p[1] for p in points], **style)
            if aps:
                ap_ax.plot([a[0] for a in aps], [a[1] for a in aps], marker='o', markersize=3, **style)
        title = zoo.tables.get(table, {}).get('title', 'Other runs')
        loss_ax.set_title(title, fontsize=9)
        loss_ax.set_ylabel('training loss')
        ap_ax.set_title('validation box AP per epoch', fontsize=9)
        ap_ax.set_ylabel('box AP (%)')
        ap_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (loss_ax, ap_ax):
            ax.grid(alpha=0.3)
        if any(p for _, p, _ in curves.get(table, [])):
            loss_ax.legend(fontsize=6, ncol=2, loc='upper right')
        if not any(a for _, _, a in curves.get(table, [])):
            ap_ax.text(0.5, 0.5, 'no validation yet\n(afa train --validate)', ha='center', va='center',
                       transform=ap_ax.transAxes, fontsize=8, color='grey')
        else:
            ap_ax.legend(fontsize=6, loc='lower right')
    axes[-1, 0].set_xlabel('iteration')
    axes[-1, 1].set_xlabel('epoch')
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

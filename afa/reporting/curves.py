"""Training curves of every run, read from mmdet's JSON logs: total loss per iteration (left) and validation box
AP per epoch (right; runs trained with validation: every run of the workflow, `afa train` by hand at the paper
scale or with --validate). No panel is left empty: without any validation the AP column is left out, and a table
whose runs did not validate says so in one line.

One row of panels per table of configs/zoo.yaml, one colour per row; the seeds and run kinds of a row share its
colour (seeds dashed). The smoke scale logs every few iterations (afa.runs.smoke) so that even a short run shows a
trend. While runs train, TensorBoard shows the same curves live (RUN/tensorboard, docs/usage.md).
"""
import os

from afa.runs import layout, training_log
from afa.runs.folder import RunFolder
from afa.utils import atomic
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
    from afa.runs import zoo as zoo_mod
    zoo = zoo or zoo_mod.load()
    fig, drawn = draw_curves(read_curves(runs_dir, zoo), zoo)
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
    return drawn


def read_curves(runs_dir, zoo):
    """{table: [(run name, [(iteration, loss)], [(epoch, box AP)])]} of the run folders that logged anything."""
    curves = {}
    for folder in RunFolder.all_in(runs_dir):
        points, aps = read_losses(folder.path), read_val_ap(folder.path)
        if points or aps:
            curves.setdefault(_table_of(folder.run_id, zoo), []).append((folder.run_id, points, aps))
    return curves


def draw_curves(curves, zoo):
    """(matplotlib figure, runs drawn) of ``read_curves``' result: one row of panels per table."""
    import matplotlib.pyplot as plt
    order = sorted(zoo.tables, key=lambda t: zoo.tables[t].get('order', 0)) + ['other']
    panels = [t for t in order if t in curves] or ['other']
    validated = any(aps for runs in curves.values() for _, _, aps in runs)
    fig, axes = plt.subplots(len(panels), 2 if validated else 1, figsize=(13 if validated else 8, 3.2 * len(panels)),
                             squeeze=False, gridspec_kw=dict(width_ratios=[3, 2]) if validated else None)
    colours = plt.get_cmap('tab10')
    for panel_axes, table in zip(axes, panels):
        loss_ax, ap_ax = panel_axes[0], (panel_axes[-1] if validated else None)
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
            if aps and ap_ax is not None:
                ap_ax.plot([a[0] for a in aps], [a[1] for a in aps], marker='o', markersize=3, **style)
        title = zoo.tables.get(table, {}).get('title', 'Other runs')
        loss_ax.set_title(title, fontsize=9)
        loss_ax.set_ylabel('training loss')
        loss_ax.grid(alpha=0.3)
        if any(p for _, p, _ in curves.get(table, [])):
            loss_ax.legend(fontsize=6, ncol=2, loc='upper right')
        else:
            _say(loss_ax, 'no training loss logged yet')
        if ap_ax is not None:
            _ap_panel(ap_ax, any(a for _, _, a in curves.get(table, [])))
    axes[-1, 0].set_xlabel('iteration')
    if validated:
        axes[-1, 1].set_xlabel('epoch')
    drawn = sum(len(v) for v in curves.values())
    fig.suptitle('Training curves (%d runs)' % drawn)
    fig.tight_layout()
    return fig, drawn


def _say(ax, text):
    """One grey line in the middle of a panel that has nothing to draw, saying why."""
    ax.text(0.5, 0.5, text, ha='center', va='center', transform=ax.transAxes, fontsize=8, color='grey')


def _ap_panel(ax, drawn):
    from matplotlib.ticker import MaxNLocator
    ax.set_title('validation box AP per epoch', fontsize=9)
    ax.set_ylabel('box AP (%)')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=6, loc='lower right')
    else:
        _say(ax, 'these runs did not validate during training (afa train --validate)')


def _parse(name):
    try:
        return layout.parse_run_id(name)
    except ValueError:
        return None

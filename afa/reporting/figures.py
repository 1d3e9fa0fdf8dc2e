"""The figures of `afa tables` (matplotlib only): reproduced vs paper AP per line, and the AFA gains.

One horizontal line per table line, labelled on the y axis (16 rows and more stay readable), the paper's
number as an open marker, the reproduced one filled with its seed standard deviation as an error bar. No panel
is left empty: a measure no line has (mask AP of Deformable-DETR rows alone) is left out, and a figure with
nothing to draw says why in one line.
"""
from afa.utils import atomic
from afa.reporting.gains import gain


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _label(line):
    backbone = line.backbone.replace('ResNeXt-', 'X-').replace('ResNet-', 'R-')
    text = '%s %s %s %s' % (line.schedule, line.model, line.module, backbone)
    return text if line.line == 'default' else '%s %s' % (text, line.line)


def _title(scale):
    note = {'smoke': ' (synthetic data, smoke scale: not comparable)',
            'rehearsal': ' (rehearsal: a few steps on synthetic data, not results)'}.get(scale, '')
    return 'AFA reproduction%s' % note


def _separators(ax, lines):
    """Thin lines between tables, so the 1x, 3x and control rows read as groups."""
    for i in range(1, len(lines)):
        if lines[i].table != lines[i - 1].table:
            ax.axhline(i - 0.5, color='0.8', linewidth=0.8)


def reproduced_vs_paper(lines, zoo, path, scale):
    """Box and mask AP val: paper (open) and reproduced (filled, +- seed std) for every line."""
    _save(reproduced_vs_paper_figure(lines, scale), path)


def reproduced_vs_paper_figure(lines, scale):
    plt = _plt()
    keys = [(key, xlabel) for key, xlabel in (('box_val', 'box AP val (%)'), ('mask_val', 'mask AP val (%)'))
            if any(ln.paper[key] is not None or ln.ours[key].n for ln in lines)]
    if not keys:
        return _nothing_to_draw('no line has a box or mask AP, neither the paper\'s nor reproduced', scale)
    fig, axes = plt.subplots(1, len(keys), sharey=True, figsize=(5.5 * len(keys), 1.2 + 0.32 * len(lines)),
                             squeeze=False)
    axes = axes[0]
    ys = list(range(len(lines)))
    for ax, (key, xlabel) in zip(axes, keys):
        paper = [(y, ln.paper[key]) for y, ln in zip(ys, lines) if ln.paper[key] is not None]
        ours = [(y, ln.ours[key]) for y, ln in zip(ys, lines) if ln.ours[key].n]
        ax.scatter([p for _, p in paper], [y for y, _ in paper], marker='o', facecolors='none',
                   edgecolors='tab:gray', label='paper', zorder=3)
        ax.errorbar([s.mean for _, s in ours], [y for y, _ in ours], xerr=[s.std or 0 for _, s in ours],
                    fmt='o', color='tab:blue', capsize=3, label='reproduced (\u00b1 seed std)', zorder=4)
        for y, s in ours:
            ax.annotate('%.1f' % s.mean, (s.mean, y), textcoords='offset points', xytext=(6, 3), fontsize=7,
                        color='tab:blue')
        _separators(ax, lines)
        ax.set_xlabel(xlabel)
        ax.set_xlim(left=0)
        ax.grid(axis='x', alpha=0.3)
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels([_label(ln) for ln in lines], fontsize=8)
    axes[0].invert_yaxis()
    axes[0].legend(loc='lower left', fontsize=8)
    fig.suptitle(_title(scale))
    fig.tight_layout()
    return fig


def gains(lines, zoo, path, scale):
    """Box AP gain of every AFA line over Sum-Up: paper vs reproduced (95% interval with seeds); and over the
    AdamW Sum-Up control (reproduced only: the paper has no such row)."""
    _save(gains_figure(lines, scale), path)


def gains_figure(lines, scale):
    plt = _plt()
    def drawn(line):
        found = [gain(line, lines, kind) for kind in ('sumup', 'control')]
        return any(g is not None and (g.paper is not None or g.ours is not None) for g in found)
    afa_lines = [ln for ln in lines if drawn(ln)]
    if not afa_lines:
        return _nothing_to_draw('no AFA line with a Sum-Up line of its backbone and schedule to compare with', scale)
    fig, ax = plt.subplots(figsize=(9, 1.9 + 0.4 * max(1, len(afa_lines))))
    ys = list(range(len(afa_lines)))
    styles = (('sumup', -0.15, 'tab:blue', 'reproduced vs Sum-Up'),
              ('control', 0.15, 'tab:orange', 'reproduced vs AdamW Sum-Up'))
    paper = [(y, gain(ln, lines, 'sumup').paper) for y, ln in zip(ys, afa_lines)]
    paper = [(y, p) for y, p in paper if p is not None]
    ax.scatter([p for _, p in paper], [y for y, _ in paper], marker='D', color='black', label='paper, vs Sum-Up',
               zorder=5)
    for kind, offset, colour, label in styles:
        points = [(y + offset, gain(ln, lines, kind)) for y, ln in zip(ys, afa_lines)]
        points = [(y, g) for y, g in points if g is not None and g.ours is not None]
        if not points:
            continue
        err = [[g.ours - g.interval[0] if g.interval else 0 for _, g in points],
               [g.interval[1] - g.ours if g.interval else 0 for _, g in points]]
        ax.errorbar([g.ours for _, g in points], [y for y, _ in points], xerr=err, fmt='o', color=colour,
                    capsize=3, label=label + ' (95% CI)', zorder=4)
    ax.axvline(0, color='0.5', linewidth=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([_label(ln) for ln in afa_lines], fontsize=8)
    ax.set_ylim(len(afa_lines) - 0.5, -0.5)
    ax.set_xlabel('box AP val gain (AP points); no error bar: one seed')
    ax.grid(axis='x', alpha=0.3)
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8, frameon=False)
    ax.set_title('Box AP gain of the AFA necks%s' % ('' if scale == 'paper' else ' (%s scale)' % scale))
    fig.tight_layout()
    return fig


def _nothing_to_draw(why, scale):
    """A small figure that says in one line why there is nothing to draw (the workflow expects the file)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 1.2))
    ax.axis('off')
    ax.text(0.5, 0.5, why, ha='center', va='center', fontsize=10, color='0.3')
    fig.suptitle(_title(scale), fontsize=10)
    return fig


def _save(fig, path):
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    _plt().close(fig)

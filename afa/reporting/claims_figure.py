"""The figure of the claims page (matplotlib only): one row per claim line, the reproduced effect with its 95%
interval coloured by its verdict, the paper's figure as an open diamond (at the paper scale only), and the verdict
written at the right, so a reader sees at a glance which claims hold. The x axis is each claim's own quantity: a
gain or difference in AP points, or reproduced minus paper for the reported numbers (their paper figure is 0)."""
from afa.reporting import verdicts as v
from afa.reporting.figures import _plt
from afa.utils import atomic
from afa.runs import layout

COLOURS = {v.HOLDS: 'tab:green', v.FAILS: 'tab:red', v.INCONCLUSIVE: 'tab:orange', v.NOT_RUN: '0.6'}


def _label(r):
    metric = 'box' if r.metric.startswith('box') else 'mask'
    return '%s [%s]' % (r.text if len(r.text) <= 60 else r.text[:57] + '...', metric)


def _paper_x(r):
    if r.claim.kind == 'matches':
        return 0.0 if r.paper is not None else None
    return r.paper


def _point(r):
    """mean(first row) - mean(second row) of a two-row claim whose rows both have a number; else None."""
    if r.claim.kind in ('matches', 'no_baseline') or len(r.numbers) != 2:
        return None
    (_, a), (_, b) = r.numbers
    return a.mean - b.mean if a is not None and b is not None and a.n and b.n else None


def draw(results, scale, path):
    """Write the claims figure of ``results`` (claims.evaluate) to ``path``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(12, 1.6 + 0.26 * max(1, len(results))))
    ys = list(range(len(results)))
    for y, r in zip(ys, results):
        colour = COLOURS[r.verdict]
        if r.estimate is not None:
            low, high = r.estimate.interval()
            ax.errorbar([r.estimate.value], [y], xerr=[[r.estimate.value - low], [high - r.estimate.value]],
                        fmt='o', color=colour, capsize=2, markersize=4, zorder=4)
        elif _point(r) is not None:  # no spread known: the observed difference, without an interval
            ax.scatter([_point(r)], [y], marker='o', facecolors='none', edgecolors=colour, s=18, zorder=4)
        px = _paper_x(r) if scale == 'paper' else None  # synthetic data is never set against the paper
        if px is not None:
            ax.scatter([px], [y], marker='D', facecolors='none', edgecolors='black', s=22, zorder=5)
        ax.annotate(r.verdict, xy=(1.01, y), xycoords=('axes fraction', 'data'), va='center', fontsize=7,
                    color=colour, annotation_clip=False)
    for y in range(1, len(results)):
        if results[y].claim.section != results[y - 1].claim.section:
            ax.axhline(y - 0.5, color='0.8', linewidth=0.8)
    ax.axvline(0, color='0.5', linewidth=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([_label(r) for r in results], fontsize=7)
    ax.set_ylim(len(results) - 0.5, -0.5)
    ax.set_xlabel('AP points: %s\nbar: 95%% interval; open circle: no interval (no known spread)%s' % (
        'difference of the two rows on synthetic data' if scale in layout.SYNTHETIC_SCALES else
        'gain or difference of the two rows (reproduced - paper for the reported numbers)',
        '' if scale in layout.SYNTHETIC_SCALES else '; open diamond: the paper\'s figure'))
    ax.grid(axis='x', alpha=0.3)
    handles = [plt.Line2D([], [], marker='o', linestyle='', color=c, label=name) for name, c in COLOURS.items()]
    ax.legend(handles=handles, loc='lower center', bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8, frameon=False)
    ax.set_title('The paper\'s claims, checked%s' % (
        ' - SMOKE SCALE: synthetic data, says nothing about the paper' if scale in layout.SYNTHETIC_SCALES else ''),
        color='tab:red' if scale in layout.SYNTHETIC_SCALES else 'black', pad=22)
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches='tight'))
    plt.close(fig)

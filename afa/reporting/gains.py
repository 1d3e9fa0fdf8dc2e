"""The paper's claim, reproduced: the box AP gain of an AFA line over its baseline line (Sum-Up of the same backbone
and schedule, or the AdamW Sum-Up control), with a 95% interval from the seeds. Shared by the tables and figures."""
import collections
import re

from afa.reporting import stats
from afa.runs import layout

SUMUP = 'Sum-Up'
NOT_RUN = 'not run yet'
# The gains: (CSV prefix, column title, which baseline row).
GAINS = (('vs_sumup', 'box gain over Sum-Up (paper / ours [95% CI])', 'sumup'),
         ('vs_adamw', 'box gain over AdamW Sum-Up (ours [95% CI])', 'control'))


def _baseline(line, lines, kind):
    """(paper baseline line, run baseline line, why there is none) for this AFA line's gain; None when the
    line is not an AFA row (no gain to claim)."""
    if line.model != 'CMRCN' or line.control or line.module == SUMUP:
        return None
    rows = [b for b in lines if b.model == line.model and b.backbone == line.backbone
            and b.schedule == line.schedule and (b.control if kind == 'control' else b.module == SUMUP)]
    if not rows:
        return None, None, 'no %s row for %s %s' % ('AdamW Sum-Up' if kind == 'control' else SUMUP,
                                                    line.backbone, line.schedule)
    # Same variant, precision and batch when the baseline has it, else the baseline's run at the same precision
    # and batch (a run of another batch is never compared with the recipe's).
    plain = line.line
    if plain.startswith(layout.VARIANT_SEPARATOR):
        plain = re.match(r'\+%s(.*)$' % layout.ROW_PATTERN, plain).group(1) or 'default'
    for wanted in (line.line, plain):
        for b in rows:
            if b.line == wanted and b.status == 'done':
                return rows[0], b, None
    return rows[0], None, '%s (%s) %s' % (rows[0].id, plain, NOT_RUN)


Gain = collections.namedtuple('Gain', 'baseline paper ours interval n why')


def gain(line, lines, kind, key='box_val'):
    """The reproduced and the paper's gain of ``line`` over its baseline, with the 95% interval; None for a
    line that claims no gain."""
    found = _baseline(line, lines, kind)
    if found is None:
        return None
    paper_base, base, why = found
    paper = (None if paper_base is None or line.paper[key] is None or paper_base.paper[key] is None
             else line.paper[key] - paper_base.paper[key])
    a = line.ours[key]
    if not a.n:
        return Gain(None, paper, None, None, None, why if paper_base is None else NOT_RUN)
    if base is None or not base.ours[key].n:
        return Gain(None, paper, None, None, None, why or '%s: no %s' % (base.id, key))
    b = base.ours[key]
    return Gain(base.id, paper, a.mean - b.mean, stats.welch_interval(a, b), (a.n, b.n), None)


def _round(value, digits=3):
    """AP differences to 1/1000 of a point: no float noise (1.7999999999999972) in the CSV."""
    return None if value is None else round(value, digits)


def gains_frame(lines):
    """One record per AFA line and baseline kind (box and mask val): gains.csv."""
    import pandas as pd
    records = []
    for line in lines:
        for _, _, kind in GAINS:
            for key in ('box_val', 'mask_val'):
                g = gain(line, lines, kind, key)
                if g is None:
                    continue
                records.append({'id': line.id, 'line': line.line, 'baseline_kind': kind, 'baseline': g.baseline,
                                'metric': key, 'paper_gain': _round(g.paper), 'ours_gain': _round(g.ours),
                                'ci95_low': _round(g.interval[0]) if g.interval else None,
                                'ci95_high': _round(g.interval[1]) if g.interval else None,
                                'n': '%d vs %d' % g.n if g.n else None, 'missing': g.why})
    return pd.DataFrame.from_records(records)

"""What `afa plan` adds under the rows it plans: the claims each row serves (configs/claims.yaml), the seeds per row
that decide each claim at 95% (afa/reporting/claims.py, verdicts.py) and, with --probe, the GPU-hours those seeds
cost, so that a reader sees the price of a decision before paying it.

The spread behind the seed counts is the reproduction's own (its summary.csv in results/SCALE, when rows there
have two or more seeds), else the cited figure; at the smoke scale without repeated seeds none is known.
"""
import collections
import os

from afa.runs import layout


def _target(run_id):
    """ROW or ROW+VARIANT of a run id (its seed, precision and batch dropped); None for a config file's run."""
    try:
        run = layout.parse_run_id(run_id)
    except ValueError:
        return None
    return run.row + (layout.VARIANT_SEPARATOR + run.variant if run.variant else '')


def _lines(zoo, scale, results_root):
    """The table lines of the results already in results/SCALE (none when there are none)."""
    path = os.path.join(layout.results_dir(results_root, scale), layout.TABLE_FILES['summary'])
    if not os.path.exists(path):
        return []
    import pandas as pd
    from afa.reporting.tables import lines_of
    try:
        return lines_of(pd.read_csv(path), zoo)
    except (ValueError, KeyError):
        return []  # a summary of another version: the cited spread serves


def decisions(records, scale, zoo=None, results_root=layout.RESULTS_ROOT):
    """[(claim, {metric: seeds}, rows in the plan, rows not in it, GPU-hours of one seed of the planned rows or
    None)] of every claim that a planned record's row serves, and the spreads used."""
    from afa.reporting import claims
    from afa.runs import zoo as zoo_mod
    zoo = zoo or zoo_mod.load()
    _, spread, results = claims.evaluate(_lines(zoo, scale, results_root), zoo, scale)
    hours = collections.defaultdict(float)
    probed = True
    for record in records:
        target = _target(record['run_id'])
        if target is None:
            continue
        if record.get('gpu_hours') is None:
            probed = False
        hours[target] += record.get('gpu_hours') or 0.0
    by_claim = collections.OrderedDict()
    for r in results:
        if r.claim.kind == 'no_baseline' or not any(t in hours for t in r.rows):
            continue
        key = (r.claim.id, tuple(r.rows))
        entry = by_claim.setdefault(key, [r, collections.OrderedDict()])
        entry[1][r.metric] = r.seeds
    out = []
    for (_, rows), (r, seeds) in by_claim.items():
        planned = [t for t in rows if t in hours]
        out.append((r, seeds, planned, [t for t in rows if t not in hours],
                    sum(hours[t] for t in planned) if probed else None))
    return out, spread


def format_lines(records, scale, zoo=None, results_root=layout.RESULTS_ROOT):
    """The text `afa plan` prints after the plan: one line per claim the planned rows serve."""
    from afa.reporting import claims
    from afa.reporting.verdicts import MAX_SEEDS, seeds_text
    found, spread = decisions(records, scale, zoo, results_root)
    if not found:
        return ''
    described = collections.OrderedDict()  # one line for the metrics that share a spread
    for metric, s in spread.items():
        described.setdefault(s.describe() if s else 'none known (run two or more seeds)', []).append(
            claims.METRICS[metric])
    sds = '; '.join('%s: %s' % (' and '.join(metrics), text) for text, metrics in described.items())
    lines = ['Seeds per row to decide the claims these rows serve (95%%, an 80%% chance at the paper\'s effect; '
             '%s has the verdicts):' % os.path.join(layout.results_dir(results_root, scale),
                                                     layout.TABLE_FILES['claims']), '  spread: ' + sds]
    for r, seeds, _, missing, gpu_hours in found:
        known = [n for n in seeds.values() if n is not None]
        counts = ', '.join('%s %s' % (m.split('_')[0], seeds_text(n)) for m, n in seeds.items())
        text = '  %s: %s: %s seed(s) per row' % (r.claim.id, r.text, counts)
        if gpu_hours is not None and known and max(known) <= MAX_SEEDS:
            text += ' = %.1f GPU-h for the planned row(s)' % (max(known) * gpu_hours)
        if missing:
            text += ' (also needs %s, not in this plan)' % ', '.join(missing)
        lines.append(text)
    return '\n'.join(lines)

"""The paper's claims, checked: one line per claim (configs/claims.yaml) and metric with the rows it rests on, the
paper's figure, the reproduced one with its interval and seeds, a verdict with why, and the seeds per row that
decide it; written by `afa tables` beside the tables as claims.md and claims.json (the rules:
afa/reporting/verdicts.py).

A claim rests on each row's default line (the paper's recipe at fp32: ROW, or ROW+VARIANT where the claim names
one); other precisions and batches are the tables' business. At the smoke scale the verdicts are about the smoke
model on synthetic data: gains are judged by their sign alone, and the claims that need a margin in COCO AP (the
reported numbers, "nearly matches") are left out; the page says so.
"""
import collections
import json
import os

import yaml

from afa.reporting import verdicts as v
from afa.runs import layout
from afa.utils.errors import AfaError
from afa.utils.repo import REPO_ROOT

CLAIMS_FILE = os.path.join(REPO_ROOT, 'configs', 'claims.yaml')
KINDS = ('gain', 'not_worse', 'improves', 'no_baseline', 'matches')
METRICS = collections.OrderedDict([('box_val', 'box AP val'), ('mask_val', 'mask AP val')])
ALL_ROWS = 'all'
PAPER_SCALE_ONLY = ('matches', 'not_worse')  # judged against a margin in COCO AP: nothing to say of synthetic data
SCALE_BANNER = {
    'smoke': '> **Synthetic data: these verdicts say nothing about the paper.** They judge the smoke model (a '
             'shrunken detector trained for minutes on synthetic shapes) by the same rows and rules, to show the '
             'checks run end to end. Gains are judged by their sign alone; the claims that need a margin in COCO '
             'AP (the reported numbers, "nearly matches") are not checked at this scale.',
    'rehearsal': '> **Synthetic data, a few optimizer steps: these verdicts say nothing about the paper.** The '
                 'rehearsal runs the paper\'s recipes for two steps on a handful of COCO-shaped images to show that '
                 'every stage runs; its claims are judged by sign alone, as at the smoke scale.',
    'paper': '> COCO val2017, the paper\'s recipes: each verdict is about the paper\'s claim.',
}
SMOKE_RULE = ('Every comparison (gains and control rows alike) by its sign on synthetic data: the 95% interval '
              'above 0: *holds*; below 0: *does not hold*; otherwise *inconclusive* (also with one seed per row, '
              'when no spread is known).')
INTRO = ('One line per claim and metric: the rows it rests on (first the row claimed for, then its baseline; each '
         'row\'s default run, the paper\'s recipe at fp32), the paper\'s figure, the reproduced one with its 95% '
         'interval and the seeds per row behind it, the verdict and why, and the seeds per row that decide the '
         'claim (at 95%, with an 80% chance). AP in points.')

Claim = collections.namedtuple('Claim', 'id section kind text rows metrics why total_over')
Result = collections.namedtuple('Result', 'claim metric rows text paper estimate numbers verdict why seeds')


# ---------------------------------------------------------------------------------------------- the claims file

def load(zoo, path=CLAIMS_FILE):
    """(sections {name: title}, [Claim]) of configs/claims.yaml, every row checked against ``zoo``."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except OSError as e:
        raise AfaError('cannot read the claims %s: %s' % (path, e.strerror or e)) from None
    except yaml.YAMLError as e:
        raise AfaError('%s is not valid YAML: %s' % (path, e)) from None
    sections = collections.OrderedDict(data.get('sections') or {})
    claims = []
    for index, entry in enumerate(data.get('claims') or []):
        where = '%s, claim %d (%s)' % (path, index + 1, entry.get('id', 'no id'))
        missing = [k for k in ('id', 'section', 'kind', 'text', 'rows', 'metrics') if k not in entry]
        if missing:
            raise AfaError('%s: missing field(s) %s' % (where, ', '.join(missing)))
        if entry['kind'] not in KINDS:
            raise AfaError('%s: kind %r is none of %s' % (where, entry['kind'], ', '.join(KINDS)))
        if entry['section'] not in sections:
            raise AfaError('%s: section %r is not declared under "sections" (%s)'
                           % (where, entry['section'], ', '.join(sections)))
        unknown = [m for m in entry['metrics'] if m not in METRICS]
        if unknown:
            raise AfaError('%s: metric(s) %s are none of %s' % (where, unknown, ', '.join(METRICS)))
        rows = entry['rows']
        if rows == ALL_ROWS:
            if entry['kind'] != 'matches':
                raise AfaError('%s: rows: %s is for kind matches only' % (where, ALL_ROWS))
        else:
            for target in list(rows) + ([entry['total_over']] if entry.get('total_over') else []):
                try:
                    zoo.lookup(target)
                except AfaError as e:
                    raise AfaError('%s: %s' % (where, e)) from None
            if entry['kind'] in ('gain', 'not_worse', 'improves') and len(rows) != 2:
                raise AfaError('%s: a %s claim names two rows (claimed for, baseline), not %d'
                               % (where, entry['kind'], len(rows)))
        claims.append(Claim(entry['id'], entry['section'], entry['kind'], entry['text'], rows,
                            list(entry['metrics']), entry.get('why'), entry.get('total_over')))
    return sections, claims


# ---------------------------------------------------------------------------------------------- evidence

def _line_key(target):
    row, _, variant = target.partition(layout.VARIANT_SEPARATOR)
    return row, (layout.VARIANT_SEPARATOR + variant) if variant else 'default'


def _summary(lines_by_key, target, metric):
    """The stats.Summary of ``target``'s default line for ``metric``; None when the line has not run."""
    line = lines_by_key.get(_line_key(target))
    if line is None or line.status != 'done':
        return None
    return line.ours[metric]


def _paper(zoo, target, metric):
    return zoo.row(_line_key(target)[0])['paper'].get(metric)


def _paper_figure(claim, zoo, rows, metric):
    if claim.kind == 'matches':
        return _paper(zoo, rows[0], metric)
    if claim.kind in ('gain', 'not_worse'):
        a, b = _paper(zoo, rows[0], metric), _paper(zoo, rows[1], metric)
        return None if a is None or b is None else round(a - b, 3)
    return None


def spreads(lines, scale):
    """{metric: verdicts.Spread}: the reproduction's own seeds pooled over its lines (at the paper scale from
    verdicts.MIN_OWN_DF degrees of freedom on), else the cited figure at the paper scale; None at the smoke scale
    without repeated seeds (no spread is known for synthetic data)."""
    out = {}
    for metric in METRICS:
        own = v.pooled_spread([ln.ours[metric] for ln in lines if ln.status == 'done'])
        if scale in layout.SYNTHETIC_SCALES:
            out[metric] = own
        else:
            out[metric] = own if own and own.df >= v.MIN_OWN_DF else v.reference_spread(own)
    return out


def _row_label(zoo, target):
    row = zoo.row(_line_key(target)[0])
    backbone = row['backbone'].replace('ResNeXt-', 'X-').replace('ResNet-', 'R-')
    return ' '.join(w for w in (row['model'], row['module'], backbone, row['table']) if w != '-')


def _targets(claim, zoo, metric):
    """[(rows, text)] of one claim and metric: one entry, or one per zoo row with a paper number (matches)."""
    if claim.rows != ALL_ROWS:
        return [(list(claim.rows), claim.text)]
    return [([row.id], '%s %s' % (_row_label(zoo, row.id), claim.text)) for row in zoo
            if not row.control and row['paper'].get(metric) is not None]


def _seeds(claim, spread, paper, estimate, scale):
    """Seeds per row that decide the claim at 95% with an 80% chance, when the effect is the paper's (at the smoke
    scale: the one observed)."""
    if claim.kind == 'no_baseline' or spread is None:
        return None
    if scale in layout.SYNTHETIC_SCALES:
        return v.seeds(spread, abs(estimate.value)) if estimate is not None else None
    if claim.kind == 'gain':
        return v.seeds(spread, paper)
    if claim.kind == 'improves':  # a part as large as the margin told from none, or none shown negligible
        return max(v.seeds(spread, v.MARGIN_DIFFERENCE),
                   v.seeds(spread, v.MARGIN_DIFFERENCE, confidence=v.LEVEL, power=0.5 + v.POWER / 2,
                           one_sided=True))
    if claim.kind == 'matches':  # TOST when the reproduction is exactly the paper's model
        return v.seeds(spread, v.MARGIN_ROW, lines=1, power=0.5 + v.POWER / 2, one_sided=True)
    if paper is None:
        return None
    return v.seeds(spread, paper + v.MARGIN_DIFFERENCE, one_sided=True)  # not_worse at the paper's difference


def _verdict(claim, estimate, paper, scale):
    if scale in layout.SYNTHETIC_SCALES:
        return v.improves(estimate, margin=None)
    if claim.kind == 'gain':
        return v.gain(estimate, paper)
    if claim.kind == 'improves':
        return v.improves(estimate)
    if claim.kind == 'matches':
        return v.matches(estimate)
    return v.not_worse(estimate)


def _split(claim, lines_by_key, metric, estimate):
    """'; the neck's part of the gain over Sum-Up (SGD) +x: y%' for a control-row claim that names total_over."""
    if not claim.total_over or estimate is None:
        return ''
    afa, sumup = _summary(lines_by_key, claim.rows[0], metric), _summary(lines_by_key, claim.total_over, metric)
    if not (afa and afa.n and sumup and sumup.n):
        return '; the split needs %s' % claim.total_over
    total = afa.mean - sumup.mean
    share = ' (%d%% of it)' % round(100 * estimate.value / total) if total > 0 else ''
    return '; the gain over Sum-Up (SGD) is %+.2f, the neck\'s part %+.2f%s, the recipe\'s %+.2f' % (
        total, estimate.value, share, total - estimate.value)


def judge(claim, rows, text, metric, lines_by_key, zoo, spread, scale):
    """The Result of one claim line."""
    summaries = [_summary(lines_by_key, target, metric) for target in rows]
    numbers = [(target, s) for target, s in zip(rows, summaries)]
    paper = _paper_figure(claim, zoo, rows, metric)

    def result(verdict, why, estimate=None):
        return Result(claim, metric, rows, text, paper, estimate, numbers, verdict, why,
                      _seeds(claim, spread, paper, estimate, scale))

    if claim.kind == 'no_baseline':
        return result(v.INCONCLUSIVE, claim.why or 'no comparable row')
    missing = [t for t, s in numbers if s is None]
    if len(missing) == len(rows):
        return result(v.NOT_RUN, 'no run of %s yet' % ' or '.join(rows))
    if missing:
        return result(v.INCONCLUSIVE, 'a row not run: %s' % ', '.join(missing))
    empty = [t for t, s in numbers if not s.n]
    if empty:
        return result(v.INCONCLUSIVE, 'no %s for %s' % (METRICS[metric], ', '.join(empty)))
    if spread is None:
        return result(v.INCONCLUSIVE, 'one seed per row and no known run-to-run spread on synthetic data: run '
                                      'two or more seeds (workflow config `seeds: [0, 1]`)')
    if claim.kind == 'matches':
        estimate = v.offset(summaries[0], paper, spread)
    else:
        estimate = v.difference(summaries[0], summaries[1], spread)
    verdict, why = _verdict(claim, estimate, paper, scale)
    return result(verdict, why + _split(claim, lines_by_key, metric, estimate), estimate)


def evaluate(lines, zoo, scale, claims_path=CLAIMS_FILE):
    """(sections, spreads, [Result]) of every claim on the table lines (afa.reporting.tables.lines_of)."""
    sections, claims = load(zoo, claims_path)
    by_key = {(ln.id, ln.line): ln for ln in lines}
    spread = spreads(lines, scale)
    results = []
    for claim in claims:
        if scale in layout.SYNTHETIC_SCALES and claim.kind in PAPER_SCALE_ONLY:
            continue
        for metric in claim.metrics:
            for rows, text in _targets(claim, zoo, metric):
                results.append(judge(claim, rows, text, metric, by_key, zoo, spread[metric], scale))
    return sections, spread, results


# ---------------------------------------------------------------------------------------------- the page

def _pm(value):
    return '-' if value is None else '%+.2f' % value


def reproduced_cell(r):
    """'+1.90 [+1.35, +2.45] (seeds 1 vs 1)'; a row's number against the paper's; or why there is none."""
    if r.estimate is None:
        shown = ['%s %.2f (%d seed%s)' % (t, s.mean, s.n, 's' if s.n > 1 else '') for t, s in r.numbers
                 if s is not None and s.n]
        return '; '.join(shown) or '-'
    low, high = r.estimate.interval()
    seeds = ' vs '.join(str(n) for n in r.estimate.n)
    if r.claim.kind == 'matches':
        s = r.numbers[0][1]
        return '%.2f, %s [%s, %s] (seeds %s)' % (s.mean, _pm(r.estimate.value), _pm(low), _pm(high), seeds)
    return '%s [%s, %s] (seeds %s)' % (_pm(r.estimate.value), _pm(low), _pm(high), seeds)


def paper_cell(r, zoo):
    if r.claim.kind == 'no_baseline':
        return ', '.join('%.1f' % _paper(zoo, t, r.metric) for t in r.rows if _paper(zoo, t, r.metric) is not None)
    if r.paper is None:
        return '-'
    return ('%.1f' if r.claim.kind == 'matches' else '%+.1f') % r.paper


def verdict_cell(r, scale):
    synthetic = scale in layout.SYNTHETIC_SCALES and r.verdict in (v.HOLDS, v.FAILS)
    word = r.verdict + (' (synthetic data)' if synthetic else '')
    return '**%s**: %s' % (word, r.why)


def counts(results):
    found = collections.Counter(r.verdict for r in results)
    return ', '.join('%s %d' % (name, found[name]) for name in v.VERDICTS)


def render(sections, spread, results, scale, zoo):
    """The markdown of claims.md."""
    title = '%s scale: synthetic data' % scale if scale in layout.SYNTHETIC_SCALES else 'paper scale'
    parts = ['# The paper\'s claims, checked (%s)' % title, '', SCALE_BANNER[scale], '', INTRO, '',
             'Verdicts: %s.' % counts(results), '', '## How a claim is decided', '']
    parts += ['- Run-to-run spread (%s): %s.' % (METRICS[m], s.describe() if s else
                                                 'none known (one seed per row on synthetic data)')
              for m, s in spread.items()]
    if scale == 'paper':
        parts += ['- Margins, fixed in advance from the cited spread: %.2f AP for one row against the paper\'s '
                  'number, %.2f AP for a difference of two rows against the paper\'s difference. A paper figure '
                  'is one training run: 95%% of re-runs of the same model land within 1.96 sd of its expectation '
                  '(1.96 x %.2f), and a difference of two runs within 1.96 x sqrt(2) sd; no reproduction can be '
                  'asked to come closer to one run of the paper than that. They are wider than the release\'s own '
                  '~0.1 note, which is a typical gap, not a 95%% bound. The cited sd: %s.'
                  % (v.MARGIN_ROW, v.MARGIN_DIFFERENCE, v.REFERENCE_SD, v.REFERENCE_CITATION)]
    parts += ['- Intervals: difference of the means +- q x sd x sqrt(1/n_a + 1/n_b) (a row against the paper\'s '
              'number: sd / sqrt(n)), with the pooled sd above (one sd for every row, so that one seed per row can '
              'be judged; the tables\' gains use each pair\'s own Welch interval instead); q from Student\'s t at '
              'its degrees of freedom (own seeds) or the normal distribution (cited sd).']
    if scale in layout.SYNTHETIC_SCALES:
        parts += ['- ' + SMOKE_RULE, '- Seeds to decide: the fewest seeds per row for which the 95% interval '
                  'clears 0 with an 80% chance when the effect is the one observed here, from the sd above.',
                  '- Not checked at this scale: the reported numbers and the "nearly matches" claims (their '
                  'margins are in COCO AP).']
    else:
        parts += ['- ' + rule for rule in v.RULES]
        parts += ['- Seeds to decide: the fewest seeds per row for which the interval clears the rule\'s boundary '
                  'with an 80% chance when the effect is the paper\'s (a gain: 0; matches: the margin, around no '
                  'difference; nearly matches: -margin, at the paper\'s difference; the control rows: a part as '
                  'large as the margin told from none), from the sd above: n = lines x ((q_95% + q_80%) x sd / '
                  'distance)^2. `afa plan ROW... --probe` shows them beside the GPU-hours.']
    parts += ['- Each line is its own test at these levels, with no correction for multiplicity: over %d lines '
              'a verdict or two may be wrong by chance alone (each one-sided error is held at 2.5 to 5%%).'
              % len(results)]
    header = ['Claim', 'Metric', 'Rows', 'Paper%s' % (' (COCO)' if scale in layout.SYNTHETIC_SCALES else ''),
              'Reproduced [95% interval] (seeds)', 'Verdict', 'Seeds per row to decide']
    for name, section_title in sections.items():
        shown = [r for r in results if r.claim.section == name]
        if not shown:
            continue
        parts += ['', '## %s' % section_title, '', '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
        for r in shown:
            cells = [r.text, METRICS[r.metric], ' vs '.join(r.rows) if r.claim.kind != 'no_baseline' else
                     ', '.join(r.rows), paper_cell(r, zoo), reproduced_cell(r), verdict_cell(r, scale),
                     v.seeds_text(r.seeds)]
            parts.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(parts) + '\n'


def as_record(spread, results, scale):
    """claims.json: the page's content for machines."""
    def number(value):
        return None if value is None else round(value, 3)
    claims = []
    for r in results:
        low, high = r.estimate.interval() if r.estimate is not None else (None, None)
        claims.append(collections.OrderedDict([
            ('id', r.claim.id), ('section', r.claim.section), ('kind', r.claim.kind), ('text', r.text),
            ('metric', r.metric), ('rows', list(r.rows)), ('paper', number(r.paper)),
            ('reproduced', number(r.estimate.value) if r.estimate is not None else None),
            ('ci95_low', number(low)), ('ci95_high', number(high)),
            ('seeds', {t: (s.n if s is not None else 0) for t, s in r.numbers}),
            ('verdict', r.verdict), ('why', r.why), ('seeds_to_decide', r.seeds)]))
    return collections.OrderedDict([
        ('scale', scale), ('synthetic_data', scale in layout.SYNTHETIC_SCALES),
        ('about', 'synthetic data: says nothing about the paper' if scale in layout.SYNTHETIC_SCALES
         else 'the paper\'s claims'),
        ('level', v.LEVEL), ('power', v.POWER),
        ('margins', {'row': v.MARGIN_ROW, 'difference': v.MARGIN_DIFFERENCE} if scale == 'paper' else None),
        ('spread', {m: (dict(sd=round(s.sd, 4), df=s.df, source=s.source) if s else None)
                    for m, s in spread.items()}),
        ('rules', [SMOKE_RULE] if scale in layout.SYNTHETIC_SCALES else list(v.RULES)), ('claims', claims)])


def write(lines, zoo, scale, page_path, json_path):
    """Write claims.md and claims.json; returns the Results (for the figure)."""
    from afa.utils import atomic
    sections, spread, results = evaluate(lines, zoo, scale)
    atomic.write_text(page_path, render(sections, spread, results, scale, zoo))
    atomic.write_text(json_path, json.dumps(as_record(spread, results, scale), indent=2) + '\n')
    return results

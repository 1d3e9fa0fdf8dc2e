"""`afa tables`: the paper's tables regenerated from metrics JSON files, with pandas only (no torch, no mmdet).

Every run appears under its row: the default run, a variant (ROW+VARIANT), a precision (@amp, @mixed) each get
a line, and the seeds of one line (-seedN) are pooled into mean +- std (n). Each line shows the paper's value,
the reproduced one and the difference, and the paper's claim: the box AP gain of an AFA row over the Sum-Up row
of the same backbone and schedule (with a 95% interval from the seeds, afa.reporting.stats), beside the paper's gain,
and over the AdamW Sum-Up control row. Test-dev scores come from a small user CSV (run_id, box_ap, mask_ap). The
stack (torch, mmcv, mmdet) of each line and the provenance are written under each table. All metrics files must
be of one scale: smoke and paper results can never share a table.

Outputs: tables.md, summary.csv (one record per run: every per-seed number), gains.csv, the figures
(afa.reporting.figures) and the claims page with its figure (afa.reporting.claims: claims.md, claims.json).
"""
import collections
import os

from afa.runs.folder import BATCH_RECORD_FIELDS
from afa.utils import atomic
from afa.runs import layout
from afa.runs.folder import RunFolder, describe_not_compared
from afa.reporting import stats
from afa.reporting.gains import GAINS, NOT_RUN, gain, gains_frame
from afa.runs import zoo as zoo_mod
from afa.utils.errors import AfaError

TESTDEV_COLUMNS = ('run_id', 'box_ap', 'mask_ap')
# The line of a run that trained no row (a config file's run), never pooled with a row's line of the same name.
CONFIG_FILE_LINE = 'config file'
TITLE = '# AFA reproduction: regenerated tables (%s scale)'  # tables.md's first line: the scale of a results folder
SCALE_BANNER = {
    'smoke': '> **Smoke results**: synthetic shapes, a shrunken model trained for minutes on a CPU. They show '
             'that the pipeline runs end to end and learns; they are not comparable with the paper.',
    'rehearsal': '> **Rehearsal results**: the paper\'s full-size recipes for a few optimizer steps on a handful of '
                 'COCO-shaped synthetic images, with stand-in backbone weights where the real ones were not cached. '
                 'They show that every row runs from data to tables; the numbers are not results.',
    'paper': '> COCO 2017, the paper\'s recipes. val2017 numbers are computed by this pipeline; test-dev numbers '
             'come from the evaluation server (results/testdev_scores.csv).',
}
NUMBERS = (('box_val', 'bbox', 'box AP val'), ('mask_val', 'segm', 'mask AP val'),
           ('box_testdev', None, 'box AP test-dev'), ('mask_testdev', None, 'mask AP test-dev'))
RELEASED_HEADER = 'released weights: box / mask AP val'
STACK_PACKAGES = ('torch', 'mmcv', 'mmdet', 'cuda', 'gpu')
# The training layout of each run in summary.csv (from the metrics JSON).
LAYOUT_COLUMNS = BATCH_RECORD_FIELDS


# ---------------------------------------------------------------------------------------------- inputs

def load_metrics(runs_dir, scale, name=layout.METRICS_FILE):
    """{run_id: metrics dict} of every RUN/metrics.json under runs_dir; wrong scale or bad JSON is an error."""
    found = {}
    for folder in RunFolder.all_in(runs_dir):
        if os.path.isfile(folder.file(name)):
            metrics = RunFolder.read_metrics_strictly(folder.file(name), scale)
            found[metrics['run_id']] = metrics
    return found


def load_released_metrics(runs_dir, scale):
    """{row id: metrics dict} of the authors' released checkpoints (RUN/metrics_released.json, `afa test ROW
    RELEASED.pth`), kept apart from the runs trained here."""
    return {m.get('row') or run_id: m
            for run_id, m in load_metrics(runs_dir, scale, layout.RELEASED_METRICS_FILE).items()}


def released_cell(row, released):
    """'box / mask' val AP of the row's released checkpoint; why there is none otherwise."""
    m = released.get(row.id)
    if m:
        return '%.1f / %s' % (m['bbox']['AP'], '-' if not m.get('segm') else '%.1f' % m['segm']['AP'])
    return 'not evaluated' if row.get('release') else '-'


def released_lines(released, row_ids):
    """Which released checkpoints a table's column shows (sha256 from their metrics), below its provenance."""
    shown = ['%s (sha256 %s)' % (r, str(released[r].get('checkpoint_sha256'))[:12]) for r in row_ids
             if r in (released or {})]
    return ['Released weights evaluated: %s' % ', '.join(shown), ''] if shown else []


def load_testdev_scores(path, known=None, required=False):
    """{run_id: {'box_testdev': x, 'mask_testdev': y}} from the user's CSV (run_id,box_ap,mask_ap; '#' comments;
    an empty AP is no score). A missing file means none, unless ``required`` (the user named it). Every line is
    checked, naming file and line: all its fields (a truncated line is not a score), APs in percent, a run id
    that ``known(run_id)`` accepts, one score per run (a repeated line must agree)."""
    import csv
    if not path or (not required and not os.path.exists(path)):
        return {}
    try:
        with open(path, newline='') as f:
            lines = [(n, rec) for n, rec in enumerate(csv.reader(f), 1)
                     if rec and not rec[0].lstrip().startswith('#')]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AfaError('cannot read test-dev scores %s: %s; fix the file or the --testdev-scores path'
                       % (path, getattr(e, 'strerror', None) or e)) from None
    if not lines:
        return {}
    (_, header), rows = lines[0], lines[1:]
    header = [h.strip() for h in header]
    missing = [c for c in TESTDEV_COLUMNS if c not in header]
    if missing:
        raise AfaError('%s needs the columns %s (missing: %s)' % (path, ', '.join(TESTDEV_COLUMNS),
                                                                 ', '.join(missing)))
    scores, where = {}, {}
    for number, fields in rows:
        if len(fields) != len(header):
            raise AfaError('%s, line %d: %d field(s) where the header has %d (a truncated or mangled line?); '
                           'write run_id,box_ap,mask_ap (an empty AP for none)' % (path, number, len(fields),
                                                                                   len(header)))
        rec = {h: v.strip() for h, v in zip(header, fields)}
        run_id = rec['run_id']
        if known is not None and not known(run_id):
            raise AfaError('%s, line %d: %r is no run of these tables (no such row in configs/zoo.yaml and no '
                           'metrics of that run); check its spelling (`afa zoo --ids`)' % (path, number, run_id))
        score = {}
        for column, key in (('box_ap', 'box_testdev'), ('mask_ap', 'mask_testdev')):
            text = rec[column]
            try:
                value = float(text) if text else None
            except ValueError:
                value = float('nan')
            if value is not None and not 0.0 <= value <= 100.0:
                raise AfaError('%s, line %d: %s must be a number (AP in percent, 0 to 100), got %r'
                               % (path, number, column, text))
            score[key] = value
        if run_id in scores and scores[run_id] != score:
            raise AfaError('%s, lines %d and %d: two different scores for %s; keep the one the server gave'
                           % (path, where[run_id], number, run_id))
        scores[run_id], where[run_id] = score, number
    return scores


def _row_known(run_id, zoo):
    run = _parse(run_id)
    return run is not None and run.row in zoo.ids()


def _num(value):
    import pandas as pd
    return None if value is None or pd.isna(value) else float(value)


def stack_of(metrics):
    """'torch X, mmcv Y, mmdet Z[, cuda C, gpu G]': the software that produced a number."""
    versions = (metrics.get('provenance') or {}).get('versions') or {}
    text = ', '.join('%s %s' % (k, versions[k]) for k in STACK_PACKAGES if versions.get(k))
    return text or 'unknown'


# ---------------------------------------------------------------------------------------------- per run

def line_label(run):
    """How a line (the runs of one row that differ only by seed) is named: 'default', '+sgd', '@mixed'..."""
    label = ''
    if run.variant:
        label += layout.VARIANT_SEPARATOR + run.variant
    if run.precision != layout.DEFAULT_PRECISION:
        label += layout.PRECISION_SEPARATOR + run.precision
    if run.batch:  # another batch than the recipe's: its own line, never pooled with the paper's recipe
        label += '%s%d' % (layout.BATCH_PREFIX, run.batch)
    return label or 'default'


def _row_fields(row):
    return {'id': row.id, 'table': row['table'], 'model': row['model'], 'module': row['module'],
            'backbone': row['backbone'], 'schedule': row['schedule']}


def _run_record(fields, paper, run, metrics, testdev):
    rec = dict(fields)
    rec.update(run_id=str(run) if run else None, line=line_label(run) if run else 'default',
               variant=run.variant if run else None, precision=run.precision if run else None,
               seed=run.seed if run else None, status='done' if metrics else NOT_RUN,
               stack=stack_of(metrics) if metrics else None)
    trained = (metrics or {}).get('training_layout') or {}
    rec.update((k, trained.get(k)) for k in LAYOUT_COLUMNS)
    ours = {}
    if metrics:
        ours['box_val'] = metrics['bbox']['AP']
        ours['mask_val'] = (metrics.get('segm') or {}).get('AP')
    ours.update(testdev)
    for key, _, _ in NUMBERS:
        value = paper.get(key)
        rec['paper_' + key] = value
        rec['ours_' + key] = ours.get(key)
        rec['delta_' + key] = None if value is None or ours.get(key) is None else ours[key] - value
    return rec


def _parse(run_id):
    try:
        return layout.parse_run_id(run_id)
    except ValueError:
        return None


def build_frame(zoo, metrics, testdev, released=None):
    """One record per run (every seed of every line of every row), one per row without a run, then the runs
    that name no row of the zoo (a config file's run) under the table 'other': the CSV's pandas DataFrame.
    ``released``: {row id: metrics} of the authors' checkpoints, in every record of the row."""
    import pandas as pd
    by_row, others = collections.defaultdict(list), []
    for run_id in sorted(metrics):
        run = _parse(run_id)
        if run is not None and run.row in zoo.ids() and metrics[run_id].get('row', run.row) == run.row:
            by_row[run.row].append(run)  # the row it trained (RunSpec.describe: null for a config file's run)
        else:
            others.append(run_id)
    records = []
    for row in zoo:
        runs = sorted(by_row.get(row.id, []), key=lambda r: (line_label(r) != 'default', line_label(r), r.seed))
        if not runs:
            records.append(_run_record(_row_fields(row), row['paper'], None, None, testdev.get(row.id, {})))
        for run in runs:
            records.append(_run_record(_row_fields(row), row['paper'], run, metrics[str(run)],
                                       testdev.get(str(run), {})))
    for rec in records:
        r = (released or {}).get(rec['id'])
        rec['released_box_val'] = r['bbox']['AP'] if r else None
        rec['released_mask_val'] = (r.get('segm') or {}).get('AP') if r else None
    for run_id in others:
        fields = {'id': run_id, 'table': 'other', 'model': 'config file %s' % metrics[run_id].get('config', '?'),
                  'module': '-', 'backbone': '-', 'schedule': '-'}
        rec = _run_record(fields, {}, None, metrics[run_id], testdev.get(run_id, {}))
        rec.update(run_id=run_id, line=CONFIG_FILE_LINE, precision=metrics[run_id].get('precision'),
                   seed=metrics[run_id].get('seed'))
        records.append(rec)
    return pd.DataFrame.from_records(records)


# ---------------------------------------------------------------------------------------------- per line

Line = collections.namedtuple('Line', 'id line table model module backbone schedule control status seeds '
                                      'stacks paper ours')


def lines_of(frame, zoo):
    """The frame's runs pooled by (row, line), in the frame's order: what one table line shows."""
    control = {r.id: r.control for r in zoo}
    lines = collections.OrderedDict()
    for _, rec in frame.iterrows():
        lines.setdefault((rec['id'], rec['line']), []).append(rec)
    out = []
    for (row_id, label), recs in lines.items():
        first = recs[0]
        done = [r for r in recs if r['status'] == 'done']
        out.append(Line(
            id=row_id, line=label, table=first['table'], model=first['model'], module=first['module'],
            backbone=first['backbone'], schedule=first['schedule'], control=control.get(row_id, False),
            status='done' if done else NOT_RUN, seeds=[int(r['seed']) for r in done if _num(r['seed']) is not None],
            stacks=sorted({r['stack'] for r in done}),
            paper={k: _num(first['paper_' + k]) for k, _, _ in NUMBERS},
            ours={k: stats.Summary([_num(r['ours_' + k]) for r in recs]) for k, _, _ in NUMBERS}))
    return out


# ---------------------------------------------------------------------------------------------- markdown

def _fmt(value, sign=False):
    if value is None:
        return '-'
    return ('%+.1f' if sign else '%.1f') % value


def _cell(paper, ours, missing):
    """'paper / ours (delta)'; ``ours`` is a stats.Summary; ``missing`` says why there is no reproduced number."""
    if not ours.n:
        return '%s / %s' % (_fmt(paper), missing)
    delta = '' if paper is None else ' (%+.1f)' % (ours.mean - paper)
    return '%s / %s%s' % (_fmt(paper), ours.text(), delta)


def _gain_cell(g, with_paper):
    if g is None:
        return '-'
    paper = _fmt(g.paper, sign=True) + ' / ' if with_paper else ''
    if g.ours is None:
        return paper + g.why
    if g.interval:
        ours = '%+.1f [%+.1f, %+.1f]' % (g.ours, g.interval[0], g.interval[1])
    else:
        ours = '%+.1f (n=1)' % g.ours
    return paper + ours


def _run_cell(line, stack_names):
    if line.status != 'done':
        return line.line
    seeds = ','.join(str(s) for s in line.seeds)
    tags = ''.join('[%s]' % stack_names[s] for s in line.stacks)
    return '%s, seed%s %s %s' % (line.line, 's' if len(line.seeds) > 1 else '', seeds, tags)


def markdown_table(lines, table, stack_names, zoo=None, released=None):
    """The markdown of one table: a line per (row, variant/precision), seeds pooled; with ``released``
    ({row id: metrics}), the released checkpoint's column last."""
    header = (['Model', 'Module', 'Backbone', 'Run'] + ['%s (paper / ours)' % label for _, _, label in NUMBERS]
              + [title for _, title, _ in GAINS] + ([RELEASED_HEADER] if released is not None else []))
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for line in (ln for ln in lines if ln.table == table):
        ran = line.status == 'done'
        cells = [line.model, line.module, line.backbone, _run_cell(line, stack_names)]
        for key, iou, _ in NUMBERS:
            missing = NOT_RUN if not ran else 'not submitted' if iou is None else '-'
            cells.append(_cell(line.paper[key], line.ours[key], missing))
        cells += [_gain_cell(gain(line, lines, kind), with_paper=(kind == 'sumup')) for _, _, kind in GAINS]
        if released is not None:
            cells.append(released_cell(zoo.row(line.id), released) if line.id in zoo.ids() else '-')
        out.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(out)


def provenance_lines(metrics, run_ids, stack_names):
    runs = [metrics[r] for r in run_ids if r in metrics]
    if not runs:
        return ['Provenance: no run of this table has finished yet.']
    commits = sorted({str(m['provenance'].get('git_commit')) for m in runs})
    dates = sorted(m['provenance'].get('date', '') for m in runs)
    stacks = sorted({stack_of(m) for m in runs})
    datasets = sorted({'%s (%d images)' % (m['dataset']['ann_file'], m['dataset']['images']) for m in runs})
    return (['Provenance (%d runs):' % len(runs), '- git commit: %s' % ', '.join(commits)]
            + ['- stack [%s]: %s' % (stack_names[s], s) for s in stacks]
            + ['- trained on: %s' % layouts_line(runs)]
            + schedule_lines(runs)
            + ['- dataset: %s' % '; '.join(datasets), '- evaluated: %s to %s' % (dates[0], dates[-1])]
            + ['- early alarm: %s fell outside its reference band from epoch %s (%s)'
               % (r, metrics[r]['alarm'].get('epoch'), metrics[r]['alarm'].get('message'))
               for r in run_ids if (metrics.get(r) or {}).get('alarm')]
            + ['- early alarm: %s %s' % (r, describe_not_compared(metrics[r]['alarm_not_compared']))
               for r in run_ids if (metrics.get(r) or {}).get('alarm_not_compared')]
            + estimate_lines(metrics, run_ids))


def estimate_lines(metrics, run_ids):
    """One provenance line per run that `afa plan --probe` planned: its training time against the estimate."""
    out = []
    for run_id in run_ids:
        t = (metrics.get(run_id) or {}).get('time_vs_estimate')
        if t and t.get('estimated_wall_h'):
            out.append('- training time: %s %.2f h against %.2f h estimated by `afa plan --probe`%s (x%.2f)'
                       % (run_id, t['actual_wall_h'], t['estimated_wall_h'],
                          ' on %s' % t['estimated_on'] if t.get('estimated_on') else '', t['ratio']))
    return out


def schedule_lines(runs):
    """'- schedule: 12 mmcv epochs x 3 repeats of the data = 36 passes, 263,856 optimizer steps (2 runs)': what
    mmcv ran, as train_done.json recorded it (afa/runs/schedule.py); none for runs that did not record it."""
    from afa.runs.schedule import describe
    counts = collections.Counter(describe(s) for s in ((m.get('training_layout') or {}).get('schedule')
                                                       for m in runs) if isinstance(s, dict))
    if not counts:
        return []
    return ['- schedule: %s' % '; '.join('%s (%d run%s)' % (k, n, 's' if n > 1 else '')
                                          for k, n in sorted(counts.items()))]


def layouts_line(runs):
    """'1 node x 8 GPUs x 2 images (3 runs); 1 node x 1 GPU x 2 images x 8 accumulation steps (1 run)'."""
    counts = collections.Counter()
    for m in runs:
        t = m.get('training_layout') or {}
        if not t.get('processes'):
            counts['not recorded'] += 1
            continue
        per_node = t['processes'] // max(1, t['nodes'])
        device = 'GPU' if t.get('gpus_per_node') else 'CPU process'
        text = '%d node%s x %d %s%s x %d image%s' % (
            t['nodes'], 's' if t['nodes'] > 1 else '', per_node, device, 'es' if per_node > 1 and
            device.endswith('s') else ('s' if per_node > 1 else ''), t['imgs_per_gpu'],
            's' if t['imgs_per_gpu'] > 1 else '')
        if t.get('accumulation', 1) > 1:
            text += ' x %d accumulation steps' % t['accumulation']
        counts['%s = %d images per step' % (text, t['effective_batch'])] += 1
    return '; '.join('%s (%d run%s)' % (k, n, 's' if n > 1 else '') for k, n in sorted(counts.items()))


def _stack_names(frame):
    stacks = sorted({s for s in frame['stack'] if isinstance(s, str)})
    return {s: chr(ord('A') + i) if i < 26 else str(i) for i, s in enumerate(stacks)}


def backbone_lines(metrics):
    """Which backbone files served the runs (real, stand-in: afa/data/standin.py), from their metrics: a line
    and a blank one, or nothing when no run recorded it (trained from scratch, or before it was recorded)."""
    served = collections.defaultdict(list)
    for run_id, m in sorted(metrics.items()):
        if m.get('backbone_weights'):
            served[m['backbone_weights'].get('served', 'unknown')].append(run_id)
    if not served:
        return []
    return ['Backbone weights: %s.' % '; '.join('%s for %d run%s' % (kind, len(ids), '' if len(ids) == 1 else 's')
                                                for kind, ids in sorted(served.items())), '']


def render(zoo, metrics, testdev, scale, released=None):
    """(per-run frame, lines, markdown text)."""
    frame = build_frame(zoo, metrics, testdev, released)
    lines = lines_of(frame, zoo)
    stack_names = _stack_names(frame)
    parts = [TITLE % scale, '', SCALE_BANNER[scale], ''] + backbone_lines(metrics) + [
             'Each cell: paper / reproduced (reproduced - paper). AP in percent. `-`: the paper gives no number. '
             'A line per run kind of a row (default, `+VARIANT`, `@PRECISION`); with several seeds a reproduced '
             'number is mean \u00b1 standard deviation (number of seeds), and summary.csv has every seed. '
             'Gains: box AP val of the line minus that of the Sum-Up row (or the AdamW Sum-Up control row) of '
             'the same backbone and schedule, same variant and precision when that was run, else its default; '
             '%s. The letters in brackets name the stack that produced the line (below each table).'
             % stats.METHOD, '']
    if released is not None:
        parts[-1:] = ['"%s": the authors\' released checkpoint of the row evaluated by this pipeline (`afa data '
                      'release ROW`, then `afa test ROW data/release/ROW/final.pth`); `-`: no released weights.'
                      % RELEASED_HEADER, '']
    tables = sorted(zoo.tables.items(), key=lambda kv: kv[1].get('order', 0))
    if (frame['table'] == 'other').any():
        tables.append(('other', {'title': 'Other runs (a config file, not a row of configs/zoo.yaml)'}))
    for name, spec in tables:
        run_ids = [r for r in frame.loc[frame['table'] == name, 'run_id'] if isinstance(r, str)]
        parts += ['## %s' % spec.get('title', name), '', markdown_table(lines, name, stack_names, zoo, released),
                  '']
        parts += provenance_lines(metrics, run_ids, stack_names) + ['']
        parts += released_lines(released, [r.id for r in zoo if r['table'] == name])
        notes = [r for r in zoo if r['table'] == name and r.get('reference')]
        if notes:
            parts += ['Reference numbers:'] + ['- %s: %s' % (r.id, r['reference']) for r in notes] + ['']
    return frame, lines, '\n'.join(parts)


def previous_runs(out_dir):
    """The run ids shown as done by the summary.csv already in ``out_dir`` (empty when there is none)."""
    import csv
    path = os.path.join(out_dir, layout.TABLE_FILES['summary'])
    try:
        with open(path, newline='') as f:
            return {r['run_id'] for r in csv.DictReader(f) if r.get('status') == 'done' and r.get('run_id')}
    except (OSError, ValueError, KeyError, csv.Error):
        return set()


def previous_scale(out_dir):
    """The scale of the tables already in ``out_dir`` (their tables.md's title), or None when there are none."""
    import re
    try:
        with open(os.path.join(out_dir, layout.TABLE_FILES['tables'])) as f:
            first = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    match = re.match(re.escape(TITLE).replace('%s', '(\\w+)') + '$', first)
    return match.group(1) if match else None


def check_not_fewer(out_dir, metrics, allow_fewer=False, scale=None):
    """Derived results are replaced only by better-founded ones: tables of another scale never replace the
    ones in ``out_dir`` (the two scales share run ids: smoke tables would pass for paper ones), and tables built
    from fewer runs than the ones there (a run folder moved, --runs mistyped, a workflow interrupted) are
    refused, naming the runs they would lose, unless ``allow_fewer``."""
    there = previous_scale(out_dir)
    if scale and there and there != scale:
        raise AfaError('%s holds the %s-scale tables; %s-scale tables never replace them (they are left untouched): '
                       'write these to another --out (default %s)' % (out_dir, there, scale,
                                                                      layout.results_dir(layout.RESULTS_ROOT, scale)))
    lost = sorted(previous_runs(out_dir) - set(metrics))
    if lost and not allow_fewer:
        raise AfaError('%s holds tables built from %d run(s) that this regeneration lacks (%s%s); they are left '
                       'untouched: check --runs, or pass --allow-fewer to replace them with tables of fewer runs'
                       % (out_dir, len(lost), ', '.join(lost[:5]), ', ...' if len(lost) > 5 else ''))


def write_tables(runs_dir, out_dir, scale, testdev_csv=None, zoo=None, with_figure=True, allow_fewer=False,
                 testdev_required=False):
    """Regenerate out_dir/tables.md, summary.csv, gains.csv and (optionally) the figures; never from fewer runs
    than the tables already there (check_not_fewer)."""
    zoo = zoo or zoo_mod.load()
    metrics = load_metrics(runs_dir, scale)
    check_not_fewer(out_dir, metrics, allow_fewer, scale)
    for run_id, run_metrics in metrics.items():  # the early alarm's verdict goes with the run's numbers
        folder = RunFolder(os.path.join(runs_dir, run_id))
        alarm = folder.alarm()
        run_metrics['alarm'] = alarm if alarm and alarm.get('outside') else None
        run_metrics['alarm_not_compared'] = folder.alarm_not_compared(alarm or {})
        run_metrics['time_vs_estimate'] = folder.time_vs_estimate()
    testdev = load_testdev_scores(testdev_csv, known=lambda r: r in metrics or _row_known(r, zoo),
                                  required=testdev_required)
    # The authors released paper-scale weights only: the smoke tables have no such column.
    released = load_released_metrics(runs_dir, scale) if scale == 'paper' else None
    frame, lines, text = render(zoo, metrics, testdev, scale, released)
    os.makedirs(out_dir, exist_ok=True)
    outputs = {name: os.path.join(out_dir, file) for name, file in layout.TABLE_FILES.items()}
    atomic.write_text(outputs['tables'], text + '\n')
    atomic.write_text(outputs['summary'], frame.to_csv(index=False))
    atomic.write_text(outputs['gains'], gains_frame(lines).to_csv(index=False))
    from afa.reporting import claims
    verdicts = claims.write(lines, zoo, scale, outputs['claims'], outputs['claims_json'])
    if with_figure:
        from afa.reporting import claims_figure, figures
        figures.reproduced_vs_paper(lines, zoo, outputs['figure'], scale)
        figures.gains(lines, zoo, outputs['gains_figure'], scale)
        claims_figure.draw(verdicts, scale, outputs['claims_figure'])
    else:
        del outputs['figure'], outputs['gains_figure'], outputs['claims_figure']
    keep_last_complete(out_dir, outputs)
    return outputs, frame


def keep_last_complete(out_dir, outputs):
    """A copy of the tables just written in OUT/LAST_COMPLETE_DIR: Snakemake removes a job's outputs before it
    runs, so a tables job that then fails would otherwise leave no tables at all."""
    import shutil
    folder = os.path.join(out_dir, layout.LAST_COMPLETE_DIR)
    os.makedirs(folder, exist_ok=True)
    for path in outputs.values():
        target = os.path.join(folder, os.path.basename(path))
        atomic.write_with(target, lambda tmp, path=path: shutil.copyfile(path, tmp))


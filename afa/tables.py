"""`afa tables`: the paper's tables regenerated from metrics JSON files, with pandas only (no torch, no mmdet).

For each number: the paper's value, the reproduced one and the difference. Rows without a metrics file say
so. Test-dev scores come from a small user CSV (run_id, box_ap, mask_ap) filled after uploading to the COCO
evaluation server. Provenance (commits, package versions, dates, dataset) is written under each table. All
metrics files must be of one scale: smoke and paper results can never share a table.
"""
import glob
import json
import os

from . import atomic, layout
from . import zoo as zoo_mod
from .errors import AfaError

TESTDEV_COLUMNS = ('run_id', 'box_ap', 'mask_ap')
SCALE_BANNER = {
    'smoke': '> **Smoke results**: synthetic shapes, a shrunken model trained for minutes on a CPU. They show '
             'that the pipeline runs end to end; they are not comparable with the paper.',
    'paper': '> COCO 2017, the paper\'s recipes. val2017 numbers are computed by this pipeline; test-dev numbers '
             'come from the evaluation server (results/testdev_scores.csv).',
}
RELEASED_HEADER = 'released weights: box / mask AP val'
NUMBERS = (('box_val', 'bbox', 'box AP val'), ('mask_val', 'segm', 'mask AP val'),
           ('box_testdev', None, 'box AP test-dev'), ('mask_testdev', None, 'mask AP test-dev'))


def load_metrics(runs_dir, scale, name=layout.METRICS_FILE):
    """{run_id: metrics dict} of every RUN/metrics.json under runs_dir; wrong scale or bad JSON is an error."""
    found = {}
    for path in sorted(glob.glob(os.path.join(runs_dir, '*', name))):
        try:
            with open(path) as f:
                metrics = json.load(f)
        except ValueError as e:
            raise AfaError('%s is not valid JSON (%s); delete it and rerun its evaluation' % (path, e))
        for key in ('run_id', 'scale', 'bbox'):
            if key not in metrics:
                raise AfaError('%s lacks the field %r; was it written by `afa test`?' % (path, key))
        if metrics['scale'] != scale:
            raise AfaError('%s is a %s result but this table is %s: smoke and paper results never share a '
                           'table (use --runs of that scale)' % (path, metrics['scale'], scale))
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


def load_testdev_scores(path):
    """{run_id: {'box_testdev': x, 'mask_testdev': y}} from the user's CSV; missing file means none."""
    import pandas as pd
    if not path or not os.path.exists(path):
        return {}
    try:
        frame = pd.read_csv(path, comment='#')
    except Exception as e:
        raise AfaError('cannot read test-dev scores %s: %s' % (path, e))
    missing = [c for c in TESTDEV_COLUMNS if c not in frame.columns]
    if missing:
        raise AfaError('%s needs the columns %s (missing: %s)' % (path, ', '.join(TESTDEV_COLUMNS),
                                                                 ', '.join(missing)))
    scores = {}
    for index, rec in frame.iterrows():
        for column in ('box_ap', 'mask_ap'):
            value = rec[column]
            if not (pd.isna(value) or isinstance(value, (int, float))):
                raise AfaError('%s, line %d: %s must be a number (AP in percent), got %r'
                               % (path, index + 2, column, value))
        scores[str(rec['run_id'])] = {'box_testdev': _num(rec['box_ap']), 'mask_testdev': _num(rec['mask_ap'])}
    return scores


def _num(value):
    import pandas as pd
    return None if pd.isna(value) else float(value)


def _cell(paper, ours, missing):
    """'paper / ours (delta)'; ``missing`` says why there is no reproduced number."""
    def fmt(v):
        return '-' if v is None else '%.1f' % v
    if ours is None:
        return '%s / %s' % (fmt(paper), missing)
    delta = '' if paper is None else ' (%+.1f)' % (ours - paper)
    return '%s / %s%s' % (fmt(paper), fmt(ours), delta)


def build_frame(zoo, metrics, testdev, released=None):
    """One record per row: the paper's numbers, the reproduced ones, the deltas, the released checkpoint's
    (a pandas DataFrame)."""
    import pandas as pd
    records = []
    for row in zoo:
        m = metrics.get(row.id)
        r = (released or {}).get(row.id)
        rec = {'id': row.id, 'table': row['table'], 'model': row['model'], 'module': row['module'],
               'backbone': row['backbone'], 'schedule': row['schedule'], 'status': 'done' if m else 'not run yet'}
        ours = {}
        if m:
            ours['box_val'] = m['bbox']['AP']
            ours['mask_val'] = (m.get('segm') or {}).get('AP')
        ours.update(testdev.get(row.id, {}))
        for key, _, _ in NUMBERS:
            paper = row['paper'][key]
            rec['paper_' + key] = paper
            rec['ours_' + key] = ours.get(key)
            rec['delta_' + key] = None if paper is None or ours.get(key) is None else ours[key] - paper
        rec['released_box_val'] = r['bbox']['AP'] if r else None
        rec['released_mask_val'] = (r.get('segm') or {}).get('AP') if r else None
        records.append(rec)
    return pd.DataFrame.from_records(records)


def markdown_table(frame, zoo, table, released=None):
    rows = frame[frame['table'] == table]
    header = ['Model', 'Module', 'Backbone'] + ['%s (paper / ours)' % label for _, _, label in NUMBERS]
    if released is not None:
        header.append(RELEASED_HEADER)
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for _, rec in rows.iterrows():
        ran = rec['status'] == 'done'
        cells = [rec['model'], rec['module'], rec['backbone']]
        for key, iou, _ in NUMBERS:
            missing = 'not run yet' if not ran else 'not submitted' if iou is None else '-'
            cells.append(_cell(_opt(rec['paper_' + key]), _opt(rec['ours_' + key]), missing))
        if released is not None:
            cells.append(released_cell(zoo.row(rec['id']), released))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _opt(value):
    import pandas as pd
    return None if value is None or pd.isna(value) else float(value)


def provenance_lines(metrics, run_ids):
    runs = [metrics[r] for r in run_ids if r in metrics]
    if not runs:
        return ['Provenance: no run of this table has finished yet.']
    commits = sorted({str(m['provenance'].get('git_commit')) for m in runs})
    dates = sorted(m['provenance'].get('date', '') for m in runs)
    versions = sorted({', '.join('%s %s' % (k, v) for k, v in sorted(m['provenance']['versions'].items())
                                 if k in ('torch', 'mmcv', 'mmdet', 'cuda', 'gpu') and v)
                       for m in runs})
    datasets = sorted({'%s (%d images)' % (m['dataset']['ann_file'], m['dataset']['images']) for m in runs})
    return ['Provenance (%d of %d rows evaluated):' % (len(runs), len(run_ids)),
            '- git commit: %s' % ', '.join(commits),
            '- environment: %s' % '; '.join(versions),
            '- dataset: %s' % '; '.join(datasets),
            '- evaluated: %s to %s' % (dates[0], dates[-1])]


def render(zoo, metrics, testdev, scale, released=None):
    frame = build_frame(zoo, metrics, testdev, released)
    parts = ['# AFA reproduction: regenerated tables (%s scale)' % scale, '', SCALE_BANNER[scale], '',
             'Each cell: paper / reproduced (reproduced - paper). AP in percent. `-`: the paper gives no number.',
             '']
    if released is not None:
        parts[-1:] = ['"%s": the authors\' released checkpoint of the row evaluated by this pipeline (`afa data '
                      'release ROW`, then `afa test ROW data/release/ROW/final.pth`); `-`: no released weights.'
                      % RELEASED_HEADER, '']
    for name, spec in sorted(zoo.tables.items(), key=lambda kv: kv[1].get('order', 0)):
        ids = [r.id for r in zoo if r['table'] == name]
        parts += ['## %s' % spec.get('title', name), '', markdown_table(frame, zoo, name, released), '']
        parts += provenance_lines(metrics, ids) + ['']
        parts += released_lines(released, ids)
        notes = [r for r in zoo if r['table'] == name and r.get('reference')]
        if notes:
            parts += ['Reference numbers:'] + ['- %s: %s' % (r.id, r['reference']) for r in notes] + ['']
    return frame, '\n'.join(parts)


def figure(frame, path, scale):
    """Reproduced vs paper AP per row (box and mask val): a picture for those who would rather look."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 6))
    for key, marker, label in (('box_val', 'o', 'box AP val'), ('mask_val', 's', 'mask AP val')):
        sub = frame.dropna(subset=['paper_' + key, 'ours_' + key])
        ax.scatter(sub['paper_' + key], sub['ours_' + key], marker=marker, label=label)
        for _, rec in sub.iterrows():
            ax.annotate(rec['id'], (rec['paper_' + key], rec['ours_' + key]), fontsize=6, alpha=0.7)
    lo, hi = 0, max([50.0] + [v for v in frame.filter(like='ours_').stack().tolist() if v == v])
    ax.plot([lo, hi], [lo, hi], 'k--', linewidth=0.8, label='reproduced = paper')
    ax.set_xlabel('paper AP (%)')
    ax.set_ylabel('reproduced AP (%)')
    ax.set_title('AFA reproduction (%s scale)' % scale)
    ax.legend(loc='upper left')
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)


def write_tables(runs_dir, out_dir, scale, testdev_csv=None, zoo=None, with_figure=True):
    """Regenerate out_dir/tables.md, out_dir/summary.csv and (optionally) out_dir/reproduced_vs_paper.png."""
    zoo = zoo or zoo_mod.load()
    metrics = load_metrics(runs_dir, scale)
    testdev = load_testdev_scores(testdev_csv)
    frame, text = render(zoo, metrics, testdev, scale, load_released_metrics(runs_dir, scale))
    os.makedirs(out_dir, exist_ok=True)
    outputs = {'tables': os.path.join(out_dir, 'tables.md'), 'summary': os.path.join(out_dir, 'summary.csv')}
    atomic.write_text(outputs['tables'], text + '\n')
    atomic.write_text(outputs['summary'], frame.to_csv(index=False))
    if with_figure:
        outputs['figure'] = os.path.join(out_dir, 'reproduced_vs_paper.png')
        figure(frame, outputs['figure'], scale)
    return outputs, frame


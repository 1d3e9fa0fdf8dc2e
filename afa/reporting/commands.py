"""`afa tables`, `afa curves` and `afa status`: what the run folders hold, as tables, figures and states."""
import os
import sys

from afa.runs import layout
from afa.utils.errors import AfaError

TESTDEV_SCORES = 'results/testdev_scores.csv'  # the paper scale's default --testdev-scores


def add_commands(sub):
    p = sub.add_parser('tables', help='regenerate the markdown tables (seeds pooled, AFA gains with 95%% intervals), '
                                      'summary and gains CSV and figures from metrics JSONs')
    p.add_argument('--scale', choices=layout.SCALES, required=True)
    p.add_argument('--runs', help='folder of run folders (default runs/SCALE)')
    p.add_argument('--out', help='output folder (default results/SCALE)')
    p.add_argument('--testdev-scores', help='CSV of server scores: run_id,box_ap,mask_ap '
                                            '(default results/testdev_scores.csv for paper scale)')
    p.add_argument('--no-figure', action='store_true')
    p.add_argument('--allow-fewer', action='store_true',
                   help='replace tables in --out even though they were built from runs that --runs lacks '
                        '(refused by default: derived results are never silently built from fewer runs)')
    p.add_argument('--print', action='store_true', help='print the markdown when done')
    p.set_defaults(func=_cmd_tables)

    p = sub.add_parser('curves', help='plot the training curves of every run from the mmdet JSON logs')
    p.add_argument('--runs', required=True, help='folder of run folders')
    p.add_argument('--out', required=True, help='PNG to write')
    p.set_defaults(func=_cmd_curves)

    p = sub.add_parser('status', help='where every run stands (state, epoch, throughput, ETA, validation AP, '
                                      'GPU-hours, alarms), read from the run folders alone')
    p.add_argument('--scale', choices=layout.SCALES, required=True)
    p.add_argument('--runs-root', default='runs', help='where run folders live (default runs/)')
    p.add_argument('--config', help="a workflow config (config/config.yaml for COCO, .test/config/config.yaml for "
                                    "the smoke run): its rows or tables, seeds and precision")
    p.add_argument('--rows', nargs='+', metavar='ROW', help='only these rows (ROW or ROW+VARIANT)')
    p.add_argument('--table', action='append', help='only rows of this table (1x, 3x, control); repeatable')
    p.add_argument('--seeds', nargs='+', type=int, help='seeds of every row (default 0; run folders of other '
                                                        'seeds are shown too)')
    p.add_argument('--precision', choices=layout.PRECISIONS, help='default %s' % layout.DEFAULT_PRECISION)
    p.add_argument('--stall-after', type=float, default=30.0, metavar='MINUTES',
                   help='a run whose logs have not moved for this long is stalled (default 30, longer than a '
                        'val2017 evaluation)')
    p.add_argument('--watch', type=float, nargs='?', const=60.0, metavar='SECONDS',
                   help='refresh every SECONDS (default 60) until Ctrl-C')
    p.add_argument('--json', action='store_true', help='JSON for machines: one record per run')
    p.set_defaults(func=_cmd_status)


def _cmd_tables(args):
    from afa.reporting.tables import write_tables
    testdev_given = args.testdev_scores is not None
    if args.runs is not None and not os.path.isdir(args.runs):
        raise AfaError('--runs %s is not a folder of run folders; pass e.g. runs/%s' % (args.runs, args.scale))
    runs = args.runs or layout.runs_dir(layout.RUNS_ROOT, args.scale)
    out = args.out or layout.results_dir(layout.RESULTS_ROOT, args.scale)
    testdev_csv = args.testdev_scores
    if testdev_csv is None and args.scale == 'paper':
        testdev_csv = TESTDEV_SCORES
    outputs, frame = write_tables(runs, out, args.scale, testdev_csv=testdev_csv, with_figure=not args.no_figure,
                                  allow_fewer=args.allow_fewer, testdev_required=testdev_given)
    done = frame[frame['status'] == 'done']
    print('afa tables: %d runs of %d rows; %s' % (len(done), done['id'].nunique(),
                                                  ', '.join(sorted(outputs.values()))))
    if args.print:
        with open(outputs['tables']) as f:
            print(f.read())
    return 0


FIGURE_EXTENSIONS = ('.png', '.pdf', '.svg', '.jpg', '.jpeg')


def check_figure_path(path, option='--out'):
    """A figure file matplotlib can write by its extension, not a folder: AfaError otherwise."""
    if os.path.isdir(path) or path.endswith(os.sep):
        raise AfaError('%s %s is a folder; name the figure file, e.g. %s' % (option, path,
                                                                          os.path.join(path, 'curves.png')))
    if os.path.splitext(path)[1].lower() not in FIGURE_EXTENSIONS:
        raise AfaError('%s %s: unknown figure format %r; end the name with one of %s'
                       % (option, path, os.path.splitext(path)[1], ', '.join(FIGURE_EXTENSIONS)))


def _cmd_curves(args):
    from afa.reporting.curves import plot_curves
    check_figure_path(args.out)
    n = plot_curves(args.runs, args.out)
    print('afa curves: %d runs -> %s' % (n, args.out))
    return 0


def check_runs_root(runs_root):
    """A runs root that is a file, or whose parent folder is missing too, is a mistyped path: refused. One not made
    yet is what a status polled before the first run starts sees: every run 'not started', and a note on stderr
    so that a mistyped name does not pass in silence."""
    parent = os.path.dirname(os.path.abspath(runs_root))
    if os.path.exists(runs_root) and not os.path.isdir(runs_root):
        raise AfaError('--runs-root %s is a file, not a folder: pass the folder your runs live in '
                       '(`afa train --runs-root`, default runs/)' % runs_root)
    if not os.path.isdir(parent):
        raise AfaError('--runs-root %s is not a folder and neither is %s: pass the folder your runs live in '
                       '(`afa train --runs-root`, default runs/)' % (runs_root, parent))
    if not os.path.isdir(runs_root):
        print('afa status: note: %s does not exist yet, so no run has started under it (a mistyped --runs-root? '
              'runs live where `afa train --runs-root` put them, default runs/)' % runs_root, file=sys.stderr)


def _cmd_status(args):
    from afa.reporting import status
    run_ids = _status_runs(args)
    check_runs_root(args.runs_root)
    stall_after = args.stall_after * 60.0

    def show():
        found = status.collect(args.runs_root, args.scale, run_ids, stall_after)
        if args.json:
            import json
            return json.dumps(found, indent=1, sort_keys=True)
        return 'afa status: %s  (%s)\n%s' % (layout.runs_dir(args.runs_root, args.scale),
                                            time_stamp(), status.render(found))
    if args.watch is None:
        print(show())
        return 0
    try:
        while True:
            text = show()
            sys.stdout.write('\033[H\033[2J' if sys.stdout.isatty() else '')
            print(text, flush=True)
            import time
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def time_stamp():
    import time
    return time.strftime('%Y-%m-%d %H:%M:%S')


def _status_runs(args):
    """The run ids `afa status` shows: the workflow config's selection (--config), else --rows / --tables."""
    from afa.runs import workflow_config, zoo as zoo_mod
    zoo = zoo_mod.load()
    precision, seeds, targets = args.precision, args.seeds, None
    if args.config:
        config = workflow_config.read(args.config)
        if config.get('scale') and config['scale'] != args.scale:
            raise AfaError('--config %s is a %s config but --scale is %s' % (args.config, config['scale'], args.scale))
        targets = workflow_config.selected_targets(config, zoo)
        seeds = seeds or config.get('seeds')
        precision = precision or config.get('precision')
    if args.rows:
        targets = args.rows
    elif args.table:
        targets = [r.id for r in zoo.select(tables=args.table)]
    for target in targets or []:
        zoo.lookup(target)
    from afa.reporting.status import selected_runs
    return selected_runs(args.runs_root, args.scale, targets or zoo.ids(), seeds,
                         precision or layout.DEFAULT_PRECISION)

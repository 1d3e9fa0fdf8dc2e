"""The `afa` command line. Each subcommand imports its heavy libraries only when it runs, so that `afa --help`
and `afa zoo` answer at once."""
import argparse
import os
import sys

from afa.runs import layout


def _cmd_zoo(args):
    from afa.runs import zoo as zoo_mod
    zoo = zoo_mod.load(args.zoo)
    rows = zoo.select(tables=args.table, row_ids=args.rows)
    columns = ['id', 'table', 'schedule', 'model', 'module', 'backbone', 'gpus', 'imgs_per_gpu',
               'box_val', 'mask_val', 'box_testdev', 'mask_testdev', 'control', 'released', 'config']
    records = []
    for r in rows:
        rec = dict(r)
        rec.update(r['paper'])
        rec['control'] = 'yes' if r.control else ''
        rec['released'] = 'yes' if r.get('release') else ''  # `afa data release ROW` fetches them
        records.append(['' if rec.get(c) is None else str(rec.get(c)) for c in columns])
    if args.csv:
        import csv
        writer = csv.writer(sys.stdout, lineterminator='\n')
        writer.writerow(columns)
        writer.writerows(records)
        return 0
    if args.ids:
        print('\n'.join(r.id for r in rows))
        return 0
    widths = [max(len(c), *(len(rec[i]) for rec in records)) if records else len(c) for i, c in enumerate(columns)]
    print('  '.join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for rec in records:
        print('  '.join(v.ljust(w) for v, w in zip(rec, widths)).rstrip())
    if zoo.variants:
        print('\nvariants (afa train ROW+VARIANT):')
        for name, spec in zoo.variants.items():
            print('  %-14s %s' % (name, spec.get('help', '')))
    return 0


def _parse_value(text):
    """A --cfg-options value: a Python literal (1e-4, [8, 10], dict(...) not allowed), else YAML, else text."""
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _spec(args, target=None):
    from afa.runs.spec import RunSpec
    cfg_options = {}
    for item in args.cfg_options or []:
        key, sep, value = item.partition('=')
        if not sep:
            from afa.utils.errors import AfaError
            raise AfaError('--cfg-options takes KEY=VALUE pairs, got %r' % item)
        if not key or not value.strip():
            from afa.utils.errors import AfaError
            raise AfaError('--cfg-options %s has no %s: write KEY=VALUE (VALUE in YAML, null for none)'
                           % (item, 'key' if not key else 'value'))
        cfg_options[key] = _parse_value(value)
    data_root = args.data_root or ('data/synthetic/' if args.smoke else None)
    return RunSpec(target or args.target, scale='smoke' if args.smoke else 'paper', data_root=data_root,
                   pretrained_dir=args.pretrained_dir, runs_root=args.runs_root, precision=args.precision,
                   cfg_options=cfg_options, smoke_epochs=args.smoke_epochs, seed=args.seed, batch=args.batch)


def _processes(args, spec, training=True):
    """Processes on this node, after refusing (for training) a layout that cannot make the run's batch, before
    any launch. Evaluation takes any number of processes."""
    from afa.planning.plan import devices_per_node, batch_plan_for
    from afa.utils.errors import AfaError
    if training:
        batch_plan_for(spec, args.gpus, args.nodes, args.procs, args.max_imgs_per_gpu)
    if args.nodes > 1 and args.launcher == 'none':
        raise AfaError('--nodes %d: start `afa %s` on every node under torchrun (--nnodes %d --nproc-per-node %d, '
                       'c10d rendezvous on the first node) with --launcher pytorch, as the slurm profile does'
                       % (args.nodes, args.command, args.nodes, devices_per_node(args.gpus, args.procs)))
    return devices_per_node(args.gpus, args.procs)


def _cmd_train(args):
    if args.launcher != 'none':
        from afa.training.launch import die_with_launcher
        die_with_launcher()
    code = _train_segment(args)
    if code == layout.CONTINUE_EXIT_CODE and args.requeue_on_stop and args.launcher == 'none':
        from afa.training.continuation.job_limit import requeue
        if requeue(say=lambda line: print(line, file=sys.stderr, flush=True)):
            import signal
            import time
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # SLURM's SIGTERM ending the job now ends this at once
            time.sleep(300)  # SLURM ends this job to requeue it; the exit below only follows if it did not
    return code


def _train_segment(args):
    """Train until done (0) or until a stop request ended this segment with a checkpoint (CONTINUE_EXIT_CODE)."""
    spec = _spec(args)
    processes = _processes(args, spec)
    if processes > 1 and args.launcher == 'none':
        from afa.training.launch import check_gpus
        from afa.training.launch import relaunch_distributed
        if args.gpus > 0:
            check_gpus(args.gpus)
        return relaunch_distributed(processes, [a for a in args.argv if a != '--debug'], spec=spec,
                                    retrain=args.retrain)  # rank 0 sets the --stop-before-limit timer
    from afa.training.continuation.hook import ContinueLater
    from afa.training.train import train
    try:
        train(spec, gpus=args.gpus, deterministic=args.deterministic, launcher=args.launcher,
              validate=args.validate, retrain=args.retrain,
              alarm=dict(reference=args.reference, offset=args.reference_offset, stop=args.alarm_stop),
              max_imgs_per_gpu=args.max_imgs_per_gpu, max_segments=args.max_segments,
              stop_before_limit=args.stop_before_limit)
    except ContinueLater as stop:
        print('afa train: %s; run the same command to continue' % stop, file=sys.stderr, flush=True)
        return layout.CONTINUE_EXIT_CODE
    return 0


def _cmd_reference_fetch(args):
    from afa.training.alarm.fetch import fetch
    path = fetch(args.row, args.dir, url=args.url, source=args.file)
    print('afa reference fetch: %s' % path)
    return 0


def _cmd_layout(args):
    """Print one name of the run layout, so that shell scripts ask for it instead of spelling it."""
    if args.layout_command == 'file':
        print(layout.FILES[args.name])
    elif args.layout_command == 'run-id':
        from afa.runs import zoo as zoo_mod
        row = zoo_mod.load().lookup(args.target)[0]  # an unknown row or variant: one line naming the nearest
        from afa.runs.zoo import recipe_batch
        batch = None if args.batch in (None, recipe_batch(row)) else args.batch  # the recipe's own is not spelled
        print(layout.run_id(args.target, args.precision, args.seed, batch))
    else:
        try:
            layout.parse_run_id(args.run_id)
        except ValueError as e:
            from afa.utils.errors import AfaError
            raise AfaError(str(e)) from None
        print(layout.run_dir(args.runs_root, args.scale, args.run_id))
    return 0


def _cmd_plan(args):
    import contextlib
    from afa.planning.plan import format_plan, plan_row
    # Libraries print to stdout while loading (torch 1.9: "No CUDA runtime is found"): stdout is the plan's alone.
    with contextlib.redirect_stdout(sys.stderr):
        specs = [_spec(args, target) for target in args.targets]
        records = [plan_row(spec, args.gpus, args.nodes, args.procs, args.max_imgs_per_gpu) for spec in specs]
        if args.probe:
            from afa.planning import cost, estimates
            from afa.planning.probe import probe
            margin_h = args.stop_margin_min / 60.0
            records = [cost.with_cost(r, probe(spec, args.probe_iters, args.probe_warmup,
                                               imgs_per_gpu=r['imgs_per_gpu']),
                                      args.time_limit_h, margin_h) for spec, r in zip(specs, records)]
            if args.record:
                estimates.write(records, args.runs_root, 'smoke' if args.smoke else 'paper')
    if args.json:
        import json
        print(json.dumps(records if not args.probe else dict(rows=records, total=cost.total(records),
                                                             caveat=cost.CAVEAT), indent=2))
    else:
        print('\n'.join(format_plan(r) for r in records))
        if args.probe:
            print('\n' + cost.format_table(records, args.time_limit_h))
    return 0


def _cmd_test(args):
    if args.launcher != 'none':
        from afa.training.launch import die_with_launcher
        die_with_launcher()
    spec = _spec(args)
    processes = _processes(args, spec, training=False)
    if processes > 1 and args.launcher == 'none':
        from afa.evaluation.test import relaunch_test
        if args.gpus > 0:
            from afa.training.launch import check_gpus
            check_gpus(args.gpus)
        return relaunch_test(spec, processes, [a for a in args.argv if a != '--debug'], args.checkpoint, args.out,
                             args.format_only)
    from afa.evaluation.test import test
    test(spec, args.checkpoint, out=args.out, format_only=args.format_only, gpus=args.gpus,
         launcher=args.launcher)
    return 0


def _cmd_data_synthetic(args):
    from afa.data.synthetic import generate
    manifest = generate(args.root, num_train=args.train, num_val=args.val, num_test=args.test,
                        height=args.height, width=args.width, seed=args.seed)
    print('synthetic dataset in %s: %s images, %d annotations'
          % (args.root, manifest['images'], manifest['annotations']))
    return 0


def _cmd_tables(args):
    from afa.reporting.tables import write_tables
    outputs, frame = write_tables(args.runs, args.out, args.scale, testdev_csv=args.testdev_scores,
                                  with_figure=not args.no_figure, allow_fewer=args.allow_fewer,
                                  testdev_required=args.testdev_given)
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
    from afa.utils.errors import AfaError
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


def _cmd_status(args):
    from afa.reporting import status
    run_ids = _status_runs(args)
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
    from afa.runs import zoo as zoo_mod
    from afa.utils.errors import AfaError
    zoo = zoo_mod.load()
    precision, seeds, targets = args.precision, args.seeds, None
    if args.config:
        import yaml
        try:
            with open(args.config) as f:
                config = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            raise AfaError('--config %s: cannot read it as a workflow config (%s)' % (args.config, e)) from None
        if config.get('scale') and config['scale'] != args.scale:
            raise AfaError('--config %s is a %s config but --scale is %s' % (args.config, config['scale'], args.scale))
        targets = list(config.get('rows') or []) or [r.id for r in zoo.select(tables=config.get('tables'))]
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


def _cmd_data_pretrained(args):
    from afa.data.pretrained import fetch
    for path in fetch(args.dir, names=args.names, mirror=args.mirror, progress=not args.quiet):
        print('verified %s' % path)
    return 0


def _cmd_data_coco(args):
    from afa.data.coco import prepare
    prepare(args.root, parts=args.parts, mirror=args.mirror, jobs=args.jobs, manifest_path=args.manifest,
            progress=not args.quiet, keep_archives=not args.delete_archives, timeout=args.timeout)
    return 0


def _cmd_data_verify(args):
    from afa.data.coco import load_manifest, write_verified
    manifest = load_manifest(args.manifest)
    write_verified(args.root, manifest, args.parts or list(manifest['parts']))
    return 0


def _cmd_release_convert(args):
    from afa.release.names import convert_file
    record = convert_file(args.src, args.dst)
    print('afa release convert: %s (%s names, sha256 %s) -> %s (sha256 %s)'
          % (args.src, record['source_naming'], record['source_sha256'][:12], args.dst,
             record['converted_sha256'][:12]))
    return 0


def _cmd_data_release(args):
    from afa.release.download import fetch
    for marker in fetch(args.rows, args.dir, source=args.source, quiet=args.quiet):
        print('verified %s' % marker)
    return 0


def _add_run_arguments(p, many=False):
    if many:
        p.add_argument('targets', metavar='ROW|CONFIG', nargs='+', help='row ids of configs/zoo.yaml (ROW or '
                                                                        'ROW+VARIANT) or config files')
    else:
        p.add_argument('target', metavar='ROW|CONFIG', help='a row id of configs/zoo.yaml (ROW or ROW+VARIANT) or '
                                                            'a config file')
    p.add_argument('--smoke', action='store_true', help='the CPU smoke scale on the synthetic dataset '
                                                        '(results go to RUNS_ROOT/smoke, never mixed with real runs)')
    p.add_argument('--smoke-epochs', type=int, default=2, help='epochs at the smoke scale (default 2)')
    p.add_argument('--data-root', help='dataset folder with train2017/ val2017/ annotations/ '
                                       '(default data/coco/, data/synthetic/ with --smoke)')
    p.add_argument('--pretrained-dir', help='folder of the backbone weights (default data/pretrained/)')
    p.add_argument('--runs-root', default='runs', help='where run folders live (default runs/)')
    p.add_argument('--precision', default='fp32', choices=layout.PRECISIONS,
                   help='fp32 (the paper configs), amp (native PyTorch), apex (NVIDIA apex O1), mixed (apex O1 '
                        'when apex is installed, else amp)')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='config overrides (values in YAML)')
    p.add_argument('--gpus', type=int, default=1, help='GPUs on this node (0 or no GPU: CPU)')
    p.add_argument('--nodes', type=int, default=1,
                   help='nodes of the run, each with --gpus GPUs (several: started by torchrun on each node, as '
                        'the slurm profile does)')
    p.add_argument('--procs', type=int, default=None,
                   help='with --gpus 0: CPU processes (torch.distributed, gloo) standing in for GPUs (default 1)')
    p.add_argument('--batch', type=int, default=None,
                   help='images per optimizer step; default the row\'s recipe (16 = 8 GPUs x 2 images, kept on any '
                        'layout by accumulating gradients). Another value is another recipe: its own run id '
                        '(ROW-batchB), never pooled with the paper\'s')
    p.add_argument('--max-imgs-per-gpu', type=int, default=None,
                   help='at most this many images per GPU (small cards): the rest of the batch is accumulated')
    p.add_argument('--seed', type=int, default=0,
                   help='random seed; a nonzero seed is its own run (RUN_ID-seedN): repeats of one row')
    p.add_argument('--launcher', default='none', choices=['none', 'pytorch'], help=argparse.SUPPRESS)
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def build_parser():
    from afa.runs import segments
    parser = argparse.ArgumentParser(
        prog='afa', description='Reproduce the COCO tables of "Attention-based Feature Aggregation" (CVPR 2022).')
    parser.add_argument('--version', action='version', version='afa %s' % _version())
    parser.add_argument('--debug', action='store_true',
                        help='show the full traceback of an error instead of its one-line message')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True

    p = sub.add_parser('zoo', help='list the table rows (configs/zoo.yaml)')
    p.add_argument('--zoo', help='row list (default: configs/zoo.yaml)')
    p.add_argument('--table', action='append',
                   help='only rows of this table (the tables of configs/zoo.yaml: `afa zoo` shows each row\'s); '
                        'repeatable')
    p.add_argument('--rows', nargs='+', help='only these row ids')
    out = p.add_mutually_exclusive_group()
    out.add_argument('--csv', action='store_true', help='CSV for machines')
    out.add_argument('--ids', action='store_true', help='only the ids, one per line')
    p.set_defaults(func=_cmd_zoo)

    p = sub.add_parser('layout', help='names of the run layout for scripts: a run id, a run folder, a file name')
    lay = p.add_subparsers(dest='layout_command', metavar='WHAT')
    lay.required = True
    q = lay.add_parser('run-id', help='the run id of ROW[+VARIANT] at a precision and seed (the row must exist)')
    q.add_argument('target', metavar='ROW')
    q.add_argument('--precision', default=layout.DEFAULT_PRECISION, choices=layout.PRECISIONS)
    q.add_argument('--seed', type=int, default=layout.DEFAULT_SEED)
    q.add_argument('--batch', type=int, default=None,
                   help='images per optimizer step, as `afa train --batch` (the paper-scale recipe\'s is not spelled)')
    q = lay.add_parser('run-dir', help='the folder of a run')
    q.add_argument('run_id', metavar='RUN_ID')
    q.add_argument('--scale', choices=layout.SCALES, required=True)
    q.add_argument('--runs-root', default=layout.RUNS_ROOT)
    q = lay.add_parser('file', help='the name of a file of the pipeline')
    q.add_argument('name', choices=sorted(layout.FILES))
    p.set_defaults(func=_cmd_layout)

    p = sub.add_parser('train', help='train one row (resumes; a finished run is not retrained)')
    _add_run_arguments(p)
    p.add_argument('--deterministic', action='store_true', help='deterministic cuDNN (slower)')
    p.add_argument('--validate', dest='validate', action='store_true', default=None,
                   help='evaluate on val after each epoch (default for real runs)')
    p.add_argument('--no-validate', dest='validate', action='store_false')
    p.add_argument('--reference', metavar='REF', default='auto',
                   help='early alarm: the box-AP-per-epoch curve to compare with after each validation: auto '
                        '(default; see the README), none, run:RUN_ID, or a *.log.json file')
    p.add_argument('--reference-offset', type=float, default=0.0, metavar='AP',
                   help='shift the reference curve by this many AP points (e.g. the expected gain over Sum-Up)')
    p.add_argument('--alarm-stop', action='store_true',
                   help='stop the run cleanly when it falls outside the band (a rerun resumes it)')
    p.add_argument('--retrain', action='store_true',
                   help='train again even though the run folder holds a (finished or partial) run: the old folder '
                        'is moved to RUNS_ROOT/SCALE/.replaced/, never deleted')
    p.add_argument('--max-segments', type=int, default=segments.DEFAULT_MAX_SEGMENTS,
                   help='job segments the run may take in all (each stop on SIGUSR2/SIGTERM and continuation is one; '
                        'default %(default)s): beyond it the run refuses to start')
    p.add_argument('--stop-before-limit', type=int, default=0, metavar='SECONDS',
                   help='in a SLURM job: stop this many seconds before the job\'s time limit with a continuation '
                        'checkpoint (exit %d; 0: off)' % layout.CONTINUE_EXIT_CODE)
    p.add_argument('--requeue-on-stop', action='store_true',
                   help='in a SLURM job: after stopping on request, requeue the job (scontrol requeue, same job id) '
                        'so that it continues in a new segment')
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser('plan', help='what rows would run as on these GPUs (images per GPU, accumulation, lr, '
                                    'iterations per epoch); no GPU needed')
    _add_run_arguments(p, many=True)
    p.add_argument('--json', action='store_true', help='JSON for machines (a list, one object per row)')
    p.add_argument('--probe', action='store_true',
                   help='measure each row\'s model here (a few training and inference iterations at the recipe\'s '
                        'input size after a warm-up) and print s/iter, iterations, GPU-hours, wall time and job '
                        'segments (afa/planning/probe.py, cost.py)')
    p.add_argument('--probe-iters', type=int, default=5, help='timed iterations of the probe (default 5)')
    p.add_argument('--probe-warmup', type=int, default=2, help='untimed iterations before them (default 2)')
    p.add_argument('--time-limit-h', type=float, default=None,
                   help='the cluster\'s job time limit in hours, for the segments (default: none)')
    p.add_argument('--stop-margin-min', type=float, default=10.0,
                   help='minutes before the limit at which a segment stops (default 10, as slurm.stop_margin_s)')
    p.add_argument('--record', action='store_true',
                   help='with --probe: keep each estimate in its run folder (estimate.json), compared with the '
                        'actual time when the run finishes')
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser('test', help='evaluate a checkpoint (bbox, segm) into a metrics JSON, or write test-dev files')
    _add_run_arguments(p)
    p.add_argument('checkpoint', help='checkpoint file (.pth: trained here, or the authors\' released one, whose neck '
                                      'names are converted on the fly), a run folder\'s train_done.json or a release '
                                      'folder\'s .afa-release.json')
    p.add_argument('--out', help='metrics JSON (default RUN_DIR/metrics.json, RUN_DIR/metrics_released.json for a '
                                 'released checkpoint) or, with --format-only, a folder')
    p.add_argument('--format-only', action='store_true',
                   help='test-dev: write the result files for the COCO evaluation server, zipped')
    p.set_defaults(func=_cmd_test)

    p = sub.add_parser('tables', help='regenerate the markdown tables (seeds pooled, AFA gains with 95%% intervals), '
                                      'summary and gains CSV and figures from metrics JSONs')
    p.add_argument('--scale', choices=['paper', 'smoke'], required=True)
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
    p.add_argument('--scale', choices=['paper', 'smoke'], required=True)
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

    p = sub.add_parser('reference', help="reference training curves for the early alarm (mmdetection's "
                                         "published logs)")
    ref = p.add_subparsers(dest='reference_command', metavar='ACTION')
    ref.required = True
    q = ref.add_parser('fetch', help="download a row's published training log (*.log.json) into --dir")
    q.add_argument('row', metavar='ROW', help='a row with a reference_log in configs/zoo.yaml (the Sum-Up rows), or '
                                              'any row with --url/--file')
    q.add_argument('--url', help="the log's URL (default: the row's reference_log)")
    q.add_argument('--file', help='a log you downloaded yourself: checked and copied')
    q.add_argument('--dir', default=layout.REFERENCE_DIR, help='default %s' % layout.REFERENCE_DIR)
    q.set_defaults(func=_cmd_reference_fetch)

    p = sub.add_parser('release', help="the authors' released checkpoints: convert to this project's names")
    rel = p.add_subparsers(dest='release_command', metavar='ACTION')
    rel.required = True
    q = rel.add_parser('convert', help="rewrite a released checkpoint under this project's neck names (not needed "
                                       "for `afa test`, which converts on the fly)")
    q.add_argument('src', metavar='IN', help="checkpoint in the release's names (e.g. final.pth)")
    q.add_argument('dst', metavar='OUT', help='converted checkpoint to write (its sha256 record goes beside it)')
    q.set_defaults(func=_cmd_release_convert)

    p = sub.add_parser('data', help='datasets: synthetic, coco, verify, pretrained, release')
    data = p.add_subparsers(dest='data_command', metavar='DATASET')
    data.required = True
    q = data.add_parser('synthetic', help='make the synthetic COCO-format dataset (deterministic)')
    q.add_argument('--root', default='data/synthetic', help='output folder (default data/synthetic)')
    q.add_argument('--train', type=int, default=48, help='training images (default 48)')
    q.add_argument('--val', type=int, default=16, help='validation images (default 16)')
    q.add_argument('--test', type=int, default=8, help='test-dev images (default 8)')
    q.add_argument('--height', type=int, default=128)
    q.add_argument('--width', type=int, default=160)
    q.add_argument('--seed', type=int, default=0)
    q.set_defaults(func=_cmd_data_synthetic)
    q = data.add_parser('pretrained', help='fetch the ImageNet backbone weights into a local cache (verified)')
    q.add_argument('--dir', default='data/pretrained', help='cache folder (default data/pretrained)')
    q.add_argument('--names', nargs='+', help='only these files (default: all)')
    q.add_argument('--mirror', help='base URL serving the same file names')
    q.add_argument('--quiet', action='store_true', help='no progress bars')
    q.set_defaults(func=_cmd_data_pretrained)
    q = data.add_parser('release', help="the authors' released config and weights of rows (Google Drive, gdown)")
    q.add_argument('rows', metavar='ROW', nargs='+', help='row ids with released weights (`afa zoo` lists them)')
    q.add_argument('--dir', default='data/release', help='one folder per row in it (default data/release)')
    q.add_argument('--from', dest='source', metavar='DIR',
                   help='a folder you downloaded by hand from the row\'s Drive link (one row): copied and checked')
    q.add_argument('--quiet', action='store_true', help='no progress bars')
    q.set_defaults(func=_cmd_data_release)
    parts = ['annotations', 'val2017', 'train2017', 'test2017', 'test_info']
    q = data.add_parser('coco', help='download, extract and verify COCO 2017 (resumable)')
    q.add_argument('--root', default='data/coco', help='dataset folder (default data/coco)')
    q.add_argument('--parts', nargs='+', choices=parts, help='default: all of %s' % ', '.join(parts))
    q.add_argument('--mirror', help='base URL with the official layout (zips/..., annotations/...)')
    q.add_argument('--jobs', type=int, default=3, help='parallel downloads (default 3)')
    q.add_argument('--timeout', type=float, default=60.0, help='seconds without data before a retry')
    q.add_argument('--delete-archives', action='store_true', help='remove the zips once verified')
    q.add_argument('--manifest', help=argparse.SUPPRESS)
    q.add_argument('--quiet', action='store_true', help='no progress bars')
    q.set_defaults(func=_cmd_data_coco)
    q = data.add_parser('verify', help='verify a COCO 2017 folder you already have (no download)')
    q.add_argument('--root', default='data/coco')
    q.add_argument('--parts', nargs='+', choices=parts)
    q.add_argument('--manifest', help=argparse.SUPPRESS)
    q.set_defaults(func=_cmd_data_verify)
    return parser


def _version():
    from afa import __version__
    return __version__


# The least value of each numeric option (a negative count is never meant: refused, not silently used).
MINIMUMS = {'gpus': 0, 'train': 1, 'val': 1, 'test': 0, 'height': 32, 'width': 32, 'smoke_epochs': 1, 'seed': 0,
            'jobs': 1, 'timeout': 0.001}


def check_minimums(args):
    """A one-line error for a numeric option below its least value (MINIMUMS), else None."""
    for dest, least in sorted(MINIMUMS.items()):
        value = getattr(args, dest, None)
        if isinstance(value, (int, float)) and value < least:
            option = '--' + dest.replace('_', '-')
            return '%s must be >= %s, got %s' % (option, least, value)
    return None


def main(argv=None):
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    problem = check_minimums(args)
    if problem:
        print('afa %s: error: %s' % (args.command, problem), file=sys.stderr)
        return 2
    args.argv = argv  # `afa train --gpus N` relaunches itself with the same arguments
    if getattr(args, 'gpus', None) == 0:
        # Before torch initialises CUDA: under torch 1.9 a visible GPU is still picked by DataParallel.
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    if args.command == 'tables':
        args.testdev_given = args.testdev_scores is not None
        if args.runs is not None and not os.path.isdir(args.runs):
            print('afa tables: error: --runs %s is not a folder of run folders; pass e.g. runs/%s'
                  % (args.runs, args.scale), file=sys.stderr)
            return 2
        args.runs = args.runs or layout.runs_dir(layout.RUNS_ROOT, args.scale)
        args.out = args.out or layout.results_dir(layout.RESULTS_ROOT, args.scale)
        if args.testdev_scores is None and args.scale == 'paper':
            args.testdev_scores = 'results/testdev_scores.csv'
    try:
        return args.func(args) or 0
    except BrokenPipeError:  # `afa zoo | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print('afa: interrupted', file=sys.stderr)
        return 130
    except Exception as e:  # user-facing errors are AfaError (or an OSError naming its file): one line, exit 2
        from afa.utils.errors import is_user_error
        if args.debug or not is_user_error(e):
            raise
        print('afa %s: error: %s' % (args.command, user_message(e)), file=sys.stderr)
        return 2


def user_message(exc):
    """The one line shown for a user error."""
    from afa.utils.errors import AfaError
    if isinstance(exc, AfaError):
        return str(exc)
    from afa.utils.atomic import user_os_error
    return str(user_os_error(exc, exc.filename) if getattr(exc, 'filename', None) else exc)


if __name__ == '__main__':
    sys.exit(main())

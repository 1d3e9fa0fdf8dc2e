"""`afa test`: a checkpoint on val2017 into a metrics JSON, or test-dev files, on one process or several."""
from afa.planning.commands import processes
from afa.runs.commands import add_run_arguments, run_spec


def add_commands(sub):
    p = sub.add_parser('test', help='evaluate a checkpoint (bbox, segm) into a metrics JSON, or write test-dev files')
    add_run_arguments(p)
    p.add_argument('checkpoint', help='checkpoint file (.pth: trained here, or the authors\' released one, whose neck '
                                      'names are converted on the fly), a run folder\'s train_done.json or a release '
                                      'folder\'s .afa-release.json')
    p.add_argument('--out', help='metrics JSON (default RUN_DIR/metrics.json, RUN_DIR/metrics_released.json for a '
                                 'released checkpoint) or, with --format-only, a folder')
    p.add_argument('--format-only', action='store_true',
                   help='test-dev: write the result files for the COCO evaluation server, zipped')
    p.set_defaults(func=_cmd_test)


def _cmd_test(args):
    if args.launcher != 'none':
        from afa.training.launch import die_with_launcher
        die_with_launcher()
    spec = run_spec(args)
    cfg = spec.build_config()
    count = processes(args, spec, training=False)
    if count > 1 and args.launcher == 'none':
        from afa.evaluation.test import relaunch_test
        if args.gpus > 0:
            from afa.training.launch import check_gpus
            check_gpus(args.gpus)
        return relaunch_test(spec, cfg, count, [a for a in args.argv if a != '--debug'], args.checkpoint, args.out,
                             args.format_only)
    from afa.evaluation.test import test
    test(spec, cfg, args.checkpoint, out=args.out, format_only=args.format_only, gpus=args.gpus,
         launcher=args.launcher)
    return 0

"""`afa train` (one run, resumable, on one node or several) and `afa reference fetch` (the early alarm's reference
curves). Light at import: the training libraries are imported when a command runs."""
import sys

from afa.data.commands import TIMEOUT_HELP
from afa.planning.commands import planned_processes
from afa.runs import layout, segments
from afa.runs.commands import add_run_arguments, run_spec


def add_commands(sub):
    p = sub.add_parser('train', help='train one row (resumes; a finished run is not retrained)')
    add_run_arguments(p)
    p.add_argument('--deterministic', action='store_true', help='deterministic cuDNN (slower)')
    p.add_argument('--validate', dest='validate', action='store_true', default=None,
                   help='evaluate on val after each epoch (default for real runs)')
    p.add_argument('--no-validate', dest='validate', action='store_false')
    p.add_argument('--reference', metavar='REF', default='auto',
                   help='early alarm: the box-AP-per-epoch curve to compare with after each validation: auto '
                        '(default; see docs/usage.md), none, run:RUN_ID, or a *.log.json file')
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
    q.add_argument('--timeout', type=float, default=60.0, help=TIMEOUT_HELP)
    q.set_defaults(func=_cmd_reference_fetch)


def _cmd_train(args):
    if args.launcher != 'none':
        from afa.training.launch import die_with_launcher
        die_with_launcher()
    code = _train_segment(args)
    if code == layout.CONTINUE_EXIT_CODE and args.requeue_on_stop and args.launcher == 'none':
        from afa.training.continuation.job_limit import requeue_and_wait
        requeue_and_wait(say=lambda line: print(line, file=sys.stderr, flush=True))
    return code


def _train_segment(args):
    """Train until done (0) or until a stop request ended this segment with a checkpoint (CONTINUE_EXIT_CODE)."""
    spec = run_spec(args)
    count, plan = planned_processes(args, spec)
    if count > 1 and args.launcher == 'none':
        from afa.training.launch import check_gpus, relaunch_distributed
        if args.gpus > 0:
            check_gpus(args.gpus)
        return relaunch_distributed(count, [a for a in args.argv if a != '--debug'], spec=spec,
                                    cfg=spec.build_config(), retrain=args.retrain, batch=plan,
                                    device_word='GPU' if args.gpus > 0 else 'process')  # rank 0 sets the timer
    from afa.training.continuation.signals import ContinueLater
    from afa.training.train import train
    try:
        train(spec, spec.build_config(), gpus=args.gpus, deterministic=args.deterministic, launcher=args.launcher,
              validate=args.validate, retrain=args.retrain,
              alarm=dict(reference=args.reference, offset=args.reference_offset, stop=args.alarm_stop),
              max_imgs_per_gpu=args.max_imgs_per_gpu, max_segments=args.max_segments,
              stop_before_limit=args.stop_before_limit, plan=plan)
    except ContinueLater as stop:
        print('afa train: %s; run the same command to continue' % stop, file=sys.stderr, flush=True)
        return layout.CONTINUE_EXIT_CODE
    return 0


def _cmd_reference_fetch(args):
    from afa.training.alarm.fetch import fetch
    path = fetch(args.row, args.dir, url=args.url, source=args.file, timeout=args.timeout)
    print('afa reference fetch: %s' % path)
    return 0

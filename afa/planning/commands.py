"""`afa plan` (what rows would run as on these devices, and with --probe what they cost), and the processes a run
command starts on this node after the plan's refusal (`afa train`, `afa test`)."""
import sys

from afa.runs.commands import add_run_arguments, run_scale, run_spec


def add_commands(sub):
    p = sub.add_parser('plan', help='what rows would run as on these GPUs (images per GPU, accumulation, lr, '
                                    'iterations per epoch); no GPU needed')
    add_run_arguments(p, many=True)
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


def processes(args, spec, training=True):
    """Processes on this node, after refusing (for training) devices that cannot make the run's batch, before
    any launch. Evaluation takes any number of processes."""
    return planned_processes(args, spec, training)[0]


def planned_processes(args, spec, training=True):
    """(processes on this node, the run's BatchPlan): the plan is made here once, for the refusal before any
    launch, and handed on to training (None for evaluation, which takes any number of processes)."""
    from afa.planning.plan import devices_per_node, batch_plan_for
    from afa.utils.errors import AfaError
    plan = batch_plan_for(spec, args.gpus, args.nodes, args.procs, args.max_imgs_per_gpu) if training else None
    if args.nodes > 1 and args.launcher == 'none':
        raise AfaError('--nodes %d: start `afa %s` on every node under torchrun (--nnodes %d --nproc-per-node %d, '
                       'c10d rendezvous on the first node) with --launcher pytorch, as the slurm profile does'
                       % (args.nodes, args.command, args.nodes, devices_per_node(args.gpus, args.procs)))
    return devices_per_node(args.gpus, args.procs), plan


def _probed(args, spec, record):
    """The probe's measurement of one row; a GPU that cannot hold its images per GPU is told what to ask for."""
    from afa.planning import out_of_memory
    from afa.planning.plan import batch_plan_for
    from afa.planning.probe import probe
    from afa.utils.errors import AfaError
    try:
        return probe(spec, args.probe_iters, args.probe_warmup, imgs_per_gpu=record['imgs_per_gpu'])
    except RuntimeError as e:
        if not out_of_memory.is_gpu_out_of_memory(e):
            raise
        batch = batch_plan_for(spec, args.gpus, args.nodes, args.procs, args.max_imgs_per_gpu)
        raise AfaError(out_of_memory.advice(spec.run_id, batch, e)) from e


def _cmd_plan(args):
    import contextlib
    from afa.planning.plan import format_plan, plan_row
    if args.probe:
        from afa.planning.cost import check_limit
        check_limit(args.time_limit_h, args.stop_margin_min / 60.0)  # before anything is built or probed
    # Libraries print to stdout while loading (torch 1.9: "No CUDA runtime is found"): stdout is the plan's alone.
    with contextlib.redirect_stdout(sys.stderr):
        specs = [run_spec(args, target) for target in args.targets]
        records = [plan_row(spec, args.gpus, args.nodes, args.procs, args.max_imgs_per_gpu) for spec in specs]
        if args.probe:
            from afa.planning import cost, estimates
            margin_h = args.stop_margin_min / 60.0
            records = [cost.with_cost(r, _probed(args, spec, r), args.time_limit_h, margin_h)
                       for spec, r in zip(specs, records)]
            if args.record:
                estimates.write(records, args.runs_root, run_scale(args))
    if args.json:
        import json
        print(json.dumps(records if not args.probe else dict(rows=records, total=cost.total(records),
                                                             caveat=cost.CAVEAT), indent=2))
    else:
        print('\n'.join(format_plan(r) for r in records))
        if args.probe:
            print('\n' + cost.format_table(records, args.time_limit_h))
        from afa.planning.claim_seeds import format_lines
        decide = format_lines(records, run_scale(args))
        if decide:
            print('\n' + decide)
    return 0

"""The `afa` subcommands of this stage (`afa zoo`, `afa layout`) and what every run command shares: the run
arguments and the RunSpec they describe. Light at import: `afa --help` and `afa zoo` answer at once."""
import argparse
import sys

from afa.runs import layout


def add_commands(sub):
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


def run_spec(args, target=None):
    """The RunSpec that a run command's arguments (add_run_arguments) describe."""
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
    return RunSpec(args.target if target is None else target, scale=run_scale(args), data_root=data_root,
                   pretrained_dir=args.pretrained_dir, runs_root=args.runs_root, precision=args.precision,
                   cfg_options=cfg_options, smoke_epochs=args.smoke_epochs, seed=args.seed, batch=args.batch)


def run_scale(args):
    """The scale a run command's flags ask for (layout.SCALE_FLAGS)."""
    return 'smoke' if args.smoke else 'rehearsal' if args.rehearsal else 'paper'


def add_run_arguments(p, many=False):
    """The arguments that describe a run (`afa train`, `afa test`, `afa plan`)."""
    if many:
        p.add_argument('targets', metavar='ROW|CONFIG', nargs='+', help='row ids of configs/zoo.yaml (ROW or '
                                                                        'ROW+VARIANT) or config files')
    else:
        p.add_argument('target', metavar='ROW|CONFIG', help='a row id of configs/zoo.yaml (ROW or ROW+VARIANT) or '
                                                            'a config file')
    scale = p.add_mutually_exclusive_group()
    scale.add_argument('--smoke', action='store_true', help='the CPU smoke scale on the synthetic dataset '
                                                            '(results go to RUNS_ROOT/smoke, never mixed with real runs)')
    scale.add_argument('--rehearsal', action='store_true',
                       help='the rehearsal scale: the full-size recipe for a few steps and images on the COCO-shaped '
                            'synthetic set (results go to RUNS_ROOT/rehearsal; afa/runs/rehearsal.py)')
    p.add_argument('--smoke-epochs', type=int, default=2, help='epochs at the smoke scale (default 2)')
    p.add_argument('--data-root', help='dataset folder with train2017/ val2017/ annotations/ (default data/coco/, '
                                       'data/synthetic/ with --smoke, data/coco-like/ with --rehearsal)')
    p.add_argument('--pretrained-dir', help='folder of the backbone weights (default data/pretrained/, '
                                            'data/pretrained-rehearsal/ with --rehearsal)')
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

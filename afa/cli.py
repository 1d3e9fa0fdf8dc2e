"""The `afa` command line. Each subcommand imports its heavy libraries only when it runs, so that `afa --help`
and `afa zoo` answer at once."""
import argparse
import sys


def _cmd_zoo(args):
    from . import zoo as zoo_mod
    zoo = zoo_mod.load(args.zoo)
    rows = zoo.select(tables=args.table, row_ids=args.rows)
    columns = ['id', 'table', 'schedule', 'model', 'module', 'backbone', 'gpus', 'imgs_per_gpu',
               'box_val', 'mask_val', 'box_testdev', 'mask_testdev', 'control', 'config']
    records = []
    for r in rows:
        rec = dict(r)
        rec.update(r['paper'])
        rec['control'] = 'yes' if r.control else ''
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog='afa', description='Reproduce the COCO tables of "Attention-based Feature Aggregation" (CVPR 2022).')
    parser.add_argument('--version', action='version', version='afa %s' % _version())
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True

    p = sub.add_parser('zoo', help='list the table rows (configs/zoo.yaml)')
    p.add_argument('--zoo', help='row list (default: configs/zoo.yaml)')
    p.add_argument('--table', action='append', help='only rows of this table (1x, 3x, control); repeatable')
    p.add_argument('--rows', nargs='+', help='only these row ids')
    out = p.add_mutually_exclusive_group()
    out.add_argument('--csv', action='store_true', help='CSV for machines')
    out.add_argument('--ids', action='store_true', help='only the ids, one per line')
    p.set_defaults(func=_cmd_zoo)
    return parser


def _version():
    from . import __version__
    return __version__


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except BrokenPipeError:  # `afa zoo | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print('afa: interrupted', file=sys.stderr)
        return 130
    except Exception as e:  # user-facing errors are raised as ValueError/OSError subclasses with their context
        from .errors import is_user_error
        if not is_user_error(e):
            raise
        print('afa %s: error: %s' % (args.command, e), file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())

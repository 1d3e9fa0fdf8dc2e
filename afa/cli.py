"""The `afa` command line: a dispatcher. Each stage package contributes its own subcommands (arguments and run
function) in its ``commands`` module; each imports its heavy libraries only when it runs, so that `afa --help`
and `afa zoo` answer at once. Here: the global options, the order of the stages, numeric minimums and the one
route for user errors (one line, exit 2)."""
import argparse
import os
import sys

from afa.data import commands as data_commands
from afa.evaluation import commands as evaluation_commands
from afa.planning import commands as planning_commands
from afa.release import commands as release_commands
from afa.reporting import commands as reporting_commands
from afa.runs import commands as run_commands
from afa.training import commands as training_commands

# The stages that contribute subcommands, in the pipeline's order (each module's add_commands(sub)).
STAGES = (run_commands, data_commands, planning_commands, training_commands, evaluation_commands, release_commands,
          reporting_commands)


def build_parser():
    parser = argparse.ArgumentParser(
        prog='afa', description='Reproduce the COCO tables of "Attention-based Feature Aggregation" (CVPR 2022).')
    parser.add_argument('--version', action='version', version='afa %s' % _version())
    parser.add_argument('--debug', action='store_true',
                        help='show the full traceback of an error instead of its one-line message')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for stage in STAGES:
        stage.add_commands(sub)
    return parser


def _version():
    from afa import __version__
    return __version__


# The least value of each numeric option (a negative count is never meant: refused, not silently used), and the
# options that must be above zero (0 would read as "no limit" or spin: --time-limit-h 0, --watch 0). A list
# (--seeds) is checked value by value.
MINIMUMS = {'gpus': 0, 'train': 1, 'val': 1, 'test': 0, 'height': 32, 'width': 32, 'smoke_epochs': 1, 'seed': 0,
            'seeds': 0, 'jobs': 1, 'timeout': 0.001, 'procs': 1, 'nodes': 1, 'batch': 1, 'max_imgs_per_gpu': 1,
            'max_segments': 1, 'stop_before_limit': 0, 'probe_iters': 1, 'probe_warmup': 0, 'stop_margin_min': 0}
ABOVE_ZERO = ('time_limit_h', 'watch', 'stall_after')
# Arguments that name something: an empty one ('') is never meant.
NAMES = {'target': 'ROW', 'targets': 'ROW', 'row': 'ROW', 'runs': '--runs', 'out': '--out', 'root': '--root',
         'dir': '--dir', 'runs_root': '--runs-root', 'config': '--config'}


def check_minimums(args):
    """A one-line error for a numeric option that is not a finite number (argparse's float takes 'nan' and 'inf')
    or is below its least value (MINIMUMS, ABOVE_ZERO), or an empty name (NAMES), else None."""
    import math
    for dest, value in sorted(vars(args).items()):
        if isinstance(value, float) and not math.isfinite(value):
            return '--%s must be a finite number, got %s' % (dest.replace('_', '-'), value)
    bounds = [(dest, least, '>=') for dest, least in MINIMUMS.items()] + [(d, 0, '>') for d in ABOVE_ZERO]
    for dest, least, relation in sorted(bounds):
        values = getattr(args, dest, None)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                    value < least if relation == '>=' else value <= least):
                return '%s must be %s %s, got %s' % ('--' + dest.replace('_', '-'), relation, least, value)
    for dest, name in sorted(NAMES.items()):
        values = getattr(args, dest, None)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and not value.strip():
                return '%s is empty; name %s' % (name, 'a row (`afa zoo --ids`) or a config file' if name == 'ROW'
                                                 else 'a path')
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

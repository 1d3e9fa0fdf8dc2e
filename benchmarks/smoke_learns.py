"""Does the smoke scale learn, and what does a row cost? Train rows at the smoke scale on the synthetic dataset
(CPU, one thread per row, as the smoke profile runs them) with the workflow's settings (.test/config/config.yaml),
and print box and mask AP against the floors of afa/runs/smoke.py, with each row's CPU seconds.

    .venv/bin/python benchmarks/smoke_learns.py [--rows ROW ...] [--epochs N] [--jobs 2] [--seeds 0 1 2]

CPU seconds are the robust figure on a shared machine: the smoke DAG's wall time on 2 idle cores is about the
sum of its jobs' CPU seconds / 2 (two single-threaded jobs at a time). Uses the real `afa train` and `afa test`.
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from afa.runs import layout  # noqa: E402
from afa.runs.folder import RunFolder  # noqa: E402
from afa.runs import zoo as zoo_mod  # noqa: E402
from afa.runs.smoke import BOX_AP_FLOORS  # noqa: E402


def afa(*args):
    """Run `afa ARGS` single-threaded; returns (wall seconds, CPU seconds: user + system of that process)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=REPO)
    start = time.time()
    with tempfile.TemporaryFile('w+') as err:
        process = subprocess.Popen([sys.executable, '-m', 'afa.cli'] + list(args), cwd=REPO, env=env,
                                   stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status
        if process.returncode:
            err.seek(0)
            sys.exit('afa %s failed:\n%s' % (' '.join(args), err.read()[-3000:]))
    return time.time() - start, usage.ru_utime + usage.ru_stime


def run_row(run, common, runs_root):
    """Train and evaluate one run; (run id, metrics, CPU seconds of both processes, wall seconds)."""
    parsed = layout.parse_run_id(run)
    seed = ['--seed', str(parsed.seed)]
    wall, cpu = afa('train', parsed.target, *(common + seed))
    folder = RunFolder.of(runs_root, 'smoke', run)
    test_wall, test_cpu = afa('test', parsed.target, folder.done_path, *(common + seed))
    metrics = folder.metrics()
    return run, metrics, cpu + test_cpu, wall + test_wall


def main():
    with open(os.path.join(REPO, '.test', 'config', 'config.yaml')) as f:
        config = yaml.safe_load(f)
    synthetic = config['data']['synthetic']
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', nargs='+', default=['cmrcn_r50_sumup_1x', 'cmrcn_r50_mssa_adp_1x', 'ddetr_r50_1x'],
                        help='rows (ROW or ROW+VARIANT), or "all"')
    parser.add_argument('--seeds', nargs='+', type=int, default=config['seeds'])
    parser.add_argument('--epochs', type=int, default=config['smoke_epochs'])
    parser.add_argument('--train-images', type=int, default=synthetic['train'])
    parser.add_argument('--val-images', type=int, default=synthetic['val'])
    parser.add_argument('--jobs', type=int, default=2, help='rows trained at once (one thread each)')
    parser.add_argument('--workdir', help='keep data and runs here (default: a temporary folder)')
    args = parser.parse_args()
    zoo = zoo_mod.load()
    targets = zoo.ids() if args.rows == ['all'] else args.rows
    runs = [layout.run_id(t, seed=s) for t in targets for s in args.seeds]

    workdir = args.workdir or tempfile.mkdtemp(prefix='afa-smoke-learns-')
    data = os.path.join(workdir, 'synthetic')
    runs_root = os.path.join(workdir, 'runs')
    afa('data', 'synthetic', '--root', data, '--train', str(args.train_images), '--val', str(args.val_images),
        '--test', '2', '--height', str(synthetic['height']), '--width', str(synthetic['width']))
    common = ['--smoke', '--smoke-epochs', str(args.epochs), '--data-root', data, '--runs-root', runs_root,
              '--gpus', '0']
    print('smoke scale, %d epochs of %d synthetic images, evaluated on %d images, %d rows at a time, %d cores; '
          'load average %.1f at start' % (args.epochs, args.train_images, args.val_images, args.jobs,
                                          os.cpu_count(), os.getloadavg()[0]))
    print('| run | box AP | floor | box AP50 | mask AP | CPU s (train + test) | wall s |')
    print('|---|---|---|---|---|---|---|')
    total_cpu = 0.0
    failed = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for run, metrics, cpu, wall in pool.map(lambda r: run_row(r, common, runs_root), runs):
            row = zoo.row(layout.parse_run_id(run).row)
            floor = BOX_AP_FLOORS[row['model']]
            box = metrics['bbox']['AP']
            if box < floor:
                failed.append(run)
            total_cpu += cpu
            print('| %s | %.1f | %s%.0f | %.1f | %s | %.0f | %.0f |' % (
                run, box, '>=' if box >= floor else 'BELOW ', floor, metrics['bbox']['AP50'],
                '%.1f' % metrics['segm']['AP'] if metrics.get('segm') else '-', cpu, wall), flush=True)
    print('total CPU: %.0f s; on 2 idle cores about %.1f min of training and evaluation (CPU / 2)'
          % (total_cpu, total_cpu / 120.0))
    print('below the floor: %s' % (', '.join(failed) or 'none'))


if __name__ == '__main__':
    main()

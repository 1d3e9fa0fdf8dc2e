"""Does the smoke scale learn? Train the Sum-Up row and an AFA row at the smoke scale on the synthetic dataset
(CPU) for a fixed budget and print box and mask AP and the minutes taken.

    .venv/bin/python benchmarks/smoke_learns.py [--rows cmrcn_r50_sumup_1x cmrcn_r50_mssa_adp_1x] [--epochs 6]

Chance level on this dataset is an AP near 0 (random boxes rarely reach IoU 0.5 on small shapes); a working
pipeline is clearly above it within a few minutes. Uses the real `afa train` and `afa test` commands.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def afa(*args):
    subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', nargs='+', default=['cmrcn_r50_sumup_1x', 'cmrcn_r50_mssa_adp_1x'])
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--train-images', type=int, default=96)
    parser.add_argument('--val-images', type=int, default=24)
    parser.add_argument('--workdir', help='keep data and runs here (default: a temporary folder)')
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix='afa-smoke-learns-')
    data = os.path.join(workdir, 'synthetic')
    afa('data', 'synthetic', '--root', data, '--train', str(args.train_images), '--val', str(args.val_images),
        '--test', '2')
    common = ['--smoke', '--smoke-epochs', str(args.epochs), '--data-root', data,
              '--runs-root', os.path.join(workdir, 'runs'), '--gpus', '0']
    print('smoke scale, %d epochs of %d synthetic images (batch 2), evaluated on %d images, CPU threads: %s'
          % (args.epochs, args.train_images, args.val_images, os.cpu_count()))
    print('| row | box AP | box AP50 | mask AP | train min | test min |')
    print('|---|---|---|---|---|---|')
    for row in args.rows:
        start = time.time()
        afa('train', row, *common)
        trained = time.time()
        run_dir = os.path.join(workdir, 'runs', 'smoke', row)
        afa('test', row, os.path.join(run_dir, 'train_done.json'), *common)
        tested = time.time()
        with open(os.path.join(run_dir, 'metrics.json')) as f:
            metrics = json.load(f)
        print('| %s | %.1f | %.1f | %.1f | %.1f | %.1f |' % (
            row, metrics['bbox']['AP'], metrics['bbox']['AP50'], (metrics.get('segm') or {}).get('AP', float('nan')),
            (trained - start) / 60, (tested - trained) / 60), flush=True)


if __name__ == '__main__':
    main()

"""Peak resident memory of one rehearsal training step on CPU, with and without the two memory measures of CPU runs:
Deformable-DETR's attention fallback recomputed in the backward pass (afa/integration/deform_attn_memory.py) and
freed tensors returned to the system at once (afa/utils/host_memory.py).

    .venv/bin/python benchmarks/cpu_training_memory.py [--row ddetr_r50_1x] [--dir /tmp/afa-bench-memory]

Makes the rehearsal's COCO-shaped data and stand-in backbone weights in --dir (what `make rehearsal` does first),
then trains the row's full-size recipe for one step (`AFA_STOP_AFTER_ITER=1`, the workflow's stop drill) four
times, each in a fresh process: with neither measure, each alone, both (what `afa train` does on CPU). Peak
resident set from the kernel when the process ends (RUSAGE_CHILDREN of a per-variant helper process: the exact
peak, what the OOM killer and a SLURM memory limit see) and wall time; one process at a time.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A child that measures its own child: RUSAGE_CHILDREN's maximum is then this variant's alone.
MEASURE = '''
import os, resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
'''
TRAIN = '''
import sys
from afa.integration import compat
from afa.utils import host_memory
recompute, release = sys.argv[1] == 'yes', sys.argv[2] == 'yes'
if not recompute:
    compat._applied['deform_attn_cpu_memory'] = False  # as if probed clean: mmcv's fallback as it is
if not release:
    host_memory.return_freed_memory = lambda: False  # glibc's own threshold
from afa.cli import main
sys.exit(main(sys.argv[3:]))
'''
VARIANTS = (('neither', 'no', 'no'), ('recomputed attention', 'yes', 'no'), ('freed memory returned', 'no', 'yes'),
            ('both (afa train on CPU)', 'yes', 'yes'))


def afa(*args, cwd):
    subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--row', default='ddetr_r50_1x')
    parser.add_argument('--dir', default='/tmp/afa-bench-memory')
    args = parser.parse_args()
    from afa.runs import rehearsal
    os.makedirs(args.dir, exist_ok=True)
    data, weights = os.path.join(args.dir, 'coco-like'), os.path.join(args.dir, 'pretrained-rehearsal')
    if not os.path.isdir(data):
        afa('data', 'synthetic', '--root', data, '--coco-like', '--train', str(rehearsal.TRAIN_IMAGES), '--val',
            str(rehearsal.VAL_IMAGES), '--test', str(rehearsal.TEST_IMAGES), cwd=REPO)
    if not os.path.isdir(weights):
        afa('data', 'standin', '--dir', weights, '--real-dir', os.path.join(REPO, 'data', 'pretrained'), cwd=REPO)
    print('CPU, %d cores, load average %.1f at the start; %s, one training step of its full-size recipe'
          % (os.cpu_count(), os.getloadavg()[0], args.row))
    print('| measures | peak RSS GiB | wall s |\n|---|---|---|')
    env = dict(os.environ, AFA_STOP_AFTER_ITER='1')
    env.pop('MALLOC_MMAP_THRESHOLD_', None)
    for name, recompute, release in VARIANTS:
        runs = os.path.join(args.dir, 'runs')
        shutil.rmtree(runs, ignore_errors=True)
        argv = [sys.executable, '-c', MEASURE, sys.executable, '-c', TRAIN, recompute, release, 'train', args.row,
                '--rehearsal', '--runs-root', runs, '--data-root', data + '/', '--pretrained-dir', weights + '/',
                '--gpus', '0', '--precision', 'fp32', '--seed', '0']
        start = time.time()
        result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.time() - start
        kib, code = result.stdout.split()[-2:]
        if code not in ('0', '75'):  # 75: stopped after the step with a continuation checkpoint, as asked
            sys.exit('%s: exit %s\n%s' % (name, code, result.stderr[-3000:]))
        print('| %s | %.1f | %.0f |' % (name, int(kib) / 2.0 ** 20, wall), flush=True)


if __name__ == '__main__':
    main()

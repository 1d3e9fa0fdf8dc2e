"""Wall time of the whole smoke DAG (CPU) and of a dry run of the coco profile, printed.

    .venv/bin/python benchmarks/workflow_time.py [--skip-smoke]

The smoke DAG runs in a fresh copy of the repository's tracked files, exactly as `make smoke` does, so nothing
of an earlier run is reused.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), 'snakemake')


def timed(cmd, cwd):
    start = time.time()
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        sys.exit('%s failed:\n%s' % (' '.join(cmd), result.stdout[-3000:]))
    return time.time() - start, result.stdout


def fresh_copy(dest):
    files = subprocess.check_output(['git', 'ls-files'], cwd=REPO, text=True).split()
    for rel in files:
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), os.path.join(dest, rel))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--skip-smoke', action='store_true', help='only the dry run')
    args = parser.parse_args()
    seconds, out = timed([SNAKEMAKE, '--profile', 'workflow/profiles/coco', '-n'], REPO)
    jobs = [line for line in out.splitlines() if line.strip().startswith('total')]
    print('coco profile dry run: %.1f s (%s)' % (seconds, jobs[0].strip() if jobs else 'job count not printed'))
    if args.skip_smoke:
        return
    work = tempfile.mkdtemp(prefix='afa-smoke-dag-')
    fresh_copy(work)
    seconds, out = timed([SNAKEMAKE, '--profile', 'workflow/profiles/smoke'], work)
    steps = [line for line in out.splitlines() if 'steps (100%) done' in line]
    print('smoke DAG, every row, %d CPU cores: %.1f min (%s)' % (os.cpu_count(), seconds / 60,
                                                                steps[-1].strip() if steps else '?'))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

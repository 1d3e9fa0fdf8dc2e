"""Wall time of the whole smoke DAG (CPU) and of a dry run of the coco profile, printed.

    .venv/bin/python benchmarks/workflow_time.py [--skip-smoke]

The smoke DAG runs in a fresh copy of the repository's tracked files, exactly as `make smoke` does, so nothing
of an earlier run is reused.
"""
import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from afa.runs import layout  # noqa: E402

SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), 'snakemake')


def timed(cmd, cwd):
    """(wall seconds, CPU seconds of the command and everything it started, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    env = dict(os.environ, PYTHONPATH=cwd)  # the copy's afa, also in Snakemake's own process
    result = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        sys.exit('%s failed:\n%s' % (' '.join(cmd), result.stdout[-3000:]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return time.time() - start, cpu, result.stdout


def fresh_copy(dest):
    files = subprocess.check_output(['git', 'ls-files'], cwd=REPO, text=True).split()
    for rel in files:
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), os.path.join(dest, rel))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--skip-smoke', action='store_true', help='only the dry run')
    parser.add_argument('--keep', help='copy the smoke results folder (tables, CSVs, figures) to this new folder')
    args = parser.parse_args()
    seconds, _, out = timed([SNAKEMAKE, '--profile', 'workflow/profiles/coco', '-n'], REPO)
    jobs = [line for line in out.splitlines() if line.strip().startswith('total')]
    print('coco profile dry run: %.1f s (%s)' % (seconds, jobs[0].strip() if jobs else 'job count not printed'))
    if args.skip_smoke:
        return
    work = tempfile.mkdtemp(prefix='afa-smoke-dag-')
    fresh_copy(work)
    load = os.getloadavg()[0]
    seconds, cpu, out = timed([SNAKEMAKE, '--profile', 'workflow/profiles/smoke'], work)
    steps = [line for line in out.splitlines() if 'steps (100%) done' in line]
    print('smoke DAG, every row, %d CPU cores: %.1f min wall (%s); load average %.1f at start, %.1f at end'
          % (os.cpu_count(), seconds / 60, steps[-1].strip() if steps else '?', load, os.getloadavg()[0]))
    # On a shared machine the wall time says little; the CPU time of the DAG's processes does not depend on
    # the other users: on 2 idle cores the DAG takes about CPU / 2 (two single-threaded jobs at a time).
    print('smoke DAG CPU time: %.1f min; on %d idle cores about %.1f min wall'
          % (cpu / 60, os.cpu_count(), cpu / 60 / os.cpu_count()))
    summary = os.path.join(layout.results_dir(os.path.join(work, layout.RESULTS_ROOT), 'smoke'),
                           layout.TABLE_FILES['summary'])
    with open(summary) as f:
        for rec in csv.DictReader(f):
            print('  %-34s box AP %5.1f  mask AP %s' % (rec['run_id'], float(rec['ours_box_val']),
                                                       rec['ours_mask_val'] or '-'))
    # Snakemake's benchmark records (benchmark: directive of the train and evaluate rules): the cost of each job.
    for rule in ('train', 'evaluate'):
        folder = os.path.join(work, 'logs', 'smoke', 'benchmark', rule)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name)) as f:
                rec = next(csv.DictReader(f, delimiter='\t'))
            print('  %-8s %-34s %7.1f s wall  %7.1f s CPU  max RSS %6.0f MB'
                  % (rule, name[:-len('.tsv')], float(rec['s']), float(rec['cpu_time']), float(rec['max_rss'])))
    if args.keep:
        shutil.copytree(os.path.dirname(summary), args.keep)  # a new folder
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

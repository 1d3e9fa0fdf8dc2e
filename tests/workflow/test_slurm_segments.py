"""A training run longer than the partition's time limit, through the real SLURM cluster (scripts/slurm_cluster.sh)
and the slurm profile: it continues in several segments of one job and ends with the weights of a run that
never stopped.

A 2-minute partition made for the test (scontrol create partition); one smoke row whose training takes longer.
The job asks for min(its estimate, the partition's limit); the trainer checkpoints before the limit and
requeues its job (same job id): Snakemake must report success, never a failed job, the tables must show the
row, and the run's segments.json and the scheduler (SLURM_RESTART_COUNT) must show the segments.
"""
import datetime
import json
import os
import resource
import subprocess
import sys
import time

import pytest
import torch
import yaml

from afa.runs import layout
from afa.runs import segments
from conftest import copy_checkout
from test_slurm import _jobs_by_comment, _last_job_id, _scontrol, _start_snakemake, _stop
from test_workflow import what_failed
from test_slurm import slurm_cluster  # noqa: F401 (the session's cluster fixture)

pytestmark = pytest.mark.orchestrator

PARTITION = 'afa_short'
LIMIT_MIN = 2
STOP_MARGIN_S = 40
ROW = 'cmrcn_r50_sumup_1x'
SYNTHETIC = {'train': 16, 'val': 4, 'test': 2, 'height': 128, 'width': 160, 'seed': 0}


@pytest.fixture
def short_partition(slurm_cluster):  # noqa: F811 (the imported fixture, requested by name)
    """A partition on the cluster's CPU node whose jobs may run LIMIT_MIN minutes."""
    node = subprocess.check_output(['sinfo', '-h', '-p', 'cpu', '-o', '%N'], text=True).strip()
    settings = ['PartitionName=%s' % PARTITION, 'Nodes=%s' % node, 'MaxTime=%d' % LIMIT_MIN, 'State=UP']
    if subprocess.run(['scontrol', 'create'] + settings, capture_output=True).returncode != 0:
        subprocess.check_call(['scontrol', 'update'] + settings)  # left by an earlier session
    yield PARTITION
    subprocess.run(['scontrol', 'delete', 'PartitionName=%s' % PARTITION], capture_output=True)


def _config(path, epochs):
    config = {'scale': 'smoke', 'rows': [ROW], 'testdev': False, 'smoke_epochs': epochs,
              'data': {'source': 'synthetic', 'root': 'data/synthetic', 'synthetic': SYNTHETIC},
              'resources': {'threads': 1, 'mem_mb': 3000, 'runtime_min': {'12e': 30, '36e': 30}},
              'slurm': {'partition': PARTITION, 'cpu_partition': 'cpu', 'account': '', 'stop_margin_s': STOP_MARGIN_S}}
    with open(path, 'w') as f:
        yaml.safe_dump(config, f)


def _afa(repo, *args):
    """`afa ARGS` as the training job runs it (one thread); the CompletedProcess."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=repo)
    result = subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True, env=env,
                            cwd=repo)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _train(repo, data_root, runs_root, epochs):
    """The row trained without SLURM and without stopping; its run folder, the command's wall time and the share
    of a core it had (its CPU time over its wall time: under 1 where other work shared the cores). It validates
    after every epoch as the workflow's training job does (config `validate`): a validation draws from torch's
    random state (each DataLoader iterator takes a seed from it), so the weights depend on it."""
    t0, cpu0 = time.time(), _children_cpu_s()
    _afa(repo, 'train', ROW, '--smoke', '--smoke-epochs', str(epochs), '--data-root', data_root + '/',
         '--runs-root', runs_root, '--gpus', '0', '--validate')
    wall = time.time() - t0
    return layout.run_dir(runs_root, 'smoke', ROW), wall, min(1.0, (_children_cpu_s() - cpu0) / wall)


def _children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _epochs_for_two_segments(repo, tmp_path):
    """Epochs whose training takes this machine about 1.3 segments' working time at full speed, measured now on
    two epochs of the row on the same data. A fixed count did not work: 8 epochs ran in one 34 s segment on an
    idle machine, and would need many segments on a loaded one. Wall time alone did not either: calibrated in CI's
    busiest minute (7.5 s an epoch), the run then had the cores to itself and finished in one segment. So the
    measured times are scaled to a whole core (by the share the calibration had): at any load the run needs at
    least two segments, more where the cores are shared."""
    data = str(tmp_path / 'calibration-data')
    _afa(repo, 'data', 'synthetic', '--root', data, *['--%s=%s' % kv for kv in sorted(SYNTHETIC.items())])
    run_dir, wall, share = _train(repo, data, str(tmp_path / 'calibration-runs'), 2)
    (record,) = segments.read(run_dir)
    start, end = (datetime.datetime.strptime(record[k], '%Y-%m-%dT%H:%M:%S%z') for k in ('started', 'ended'))
    training_s = max((end - start).total_seconds(), 1.0)
    epoch_s, start_up_s = share * training_s / 2, share * (wall - training_s)  # a job's start-up, as this one's
    window_s = LIMIT_MIN * 60 - STOP_MARGIN_S - start_up_s
    epochs = max(4, min(60, int(1.3 * window_s / epoch_s) + 1))
    print('\ncalibration: %.1f s per epoch, %.0f s start-up on %.0f%% of a core; at full speed %.1f s and %.0f s: '
          '%d epochs' % (training_s / 2, wall - training_s, 100 * share, epoch_s, start_up_s, epochs))
    return epochs


def _weights(path):
    load = dict(weights_only=False) if 'weights_only' in torch.load.__code__.co_varnames else {}
    return torch.load(path, map_location='cpu', **load)['state_dict']


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_run_longer_than_the_time_limit_finishes_in_segments_of_one_job(short_partition, tmp_path):
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    epochs = _epochs_for_two_segments(repo, tmp_path)
    _config(os.path.join(repo, 'segments.yaml'), epochs)
    log_path = str(tmp_path / 'snakemake.log')
    since = _last_job_id()
    t0 = time.time()
    # --retries 0: no segment may pass through a failure; the evaluation jobs ask for what the partition allows
    proc = _start_snakemake(repo, ['--configfile', 'segments.yaml', '--slurm-init-seconds-before-status-checks', '2',
                                   '--retries', '0', '--default-resources', 'runtime=%d' % LIMIT_MIN, 'mem_mb=3000'],
                            log_path, limit_s=1200)
    try:
        proc.wait(timeout=1300)
    finally:
        _stop(proc)
    wall = time.time() - t0
    output = open(log_path).read()
    assert proc.returncode == 0, what_failed(output)
    assert 'Error in rule' not in output and 'failed, SLURM status' not in output, what_failed(output)

    run_dir = os.path.join(repo, 'runs', 'smoke', ROW)
    records = segments.read(run_dir)
    print('\n%d segments in %.0f s through a %d-minute partition: %s' % (
        len(records), wall, LIMIT_MIN, [(r.get('outcome'), r.get('checkpoint'), r.get('slurm_restart_count'))
                                        for r in records]))
    assert len(records) >= 2, records
    assert [r['outcome'] for r in records] == ['continue'] * (len(records) - 1) + ['finished']
    assert len({r['slurm_job_id'] for r in records}) == 1, records   # requeued: one job id throughout
    assert [r['slurm_restart_count'] for r in records] == list(range(len(records)))
    (job_id, state), = _jobs_by_comment(repo, since)['rule_train_wildcards_%s' % ROW]
    job = _scontrol(job_id)
    assert state == 'COMPLETED' and job['Restarts'] == str(len(records) - 1) and job['TimeLimit'] == '00:02:00', job

    import pandas as pd
    summary = pd.read_csv(os.path.join(repo, 'results', 'smoke', layout.TABLE_FILES['summary']))
    summary = summary.set_index('id')['status']
    assert summary[ROW] == 'done'

    # The same run without SLURM and without stopping, on the same data: the same weights, bit for bit.
    reference_dir, _, _ = _train(repo, os.path.join(repo, 'data', 'synthetic'), str(tmp_path / 'reference'), epochs)
    done = json.load(open(layout.done_path(run_dir)))
    expected = _weights(json.load(open(layout.done_path(reference_dir)))['checkpoint'])
    weights = _weights(os.path.join(run_dir, os.path.basename(done['checkpoint'])))
    differ = [k for k in expected if not torch.equal(expected[k], weights[k])]
    assert differ == [], '%d of %d tensors differ from the uninterrupted run' % (len(differ), len(expected))

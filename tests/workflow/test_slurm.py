"""The `slurm` profile through a real SLURM scheduler (scripts/slurm_cluster.sh: slurm-wlm + munge on loopback).

What a paper-scale training job asks the scheduler for, the smoke DAG as SLURM jobs, a training job cancelled
with scancel mid-run (noticed, resubmitted, resumed from its checkpoint), a broken row that fails alone, and a
rerun that does not retrain finished rows. Needs root and apt (Debian/Ubuntu) to install and start the cluster;
skipped otherwise, with the reason. Every Snakemake run is wrapped in `timeout -s INT` (SIGINT: Snakemake
scancels its jobs and exits; SIGTERM would wait for them).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from afa.runs import zoo as zoo_mod
from afa.runs import layout
from afa.runs import segments
from afa.data.pretrained import files_for_backbone
from conftest import copy_checkout

# Snakemake and shellcheck beside the interpreter: the orchestrator environment (deselected in the paper stack).
pytestmark = pytest.mark.orchestrator

REPO = zoo_mod.REPO_ROOT
ZOO = zoo_mod.load()
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), 'snakemake')
CLUSTER = os.path.join(REPO, 'scripts', 'slurm_cluster.sh')
GPU_PARTITION = 'gpu'   # the test cluster's pending-only 8-GPU partition (scripts/slurm_cluster.sh)


def test_cluster_script_is_shellcheck_clean_and_names_its_commands():
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'shellcheck'), CLUSTER],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    usage = subprocess.run(['bash', CLUSTER, 'restart'], capture_output=True, text=True)
    assert usage.returncode == 2 and 'start|stop|status|env' in usage.stderr


def test_the_slurm_queries_of_every_snakemake_command_wait_for_no_controller_and_the_rest_is_real():
    """tests/conftest.py answers the SLURM plugin's import-time `scontrol show config` and the workflow's `sinfo`
    at once while the test cluster is down (each would wait ~10 s in every snakemake command); nothing else
    changes."""
    folder = os.environ.get('AFA_SLURM_QUERIES_WRAPPED')
    if not folder:
        pytest.skip('no SLURM installed: nothing to wait for')
    up = subprocess.run(['bash', CLUSTER, 'status'], capture_output=True).returncode == 0
    unwrapped = os.pathsep.join(p for p in os.environ['PATH'].split(os.pathsep) if p != folder)
    for query, answer in ((['scontrol', 'show', 'config'], 'MinJobAge'), (['sinfo', '-h', '-o', '%P %l'], 'cpu')):
        t0 = time.time()
        result = subprocess.run(query, capture_output=True, text=True, timeout=60)
        if up:
            assert result.returncode == 0 and answer in result.stdout, result.stderr
        else:
            assert result.returncode == 1 and 'test SLURM cluster is not running' in result.stderr, result
            assert time.time() - t0 < 5, query
        real = subprocess.run([shutil.which(query[0], path=unwrapped), '--version'], capture_output=True, text=True)
        wrapped = subprocess.run([query[0], '--version'], capture_output=True, text=True)
        assert wrapped.returncode == real.returncode == 0 and wrapped.stdout == real.stdout
        assert wrapped.stdout.startswith('slurm')


def _cluster_unavailable():
    if os.name != 'posix' or os.geteuid() != 0:
        return 'the test SLURM cluster needs root (it installs slurm-wlm and munge and starts their daemons)'
    if not shutil.which('slurmctld') and not shutil.which('apt-get'):
        return 'no SLURM installed and no apt-get to install slurm-wlm and munge'
    return None


@pytest.fixture(scope='session')
def slurm_cluster():
    """Start the one-node cluster (installing it when missing); stop it afterwards if this session started it."""
    reason = _cluster_unavailable()
    if reason:
        pytest.skip(reason)
    was_up = subprocess.run(['bash', CLUSTER, 'status'], capture_output=True).returncode == 0
    t0 = time.time()
    start = subprocess.run(['bash', CLUSTER, 'start'], capture_output=True, text=True, timeout=900)
    assert start.returncode == 0, 'slurm_cluster.sh start failed:\n' + start.stdout + start.stderr
    print('\nSLURM cluster start (install included if needed): %.1f s: %s' % (time.time() - t0, start.stdout.strip()))
    yield
    if not was_up:
        subprocess.run(['bash', CLUSTER, 'stop'], capture_output=True, timeout=60)


def _start_snakemake(repo, args, log_path, limit_s):
    """Snakemake with the slurm profile in `repo`, under `timeout -s INT` so that it can never hang a test.

    `--foreground`: without it timeout passes a signal on twice, to Snakemake and then to its whole process group
    (strace shows both), so one Ctrl-C of a test could reach Snakemake as two. On a loaded machine the second
    one interrupted Snakemake while it was running scancel, and the jobs stayed pending (a rehearsal failure)."""
    env = dict(os.environ, PYTHONPATH=repo)
    cmd = ['timeout', '--foreground', '-s', 'INT', '-k', '60', str(limit_s), SNAKEMAKE, '--profile',
           'workflow/profiles/slurm'] + args
    return subprocess.Popen(cmd, cwd=repo, env=env, stdout=open(log_path, 'w'), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc):
    """Ctrl-C to the whole run (Snakemake scancels its jobs), then SIGKILL if it does not exit within 60 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # timeout passes it on to Snakemake
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for(predicate, timeout, what, proc=None, log_path=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = open(log_path).read()[-4000:] if log_path else ''
    pytest.fail('waited %d s for %s\n%s' % (timeout, what, tail))


def _jobs_by_comment(workdir, since, states='all'):
    """{comment: [(job id, state)]} of the jobs submitted after job `since` from workdir, oldest first (the
    plugin's comment: rule_RULE_wildcards_ROW). Finished jobs stay listed for MinJobAge (300 s here)."""
    out = subprocess.check_output(['squeue', '-h', '--states=%s' % states, '-o', '%i|%k|%T|%Z'], text=True,
                                  timeout=30)
    jobs = {}
    for line in sorted(out.splitlines(), key=lambda text: int(text.split('|')[0])):
        job_id, comment, state, job_dir = line.split('|')
        if int(job_id) > since and os.path.realpath(job_dir) == os.path.realpath(workdir):
            jobs.setdefault(comment, []).append((job_id, state))
    return jobs


def _last_job_id():
    """The newest job id the controller has handed out (0 on a fresh cluster)."""
    out = subprocess.check_output(['squeue', '-h', '--states=all', '-o', '%i'], text=True, timeout=30)
    return max([int(j) for j in out.split()] or [0])


def _scontrol(job_id):
    out = subprocess.check_output(['scontrol', 'show', 'job', '-o', job_id], text=True, timeout=30)
    return dict(re.findall(r'(\S+?)=(\S*)', out))


def _slurm_time(minutes):
    days, rest = divmod(minutes, 24 * 60)
    return ('%d-' % days if days else '') + '%02d:%02d:00' % divmod(rest, 60)


@pytest.mark.slow
def test_paper_scale_training_jobs_ask_for_8_gpus_their_estimated_or_scheduled_time_and_their_memory(
        slurm_cluster, tmp_path):
    """Through the real path (the slurm profile, the plugin's sbatch), into a partition whose 8-GPU node never
    comes up: the pending jobs show what the scheduler was asked for. Ctrl-C then cancels them."""
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    coco = yaml.safe_load(open(os.path.join(repo, 'config', 'config.yaml')))
    rows = [ZOO.row('ddetr_r50_3x'), ZOO.row('cmrcn_x101_mssa_adp_1x')]
    # Stand-ins for COCO and the backbones: the training jobs never start, so nothing reads them.
    os.makedirs(os.path.join(repo, 'data', 'coco'))
    os.makedirs(os.path.join(repo, 'data', 'pretrained'))
    open(os.path.join(repo, 'data', 'coco', layout.COCO_VERIFIED), 'w').close()
    for row in rows:
        for name in files_for_backbone(row['backbone']):
            open(os.path.join(repo, 'data', 'pretrained', name), 'w').close()
    # The 1x row has the estimate `afa plan --probe --record` leaves: its job asks for that (with the margin of
    # afa/planning/estimates.py), the 3x row for its schedule's runtime_min.
    estimated = os.path.join(repo, 'runs', 'paper', rows[1].id)
    os.makedirs(estimated)
    with open(os.path.join(estimated, layout.ESTIMATE_FILE), 'w') as f:
        json.dump(dict(run_id=rows[1].id, wall_h=20.0), f)
    asked = {rows[0].id: coco['resources']['runtime_min'][rows[0]['schedule']], rows[1].id: 20 * 60 * 5 // 4 + 15}
    log_path = str(tmp_path / 'snakemake.log')
    targets = [os.path.join('runs', 'paper', row.id, layout.DONE_FILE) for row in rows]
    since = _last_job_id()
    proc = _start_snakemake(repo, ['--config', 'slurm={partition: %s}' % GPU_PARTITION, '--'] + targets,
                            log_path, limit_s=300)
    try:
        comments = ['rule_train_wildcards_%s' % row.id for row in rows]

        def both_submitted():
            jobs = _jobs_by_comment(repo, since)
            return jobs if all(c in jobs for c in comments) else None

        jobs = _wait_for(both_submitted, 120, 'both training jobs in squeue', proc, log_path)
        for row, comment in zip(rows, comments):
            (job_id, state), = jobs[comment]
            job = _scontrol(job_id)
            print('\n%s asks: TresPerJob=%s NumNodes=%s NumTasks=%s NumCPUs=%s MinMemoryNode=%s TimeLimit=%s'
                  % (row.id, job.get('TresPerJob'), job['NumNodes'], job['NumTasks'], job['NumCPUs'],
                     job['MinMemoryNode'], job['TimeLimit']))
            assert state == 'PENDING' and job['Partition'] == GPU_PARTITION
            assert job.get('TresPerJob') == 'gres:gpu:%d' % row['gpus']
            # torchrun: one task on one node; the plugin's default --ntasks-per-gpu=1 would show NumTasks=8 and
            # NtasksPerTRES=1, spread over several nodes.
            assert job['NumNodes'] in ('1', '1-1') and job['NumTasks'] == '1', job
            assert 'NtasksPerTRES' not in job, job
            assert job['NumCPUs'] == str(coco['resources']['threads'])
            assert job['MinMemoryNode'] == '%dM' % coco['resources']['mem_mb']
            assert job['TimeLimit'] == _slurm_time(asked[row.id])
        limits = [_scontrol(jobs[c][0][0])['TimeLimit'] for c in comments]
        assert limits[0] != limits[1], 'a 3x and a 1x row ask for the same time: %s' % limits
        t0 = time.time()
        proc.send_signal(signal.SIGINT)   # Ctrl-C (timeout passes it on): Snakemake scancels its jobs, exits
        proc.wait(timeout=120)
        print('Ctrl-C to exit, jobs cancelled: %.1f s' % (time.time() - t0))
    finally:
        _stop(proc)
    states = {c: _jobs_by_comment(repo, since).get(c, [('?', 'gone')])[-1][1] for c in comments}
    assert all(s == 'CANCELLED' for s in states.values()), states


@pytest.mark.slow
def test_a_two_node_training_job_asks_for_both_nodes_one_task_each_and_their_gpus(slurm_cluster, tmp_path):
    """nodes_per_run: 2 through the real path (the slurm profile, the plugin's sbatch), into the partition of two
    8-GPU nodes that never come up: one job of 2 nodes, one task per node (srun starts torchrun on each), 8 GPUs
    per node as gres; Ctrl-C cancels it."""
    nodes = subprocess.check_output(['sinfo', '-h', '-p', GPU_PARTITION, '-o', '%D'], text=True).split()
    if sum(int(n) for n in nodes) < 2:
        pytest.fail('the running test cluster has one node in %s: it was started by an older '
                    'scripts/slurm_cluster.sh; restart it (stop, then start)' % GPU_PARTITION)
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    row = ZOO.row('cmrcn_r50_mssa_adp_1x')
    os.makedirs(os.path.join(repo, 'data', 'coco'))
    os.makedirs(os.path.join(repo, 'data', 'pretrained'))
    open(os.path.join(repo, 'data', 'coco', layout.COCO_VERIFIED), 'w').close()
    for name in files_for_backbone(row['backbone']):
        open(os.path.join(repo, 'data', 'pretrained', name), 'w').close()
    args = ['--config', 'slurm={partition: %s}' % GPU_PARTITION, 'nodes_per_run=2', 'gpus_per_run=8', '--',
            os.path.join('runs', 'paper', row.id, layout.DONE_FILE)]
    # The job's shell command is made inside the job: a dry run of the same target prints it.
    dry = subprocess.run(['timeout', '120', SNAKEMAKE, '--profile', 'workflow/profiles/slurm', '-n'] + args, cwd=repo,
                         env=dict(os.environ, PYTHONPATH=repo), capture_output=True, text=True)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert '--rdzv_backend c10d' in dry.stdout and 'srun --ntasks-per-node=1' in dry.stdout, dry.stdout[-3000:]
    assert '--nnodes 2' in dry.stdout, dry.stdout[-3000:]
    log_path = str(tmp_path / 'snakemake.log')
    since = _last_job_id()
    proc = _start_snakemake(repo, args, log_path, limit_s=300)
    try:
        comment = 'rule_train_wildcards_%s' % row.id
        jobs = _wait_for(lambda: _jobs_by_comment(repo, since).get(comment), 120, 'the training job in squeue',
                         proc, log_path)
        job = _scontrol(jobs[0][0])
        print('\n2 nodes asks: NumNodes=%s NumTasks=%s NtasksPerN:B:S:C=%s TresPerNode=%s'
              % (job['NumNodes'], job['NumTasks'], job.get('NtasksPerN:B:S:C'), job.get('TresPerNode')))
        assert job['NumNodes'] in ('2', '2-2') and job['NumTasks'] == '2', job
        assert job.get('TresPerNode') == 'gres:gpu:8', job
        assert 'NtasksPerTRES' not in job, job
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        # After Ctrl-C this pending job was left in the queue twice: the executor interface empties its list of
        # active jobs during each status check, and the cancellation reads that list (docs/slurm.md). Printed,
        # and cancelled below so that it does not outlive the test.
        print('after Ctrl-C the 2-node job is %s' % _jobs_by_comment(repo, since).get(comment))
    finally:
        _stop(proc)
        for job_id, state in _jobs_by_comment(repo, since).get('rule_train_wildcards_%s' % row.id, []):
            if state in ('PENDING', 'RUNNING'):
                subprocess.run(['scancel', job_id], capture_output=True)


SMOKE_ROWS = ['cmrcn_r50_mssa_adp_1x', 'cmrcn_r50_sumup_1x', 'cmrcn_r50_msca_1x']


def _smoke_config(path, rows):
    """Smoke scale, the fewest images and epochs that leave a checkpoint to cancel after (set here, explicitly)."""
    config = {'scale': 'smoke', 'rows': rows, 'testdev': False, 'smoke_epochs': 3,
              'data': {'source': 'synthetic', 'root': 'data/synthetic',
                       'synthetic': {'train': 16, 'val': 4, 'test': 2, 'height': 128, 'width': 160, 'seed': 0}},
              'resources': {'threads': 1, 'mem_mb': 3000, 'runtime_min': {'12e': 30, '36e': 30}},
              'slurm': {'partition': '', 'cpu_partition': '', 'account': ''}}
    with open(path, 'w') as f:
        yaml.safe_dump(config, f)


def _train_jobs_in(output):
    """The rows whose training Snakemake submitted (the plugin's 'submitted with SLURM jobid' lines)."""
    return sorted(set(re.findall(r'submitted with SLURM jobid \d+ \(log: \S+/rule_train/(\S+)/\d+\.log\)', output)))


@pytest.mark.slow
@pytest.mark.timeout(1800)   # minutes on 2 shared cores; bounded inside by `timeout` on each Snakemake run
def test_smoke_dag_through_slurm_cancel_resume_failure_and_rerun(slurm_cluster, tmp_path):
    cancelled, finished, broken = SMOKE_ROWS
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    # A broken config for one row: its training fails at once; the others must not care.
    with open(os.path.join(repo, ZOO.row(broken)['config']), 'w') as f:
        f.write("_base_ = './no_such_base_config.py'\n")
    _smoke_config(os.path.join(repo, 'slurm_test.yaml'), SMOKE_ROWS)
    # the tables of an earlier run in the checkout (results/ is not committed): a failed run must leave them
    summary = os.path.join('results', 'smoke', layout.TABLE_FILES['summary'])
    from afa.cli import main
    os.makedirs(str(tmp_path / 'no runs'))
    assert main(['tables', '--scale', 'smoke', '--runs', str(tmp_path / 'no runs'),
                 '--out', os.path.dirname(os.path.join(repo, summary)), '--no-figure']) == 0
    earlier = open(os.path.join(repo, summary)).read()
    args = ['--configfile', 'slurm_test.yaml', '--slurm-init-seconds-before-status-checks', '2']
    log_path = str(tmp_path / 'run1.log')
    t0 = time.time()
    since = _last_job_id()
    proc = _start_snakemake(repo, args, log_path, limit_s=1200)
    try:
        run_dir = os.path.join(repo, 'runs', 'smoke', cancelled)
        # latest.pth is linked after a checkpoint is completely written.
        _wait_for(lambda: os.path.exists(os.path.join(run_dir, layout.LATEST_CHECKPOINT)), 900,
                  'the first checkpoint of %s' % cancelled, proc, log_path)
        (job_id, _), = _jobs_by_comment(repo, since, 'running')['rule_train_wildcards_%s' % cancelled]
        subprocess.check_call(['scancel', job_id])
        t_cancel = time.time()
        pattern = "SLURM-job '%s' failed, SLURM status is: 'CANCELLED'" % job_id
        _wait_for(lambda: pattern in open(log_path).read(), 300, 'Snakemake to notice the scancel', proc, log_path)
        detect_s = time.time() - t_cancel
        proc.wait(timeout=1200)
    finally:
        _stop(proc)
    dag_s = time.time() - t0
    output = open(log_path).read()
    print('\nscancel of %s noticed by Snakemake in %.1f s; 3-row smoke DAG through SLURM: %.0f s'
          % (cancelled, detect_s, dag_s))
    assert proc.returncode == 1, output[-5000:]   # the broken row failed
    # The cancelled job was resubmitted (retries: 1 in the profile) and resumed from its checkpoint.
    train_log = open(os.path.join(repo, 'logs', 'smoke', 'train', '%s.log' % cancelled)).read()
    assert re.search(r'resuming %s from \S+epoch_\d+(_iter_\d+)?\.pth' % cancelled, train_log), train_log[-3000:]
    # scancel sends the SIGTERM of a preemption: the trainer checkpoints, but a cancelled job is not requeued
    # (Snakemake starts the retry with a fresh log); the retry is a new job that continues the run
    records = segments.read(os.path.join(repo, 'runs', 'smoke', cancelled))
    assert [r['outcome'] for r in records] == ['continue', 'finished'], records
    assert records[0]['signal'] == 'SIGTERM' and records[0]['slurm_job_id'] != records[1]['slurm_job_id'], records
    assert 'JobId=' in train_log and 'Partition=cpu' in train_log   # what the scheduler granted, in the log
    for row in (cancelled, finished):
        assert os.path.exists(os.path.join(repo, 'runs', 'smoke', row, layout.METRICS_FILE)), output[-5000:]
    assert not os.path.exists(os.path.join(repo, 'runs', 'smoke', broken, layout.METRICS_FILE))
    assert 'no_such_base_config' in open(os.path.join(repo, 'logs', 'smoke', 'train', '%s.log' % broken)).read()
    # A failed run leaves the last complete tables (here the earlier run's) as they were, and says so.
    assert open(os.path.join(repo, summary)).read() == earlier
    assert 'the tables were not regenerated' in output, output[-3000:]
    # The scheduler's records: every training job of this run, with its final state.
    jobs = _jobs_by_comment(repo, since)
    states = {row: [s for _, s in jobs.get('rule_train_wildcards_%s' % row, [])] for row in SMOKE_ROWS}
    print('train jobs in squeue: %s' % states)
    assert sorted(states[cancelled]) == ['CANCELLED', 'COMPLETED']
    assert states[finished] == ['COMPLETED']
    assert states[broken] == ['FAILED', 'FAILED']
    assert _train_jobs_in(output) == sorted(SMOKE_ROWS)

    # The rerun submits the broken row again and nothing else: finished rows are not retrained.
    log2 = str(tmp_path / 'run2.log')
    proc = _start_snakemake(repo, args, log2, limit_s=600)
    try:
        proc.wait(timeout=700)
    finally:
        _stop(proc)
    output2 = open(log2).read()
    assert proc.returncode == 1, output2[-5000:]
    assert _train_jobs_in(output2) == [broken], output2[-5000:]


@pytest.mark.slow
def test_an_account_the_cluster_cannot_confirm_stops_the_run_at_once(slurm_cluster, tmp_path):
    """The plugin checks the account inside its submission thread, where the error is lost and Snakemake waits
    forever; the workflow checks it with sacctmgr first (the test cluster has no accounting: nothing to confirm)."""
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    _smoke_config(os.path.join(repo, 'slurm_test.yaml'), SMOKE_ROWS[:1])
    log_path = str(tmp_path / 'snakemake.log')
    t0 = time.time()
    proc = _start_snakemake(repo, ['--configfile', 'slurm_test.yaml', '--config', 'slurm={account: proj42}'],
                            log_path, limit_s=120)
    try:
        proc.wait(timeout=180)
    finally:
        _stop(proc)
    output = open(log_path).read()
    print('\nbad account stopped the run in %.1f s' % (time.time() - t0))
    assert proc.returncode == 1, output[-3000:]
    assert "config slurm.account='proj42'" in output and 'sacctmgr' in output, output[-3000:]
    assert 'submitted with SLURM jobid' not in output

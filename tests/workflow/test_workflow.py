"""The Snakemake DAG: dry runs of the coco and slurm profiles, config validation, the linter, and (slow) paths with
spaces and the smoke DAG. A failed run that keeps its tables: tests/faults/test_overwrite.py."""
import json
import os
import re
import subprocess
import sys
import threading

import pytest
import yaml

from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.reporting.curves import read_val_ap
from afa.runs.smoke import BOX_AP_FLOORS
from afa.training.alarm.reference import SUM_UP, sum_up_row
from conftest import copy_checkout

REPO = zoo_mod.REPO_ROOT
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), 'snakemake')
ZOO = zoo_mod.load()
SMOKE_CONFIG = '.test/config/config.yaml'  # the smoke profile's config file
pytestmark = pytest.mark.orchestrator  # Snakemake lives in the orchestrator environment


def snakemake(*args, cwd=REPO, timeout=300):
    return subprocess.run([SNAKEMAKE] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def what_failed(output, tail=3000):
    """A failed Snakemake run's story for an assertion message: each failed job's error block with the start of its
    log (the profiles show failed logs), then the output's end. With keep-going the first failure is often far
    above the last lines, which only say that one job failed."""
    errors = [output[m.start():m.start() + 4000] for m in re.finditer(r'^Error in rule ', output, re.M)]
    return '\n[...]\n'.join(errors + [output[-tail:]])


def job_counts(output):
    """{rule: count} from Snakemake's 'Job stats' table."""
    table = output.split('Job stats:')[1].split('\n\n')[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+)\s+(\d+)$', table, re.M)}


def jobs(output, rule):
    """The dry-run blocks of one rule."""
    return [block for block in output.split('\n\n') if re.search(r'^rule %s:' % rule, block, re.M)]


def every_row_jobs(data_rule):
    """The job counts of a DAG of every row: its data rule, the 3 backbone files, 3 jobs a row, tables, curves."""
    rows = len(ZOO)
    return {data_rule: 1, 'pretrained': 3, 'train': rows, 'evaluate': rows, 'testdev': rows, 'tables': 1,
            'curves': 1, 'all': 1, 'total': 3 * rows + 7}


def test_coco_profile_dry_run_has_the_expected_jobs():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n')
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == every_row_jobs('data_coco')
    done = re.escape(layout.done_path(layout.run_dir(layout.RUNS_ROOT, 'paper', 'RUN'))).replace('RUN', r'(\S+)')
    trained = sorted(re.search(done, b).group(1) for b in jobs(result.stdout, 'train'))
    assert trained == sorted(ZOO.ids())
    # References first (the early alarm's Sum-Up runs before the AFA rows compared with them; dry runs print a
    # priority other than 0)
    priority = {re.search(done, b).group(1): int(re.search(r'priority: (\d+)', b).group(1))
                for b in jobs(result.stdout, 'train')}
    assert priority == {row: 2 if ZOO.row(row)['module'] == SUM_UP else 1 for row in ZOO.ids()}


def test_one_table_and_named_rows_select_their_jobs():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '--config', 'tables=[3x]')
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)['train'] == 4
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '--config',
                       'rows=[cmrcn_r50_mssa_adp_3x+release_steps]')
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)['train'] == 1
    train = [line for line in result.stdout.splitlines() if 'afa.cli train cmrcn_r50_mssa_adp_3x+release_steps' in line]
    assert train and all(' --validate' in line for line in train), train  # config validate: true


def test_slurm_profile_assigns_gpus_and_runtime():
    result = snakemake('--profile', 'workflow/profiles/slurm', '-n', '--config', 'slurm={partition: gpu}')
    assert result.returncode == 0, result.stderr[-3000:]
    blocks = jobs(result.stdout, 'train')
    assert len(blocks) == len(ZOO)
    for block in blocks:
        assert re.search(r'resources: .*\bgpu=8\b', block), block
        assert 'slurm_partition=gpu' in block and '--gpus 8' in block
        assert re.search(r'\bnodes=1\b', block) and re.search(r'\btasks_per_gpu=0\b', block)  # one task, one node
        runtime = int(re.search(r'\bruntime=(\d+)', block).group(1))
        assert runtime == (8640 if '_3x' in block else 2880)
    for block in jobs(result.stdout, 'evaluate'):
        assert re.search(r'\bgpu=1\b', block)


@pytest.mark.parametrize('override, message', [
    ('scale=huge', 'scale'),
    ('precision=fp8', 'precision'),
    ('smoke_epochs=0', 'smoke_epochs'),
])
def test_schema_names_the_bad_field(override, message):
    result = snakemake('-n', '--config', override)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_snakefile_is_where_snakemake_looks_and_the_smoke_config_is_the_test_config():
    assert os.path.isfile(os.path.join(REPO, 'workflow', 'Snakefile'))
    assert not os.path.exists(os.path.join(REPO, 'Snakefile'))
    smoke = open(os.path.join(REPO, 'workflow', 'profiles', 'smoke', 'config.yaml')).read()
    assert re.search(r'^configfile: \.test/config/config\.yaml$', smoke, re.M)
    result = snakemake('-n')  # no profile: config/config.yaml, the real COCO run
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)['train'] == len(ZOO) and 'data_coco' in job_counts(result.stdout)


def test_schema_is_a_draft_snakemake_validates_and_describes_every_key():
    import yaml
    from jsonschema import Draft202012Validator
    schema = yaml.safe_load(open(os.path.join(REPO, 'workflow', 'schemas', 'config.schema.yaml')))
    assert schema['$schema'] == Draft202012Validator.META_SCHEMA['$schema']  # what snakemake.utils.validate uses
    Draft202012Validator.check_schema(schema)
    undescribed = []

    def walk(node, where):
        for key, sub in node.get('properties', {}).items():
            if 'description' not in sub:
                undescribed.append(where + key)
            walk(sub, where + key + '.')
    walk(schema, '')
    assert not undescribed, 'schema keys without a description: %s' % undescribed
    result = snakemake('--profile', 'workflow/profiles/smoke', '-n')
    assert result.returncode == 0 and 'may not be validated' not in result.stdout + result.stderr


def test_lint_is_clean():
    for profile in ('smoke', 'coco'):
        result = snakemake('--lint', '--profile', 'workflow/profiles/' + profile)
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        assert 'Congratulations, your workflow is in a good condition' in result.stdout + result.stderr


def test_every_rule_logs_under_logs_and_training_and_evaluation_record_their_cost():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '--config', 'release=True')
    assert result.returncode == 0, result.stderr[-3000:]
    for block in result.stdout.split('\n\n'):
        rule = re.search(r'^(?:local)?rule (\w+):', block, re.M)
        if not rule or rule.group(1) == 'all':
            continue
        log = re.search(r'^\s+log: (\S+)', block, re.M)
        assert log and log.group(1).startswith('logs/paper/'), block
    counts = job_counts(result.stdout)
    assert counts['release_fetch'] > 0 and counts['release_evaluate'] > 0
    for rule in ('train', 'evaluate'):
        text = open(os.path.join(REPO, 'workflow', 'rules', '%s.smk' % rule)).read()
        assert re.search(r'rule %s:(?:\n    .*|\n)*?\n    benchmark:' % rule, text), rule


def config_file(tmp_path, **values):
    """A config file merged over the smoke config (typed values: --config passes nested ones as strings)."""
    import yaml
    path = str(tmp_path / 'extra config.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(values, f)
    return path


@pytest.mark.slow
def test_paths_with_spaces_run_through_every_stage(tmp_path):
    """One row, one epoch on a tiny dataset, with the checkout, the data, the runs and the results under folders
    whose names hold spaces: every shell command quotes its paths."""
    repo = str(tmp_path / 'the repo')
    copy_checkout(repo)
    extra = config_file(tmp_path, rows=['cmrcn_r50_sumup_1x'], smoke_epochs=1, runs_root='my runs',
                        results_root='my results', data={
                            'source': 'synthetic', 'root': 'my data/syn thetic',
                            'synthetic': {'train': 4, 'val': 2, 'test': 2, 'height': 64, 'width': 64, 'seed': 0}})
    args = ['--profile', 'workflow/profiles/smoke', '--configfile', SMOKE_CONFIG, extra]
    result = snakemake(*args, cwd=repo, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, what_failed(output)
    run = layout.run_dir(os.path.join(repo, 'my runs'), 'smoke', 'cmrcn_r50_sumup_1x')
    assert os.path.exists(layout.metrics_path(run)) and os.path.exists(layout.testdev_manifest(run))
    results = layout.results_dir(os.path.join(repo, 'my results'), 'smoke')
    for name in list(layout.TABLE_FILES.values()) + [layout.CURVES_FILE]:
        assert os.path.getsize(os.path.join(results, name)) > 0
    assert os.path.exists(os.path.join(repo, 'my data', 'syn thetic', layout.SYNTHETIC_MARKER))
    assert os.path.getsize(os.path.join(repo, 'logs', 'smoke', 'train', 'cmrcn_r50_sumup_1x.log')) > 0
    assert os.path.exists(os.path.join(repo, 'logs', 'smoke', 'benchmark', 'train', 'cmrcn_r50_sumup_1x.tsv'))
    # The workflow log says what it will do and where the results are.
    assert re.search(r'to train and evaluate \(1\): cmrcn_r50_sumup_1x', output), output[-3000:]
    assert 'tables, figures and curves in my results/smoke' in output
    assert "Run states: afa status --scale smoke --runs-root 'my runs'" in output
    states = subprocess.run([sys.executable, '-m', 'afa.cli', 'status', '--scale', 'smoke', '--runs-root', 'my runs',
                             '--rows', 'cmrcn_r50_sumup_1x', '--json'], cwd=repo, capture_output=True, text=True)
    record, = json.loads(states.stdout)
    assert record['state'] == 'done' and record['box_ap'] is not None, states.stderr[-2000:]
    again = snakemake(*(args + ['-n']), cwd=repo)
    assert 'Nothing to be done' in again.stdout + again.stderr


def test_unknown_row_is_caught_before_anything_runs():
    result = snakemake('-n', '--config', 'rows=[cmrcn_r50_msa_1x]')
    assert result.returncode != 0 and 'did you mean cmrcn_r50_mssa_1x' in result.stdout + result.stderr


def test_scale_and_data_source_must_agree():
    result = snakemake('--profile', 'workflow/profiles/smoke', '-n', '--config', 'scale=paper')
    assert result.returncode != 0 and 'needs data.source' in result.stdout + result.stderr


class StatusWatcher(threading.Thread):
    """`afa status --json` every few seconds while a DAG runs, as a user watching it would: the states seen."""

    def __init__(self, repo, every_s=8.0):
        super().__init__(daemon=True)
        self.repo, self.every_s, self.stop, self.seen = repo, every_s, threading.Event(), []

    def run(self):
        while not self.stop.wait(self.every_s):
            out = subprocess.run([sys.executable, '-m', 'afa.cli', 'status', '--scale', 'smoke', '--runs-root',
                                  layout.RUNS_ROOT, '--json'], cwd=self.repo,
                                 capture_output=True, text=True)
            if out.returncode == 0:
                self.seen.extend(json.loads(out.stdout))
            else:
                self.seen.append(dict(run='?', state='error', note=out.stderr[-500:]))


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 10 minutes on 2 cores; the longest test, started first (tests/conftest.py)
def test_smoke_dag_runs_end_to_end_and_reruns_do_nothing(tmp_path):
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    watcher = StatusWatcher(repo)
    watcher.start()
    try:
        result = snakemake('--profile', 'workflow/profiles/smoke', cwd=repo, timeout=3600)
    finally:
        watcher.stop.set()
        watcher.join(60)
    assert result.returncode == 0, what_failed(result.stdout + result.stderr)
    # What a user watching the DAG saw: runs training with their progress, and never a failed or stalled one.
    training = [s for s in watcher.seen if s['state'] == 'training']
    assert training and any(s['iter'] is not None and s['img_per_s'] for s in training), watcher.seen[-20:]
    wrong = [s for s in watcher.seen if s['state'] in ('failed', 'stalled', 'error')]
    assert not wrong, wrong[:5]
    print('\nafa status during the DAG: %d polls of %d runs, states seen: %s' % (
        len(watcher.seen) // len(ZOO), len(ZOO), sorted({s['state'] for s in watcher.seen})))
    results = layout.results_dir(os.path.join(repo, layout.RESULTS_ROOT), 'smoke')
    tables = open(os.path.join(results, layout.TABLE_FILES['tables'])).read()
    assert 'not run yet' not in tables
    box_ap = {}
    with open(os.path.join(REPO, SMOKE_CONFIG)) as f:
        epochs = yaml.safe_load(f)['smoke_epochs']
    for row in ZOO:
        run = layout.run_dir(os.path.join(repo, layout.RUNS_ROOT), 'smoke', row.id)
        with open(layout.metrics_path(run)) as f:
            box_ap[row.id] = json.load(f)['bbox']['AP']
        assert os.path.exists(layout.testdev_manifest(run))
        # every run validated after each epoch (the curves' AP panels), and the early alarm ran where the smoke
        # scale has a reference: an AFA row of a backbone and schedule with a Sum-Up row
        assert [epoch for epoch, _ in read_val_ap(run)] == list(range(1, epochs + 1)), row.id
        if row['module'] != 'Sum-Up' and sum_up_row(ZOO, row) is not None:
            with open(layout.alarm_path(run)) as f:
                assert 'checks' in json.load(f), row.id
    # The smoke scale learns: a broken evaluation or label mapping (AP near 0) fails here.
    below = {r.id: ap for r in ZOO for ap in [box_ap[r.id]] if ap < BOX_AP_FLOORS[r['model']]}
    assert not below, 'box AP under the smoke floors %s: %s' % (BOX_AP_FLOORS, below)
    for name in list(layout.TABLE_FILES.values()) + [layout.CURVES_FILE]:
        assert os.path.getsize(os.path.join(results, name)) > 0
    again = snakemake('--profile', 'workflow/profiles/smoke', cwd=repo)
    assert again.returncode == 0 and 'Nothing to be done' in again.stdout + again.stderr
    report = snakemake('--profile', 'workflow/profiles/smoke', '--report', 'report.html', cwd=repo)
    assert report.returncode == 0 and os.path.getsize(os.path.join(repo, 'report.html')) > 100000

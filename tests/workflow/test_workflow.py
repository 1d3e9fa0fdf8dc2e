"""The Snakemake DAG: dry runs of the coco and slurm profiles, config validation, and (slow) the smoke DAG."""
import json
import os
import re
import subprocess
import sys

import pytest

from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.runs.smoke import BOX_AP_FLOORS
from conftest import copy_checkout

REPO = zoo_mod.REPO_ROOT
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), 'snakemake')
ZOO = zoo_mod.load()
pytestmark = pytest.mark.orchestrator  # Snakemake lives in the orchestrator environment


def snakemake(*args, cwd=REPO, timeout=300):
    return subprocess.run([SNAKEMAKE] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_counts(output):
    """{rule: count} from Snakemake's 'Job stats' table."""
    table = output.split('Job stats:')[1].split('\n\n')[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+)\s+(\d+)$', table, re.M)}


def jobs(output, rule):
    """The dry-run blocks of one rule."""
    return [block for block in output.split('\n\n') if re.search(r'^rule %s:' % rule, block, re.M)]


def test_coco_profile_dry_run_has_the_expected_jobs():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n')
    assert result.returncode == 0, result.stderr[-3000:]
    rows = len(ZOO)
    assert job_counts(result.stdout) == {
        'data_coco': 1, 'pretrained': 3, 'train': rows, 'evaluate': rows, 'testdev': rows, 'tables': 1,
        'curves': 1, 'all': 1, 'total': 3 * rows + 7}
    done = re.escape(layout.done_path(layout.run_dir(layout.RUNS_ROOT, 'paper', 'RUN'))).replace('RUN', r'(\S+)')
    trained = sorted(re.search(done, b).group(1) for b in jobs(result.stdout, 'train'))
    assert trained == sorted(ZOO.ids())


def test_one_table_and_named_rows_select_their_jobs():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '--config', 'tables=[3x]')
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)['train'] == 4
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '--config',
                       'rows=[cmrcn_r50_mssa_adp_3x+release_steps]')
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)['train'] == 1
    assert 'afa.cli train cmrcn_r50_mssa_adp_3x+release_steps' in result.stdout


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


def test_unknown_row_is_caught_before_anything_runs():
    result = snakemake('-n', '--config', 'rows=[cmrcn_r50_msa_1x]')
    assert result.returncode != 0 and 'did you mean cmrcn_r50_mssa_1x' in result.stdout + result.stderr


def test_scale_and_data_source_must_agree():
    result = snakemake('-n', '--config', 'scale=paper')
    assert result.returncode != 0 and 'needs data.source' in result.stdout + result.stderr


@pytest.mark.slow
def test_smoke_dag_runs_end_to_end_and_reruns_do_nothing(tmp_path):
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    result = snakemake('--profile', 'workflow/profiles/smoke', cwd=repo, timeout=3600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    results = layout.results_dir(os.path.join(repo, layout.RESULTS_ROOT), 'smoke')
    tables = open(os.path.join(results, layout.TABLE_FILES['tables'])).read()
    assert 'not run yet' not in tables
    box_ap = {}
    for row in ZOO:
        run = layout.run_dir(os.path.join(repo, layout.RUNS_ROOT), 'smoke', row.id)
        with open(layout.metrics_path(run)) as f:
            box_ap[row.id] = json.load(f)['bbox']['AP']
        assert os.path.exists(layout.testdev_manifest(run))
    # The smoke scale learns: a broken evaluation or label mapping (AP near 0) fails here.
    below = {r.id: ap for r in ZOO for ap in [box_ap[r.id]] if ap < BOX_AP_FLOORS[r['model']]}
    assert not below, 'box AP under the smoke floors %s: %s' % (BOX_AP_FLOORS, below)
    for name in list(layout.TABLE_FILES.values()) + [layout.CURVES_FILE]:
        assert os.path.getsize(os.path.join(results, name)) > 0
    again = snakemake('--profile', 'workflow/profiles/smoke', cwd=repo)
    assert again.returncode == 0 and 'Nothing to be done' in again.stdout + again.stderr
    report = snakemake('--profile', 'workflow/profiles/smoke', '--report', 'report.html', cwd=repo)
    assert report.returncode == 0 and os.path.getsize(os.path.join(repo, 'report.html')) > 100000

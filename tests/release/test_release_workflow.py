"""The optional workflow target for the authors' released weights: dry runs of the coco profile."""
import os
import re
import subprocess
import sys

import pytest

from afa.runs import layout
from afa.runs import zoo as zoo_mod

REPO = zoo_mod.REPO_ROOT
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), 'snakemake')
ZOO = zoo_mod.load()
pytestmark = pytest.mark.orchestrator  # Snakemake lives in the orchestrator environment


def snakemake(*args):
    return subprocess.run([SNAKEMAKE] + list(args), cwd=REPO, capture_output=True, text=True, timeout=300)


def job_counts(output):
    table = output.split('Job stats:')[1].split('\n\n')[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+)\s+(\d+)$', table, re.M)}


def test_release_true_evaluates_every_released_row_beside_the_runs():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '-p', '--config', 'release=True',
                       'release_dir=/mnt/release')
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    released = sorted(r.id for r in ZOO if r.get('release'))
    assert counts['release_fetch'] == counts['release_evaluate'] == len(released) and counts['train'] == len(ZOO)
    evaluated = sorted(re.findall(r'afa\.cli test (\S+) /mnt/release/(\S+)/%s ' % re.escape(layout.RELEASE_MARKER),
                                  result.stdout))
    assert evaluated == [(r, r) for r in released]
    outputs = set(re.findall(r'output: runs/paper/(\w+)/%s' % re.escape(layout.RELEASED_METRICS_FILE),
                             result.stdout))
    assert sorted(outputs) == released  # beside each row's own metrics.json, never in its place


def test_released_target_alone_needs_no_training_and_skips_rows_without_weights():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n', '--config',
                       'rows=[cmrcn_r50_mssa_adp_1x,cmrcn_r50_sumup_1x,cmrcn_r50_mssa_adp_3x+sgd]', '--', 'released')
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts.get('train', 0) == 0 and counts['release_evaluate'] == 1 and counts['released'] == 1
    assert 'data release cmrcn_r50_mssa_adp_1x --dir data/release' in result.stdout


def test_default_config_runs_no_release_job_and_smoke_refuses_release():
    result = snakemake('--profile', 'workflow/profiles/coco', '-n')
    assert 'release_evaluate' not in job_counts(result.stdout)
    result = snakemake('--profile', 'workflow/profiles/smoke', '-n', '--config', 'release=True')
    assert result.returncode != 0 and 'it needs scale paper' in result.stdout + result.stderr

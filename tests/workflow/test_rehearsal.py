"""The rehearsal through the workflow: its jobs on this CPU (`make rehearsal`) and, by one config switch, on the
GPU node and SLURM profiles (dry runs); and (slow) a subset of rows from data to tables on CPU, covering each
model family, schedule kind, neck kind and backbone kind: every stage of the real path at full size."""
import json
import os
import re
import subprocess
import sys

import pytest

from afa.runs import layout, rehearsal
from afa.reporting.status import DONE
from afa.runs import zoo as zoo_mod
from afa.training.backbone_weights import HARMLESS_UNEXPECTED
from conftest import copy_checkout
from test_workflow import every_row_jobs, job_counts, jobs, snakemake, what_failed

ZOO = zoo_mod.load()
pytestmark = pytest.mark.orchestrator
# Three rows cover each model family (CMRCN, Deformable-DETR), schedule kind (12 epochs; 3x with RepeatDataset and
# the multi-scale pipeline), optimizer (SGD, AdamW) and neck kind (FPN, an AFA neck, whose early alarm compares
# with the Sum-Up run beside it). An X-101 row would triple the time: mmdet's ResNeXt naming is loaded through its
# row's init_cfg in tests/data/test_standin.py, and `make rehearsal` runs both X-101 rows end to end.
CI_ROWS = ['cmrcn_r50_sumup_3x', 'cmrcn_r50_mssa_adp_3x', 'ddetr_r50_1x']
AFA_ROW, ITS_SUM_UP = 'cmrcn_r50_mssa_adp_3x', 'cmrcn_r50_sumup_3x'


def test_make_rehearsal_runs_every_row_on_cpu_with_stand_ins_and_the_stop_drill():
    result = snakemake('--profile', 'workflow/profiles/rehearsal', '-n')
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout) == every_row_jobs('data_synthetic')
    for block in jobs(result.stdout, 'train'):
        assert '--rehearsal' in block and '--gpus 0' in block and '--pretrained-dir data/pretrained-rehearsal/' in block
        assert 'AFA_STOP_AFTER_ITER=%d' % rehearsal.STOP_AFTER_ITER in block, block
        assert os.path.join(layout.RUNS_ROOT, 'rehearsal') in block
    for block in jobs(result.stdout, 'pretrained'):
        assert 'data standin --dir data/pretrained-rehearsal/ --real-dir data/pretrained/' in block
    (block,) = jobs(result.stdout, 'data_synthetic')
    assert 'synthetic --root data/coco-like --coco-like --train %d' % rehearsal.TRAIN_IMAGES in block


@pytest.mark.parametrize('profile', ['coco', 'slurm'])
def test_the_gpu_node_and_slurm_rehearse_with_one_switch(profile):
    result = snakemake('--profile', 'workflow/profiles/' + profile, '-n', '--config', 'scale=rehearsal')
    assert result.returncode == 0, result.stderr[-3000:]
    blocks = jobs(result.stdout, 'train')
    assert len(blocks) == len(ZOO)
    for block in blocks:
        assert '--rehearsal' in block and '--gpus 1' in block and re.search(r'resources: .*\bgpu=1\b', block)
        if profile == 'slurm':
            assert int(re.search(r'\bruntime=(\d+)', block).group(1)) == rehearsal.JOB_MINUTES
    assert job_counts(result.stdout)['pretrained'] == 3


def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the three rows' full-size recipes: about 10 to 15 minutes on 2 shared cores
def test_rehearsal_of_a_subset_runs_from_data_to_tables(tmp_path):
    repo = str(tmp_path / 'repo')
    copy_checkout(repo)
    result = snakemake('--profile', 'workflow/profiles/rehearsal', '--config', 'rows=[%s]' % ','.join(CI_ROWS),
                       cwd=repo, timeout=3600)
    assert result.returncode == 0, what_failed(result.stdout + result.stderr)
    runs = layout.runs_dir(os.path.join(repo, layout.RUNS_ROOT), 'rehearsal')
    for row in CI_ROWS:
        run = os.path.join(runs, row)
        run_record, done = _read(os.path.join(run, layout.RUN_FILE)), _read(layout.done_path(run))
        metrics, manifest = _read(layout.metrics_path(run)), _read(layout.testdev_manifest(run))
        for record in (run_record, done, metrics, manifest):
            assert record['scale'] == 'rehearsal', row
        for record in (run_record, metrics, manifest):
            assert record['backbone_weights']['served'] == 'stand-in', row
        # The stop drill: a continuation checkpoint after the first step, then a resume that finished the run.
        segments = _read(layout.segments_path(run))
        assert [s['outcome'] for s in segments] == ['continue', 'finished'], segments
        assert segments[0]['iteration'] == rehearsal.STOP_AFTER_ITER and run_record['resumed_from']
        # The backbone loaded through the config's init_cfg: nothing missing, only torchvision's classifier extra.
        load = _read(layout.backbone_path(run))['load']
        assert load['missing'] == [] and load['mismatched'] == [] and load['values_equal']
        assert load['unexpected'] == sorted(HARMLESS_UNEXPECTED), row
        # Validation after the epoch, at full size, with the 80 categories; evaluation and test-dev of 2 images.
        assert metrics['dataset']['images'] == rehearsal.VAL_IMAGES and 0 <= metrics['bbox']['AP'] <= 100
        assert ('segm' in metrics and metrics['segm'] is not None) == row.startswith('cmrcn')
        assert set(manifest['archives']) == ({'bbox', 'segm'} if row.startswith('cmrcn') else {'bbox'})
        val_lines = [json.loads(line) for name in os.listdir(run) if name.endswith(layout.LOG_JSON_SUFFIX)
                     for line in open(os.path.join(run, name)) if '"mode": "val"' in line]
        assert val_lines and all('bbox_mAP' in line for line in val_lines), row
    # `afa status` reads the rehearsal's run folders as a real reproduction's: every run done, validated.
    states = subprocess.run([sys.executable, '-m', 'afa.cli', 'status', '--scale', 'rehearsal', '--runs-root',
                             layout.RUNS_ROOT, '--rows'] + CI_ROWS + ['--json'], cwd=repo, capture_output=True,
                            text=True)
    assert states.returncode == 0, states.stderr[-2000:]
    found = json.loads(states.stdout)
    assert [(s['run'], s['state'], s['val_epoch']) for s in found] == [(row, DONE, 1) for row in CI_ROWS], found
    # The early alarm of the AFA row followed its Sum-Up run, which the workflow trained first (its priority), so
    # the AFA run's epoch was compared when it was validated, none left waiting.
    alarm = _read(layout.alarm_path(os.path.join(runs, AFA_ROW)))
    assert alarm['reference'] == 'run:%s' % ITS_SUM_UP and alarm['lower_only'], alarm
    assert [c['epoch'] for c in alarm['checks']] == [1] and alarm['not_compared'] == [], alarm
    results = layout.results_dir(os.path.join(repo, layout.RESULTS_ROOT), 'rehearsal')
    tables = open(os.path.join(results, layout.TABLE_FILES['tables'])).read()
    assert 'Rehearsal results' in tables and 'Backbone weights: stand-in for %d runs' % len(CI_ROWS) in tables
    assert os.path.getsize(os.path.join(results, layout.CURVES_FILE)) > 0
    assert not os.path.exists(os.path.join(repo, layout.RUNS_ROOT, 'paper'))  # never mixed with real runs

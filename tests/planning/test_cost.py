"""The plan's cost (afa/planning/cost.py): arithmetic, `afa plan --probe` on this machine's CPU, and a finished
run's time compared with the estimate it was given."""
import json
import os
import subprocess
import sys

import pytest

from afa.planning import cost
from afa.runs import layout
from afa.utils.errors import AfaError


def test_estimate_segments_follow_the_time_limit_and_its_margin():
    e = cost.estimate(1.0, 12000, 8, limit_h=24, margin_h=1)
    assert e['iterations'] == 12000 and abs(e['wall_h'] - 12000 / 3600.0) < 1e-9
    assert abs(e['gpu_hours'] - 8 * e['wall_h']) < 1e-9 and e['segments'] == 1
    long_run = cost.estimate(0.9, 36 * 7330, 8, limit_h=24, margin_h=10 / 60.0)
    assert long_run['wall_h'] > 48 and long_run['segments'] == 3  # 66 h in 23.8 h pieces
    assert cost.estimate(0.9, 36 * 7330, 8)['segments'] == 1
    with pytest.raises(AfaError, match='leaves nothing'):
        cost.estimate(1.0, 100, 1, limit_h=0.1, margin_h=0.2)


@pytest.mark.slow
def test_plan_probe_prints_the_cost_of_two_rows_from_a_measurement(synthetic_root, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'afa.cli', 'plan', 'cmrcn_r50_msca_adp_1x', 'ddetr_r50_1x', '--smoke', '--gpus', '0',
           '--data-root', synthetic_root, '--runs-root', str(tmp_path), '--probe', '--probe-iters', '1',
           '--probe-warmup', '1', '--time-limit-h', '0.01', '--stop-margin-min', '0.1', '--record']
    result = subprocess.run(cmd + ['--json'], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    plan = json.loads(result.stdout)
    rows = plan['rows']
    assert [r['run_id'] for r in rows] == ['cmrcn_r50_msca_adp_1x', 'ddetr_r50_1x']
    for r in rows:
        assert r['probe']['train_s_per_iter'] > 0 and r['probe']['infer_s_per_img'] > 0
        assert r['iterations'] == r['total_iters'] == r['iters_per_epoch'] * r['max_epochs'] > 0
        assert r['wall_h'] == pytest.approx(r['s_per_iter'] * r['iterations'] / 3600.0)
        assert r['segments'] == -(-r['wall_h'] // (0.01 - 0.1 / 60))
        assert os.path.exists(os.path.join(str(tmp_path), 'smoke', r['run_id'], layout.ESTIMATE_FILE))
    assert plan['total']['gpu_hours'] == pytest.approx(sum(r['gpu_hours'] for r in rows))
    assert 'ideal data-parallel scaling' in plan['caveat']


def test_the_probed_model_is_initialised_as_training_initialises_it(synthetic_root):
    """Deformable-DETR's level embeddings are allocated uninitialised and set by init_weights: without it they held
    leftover memory (zeros in a fresh process, NaN in one probe of ten after another row's), and the Hungarian
    matcher failed on NaN costs."""
    import torch
    from afa.planning.probe import build_model
    from afa.runs.spec import RunSpec
    garbage = torch.full((4, 256), float('nan'))  # the embeddings' size: freed memory the allocator may hand out
    del garbage
    spec = RunSpec('ddetr_r50_1x', scale='smoke', data_root=synthetic_root)
    model = build_model(spec.build_config(), 'cpu')
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    level_embeds = model.bbox_head.transformer.level_embeds
    assert 0.5 < float(level_embeds.std()) < 1.5  # normal_(level_embeds): initialised, not zeros or leftovers


def test_a_finished_run_compares_its_time_with_the_estimate(tmp_path):
    from afa.planning import estimates
    from afa.runs import segments
    from afa.runs.folder import RunFolder
    from afa.training.train import time_against_estimate
    probed = dict(device='cpu', train_s_per_iter=0.5, infer_s_per_img=0.1)
    rows = [cost.with_cost(dict(run_id=run, total_iters=3600, processes=1), probed)
            for run in ('r1', 'r2')]
    done_folder = layout.run_dir(str(tmp_path), 'smoke', 'r2')
    os.makedirs(done_folder)
    open(layout.done_path(done_folder), 'w').close()
    written = estimates.write(rows, str(tmp_path), 'smoke')
    folder = layout.run_dir(str(tmp_path), 'smoke', 'r1')
    assert written == [layout.estimate_path(folder)]  # r2 is finished: its folder is not written to
    segments.begin(folder, 'r1', None)
    records = segments.read(folder)
    records[0].update(started='2026-01-01T00:00:00+0000', ended='2026-01-01T00:45:00+0000', outcome='finished')
    with open(layout.segments_path(folder), 'w') as f:
        json.dump(records, f)
    record = time_against_estimate(RunFolder(folder))
    assert record['segments'] == 1 and record['train_seconds'] == 2700
    assert record['time_vs_estimate']['estimated_wall_h'] == 0.5 and record['time_vs_estimate']['ratio'] == 1.5
    assert record['time_vs_estimate']['estimated_on'] == 'cpu'


def test_a_training_job_asks_for_the_estimate_with_its_margin(tmp_path):
    """What workflow/rules/slurm.smk asks SLURM for: the recorded estimate x 1.25 + 15 min, rounded up; no
    estimate (or an unusable one) leaves the choice to the schedule's runtime_min."""
    from afa.planning import estimates
    probed = dict(device='cuda', train_s_per_iter=0.9, infer_s_per_img=0.1)
    row = cost.with_cost(dict(run_id='r1', total_iters=7330 * 12, processes=8), probed)
    estimates.write([row], str(tmp_path), 'paper')
    folder = layout.run_dir(str(tmp_path), 'paper', 'r1')
    assert row['wall_h'] == pytest.approx(21.99)
    assert estimates.estimated_job_minutes(folder) == 1665  # ceil(21.99 h x 60 x 1.25 + 15) = ceil(1664.25)
    assert estimates.estimated_job_minutes(str(tmp_path / 'no-such-run')) is None
    for broken in ('{"wall_h": 0}', '{"wall_h": "12"}', '[1, 2]', '{"wall_h": tr'):
        with open(layout.estimate_path(folder), 'w') as f:
            f.write(broken)
        assert estimates.estimated_job_minutes(folder) is None, broken

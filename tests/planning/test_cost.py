"""The plan's arithmetic (afa/planning/cost.py) and a real probe of two rows' models on this machine's CPU."""
import json

import pytest

from afa.planning import cost


def test_paper_schedule_iterations_from_the_manifest():
    images = cost.train_images()
    assert images == 118287  # COCO train2017, as `afa data coco` verifies it
    total, per_epoch = cost.iterations(images, 12, 8, 2)
    assert per_epoch == 7393 and total == 12 * 7393  # 118287 / 16 rounded up


def test_estimate_segments_follow_the_time_limit_and_its_margin():
    e = cost.estimate(1.0, 16000, 12, 8, 2, limit_h=24, margin_h=1)
    assert e['iterations'] == 12000 and abs(e['wall_h'] - 12000 / 3600.0) < 1e-9
    assert abs(e['gpu_hours'] - 8 * e['wall_h']) < 1e-9 and e['segments'] == 1
    long_run = cost.estimate(0.9, cost.train_images(), 36, 8, 2, limit_h=24, margin_h=10 / 60.0)
    assert long_run['wall_h'] > 24 * 2 and long_run['segments'] == 3  # 66.5 h in 23.8 h pieces
    assert cost.estimate(0.9, cost.train_images(), 36, 8, 2)['segments'] == 1
    with pytest.raises(ValueError, match='leaves nothing'):
        cost.estimate(1.0, 100, 1, 1, 1, limit_h=0.1, margin_h=0.2)


@pytest.mark.slow
def test_plan_from_a_probe_of_two_rows(synthetic_root):
    from afa.planning.probe import probe
    from afa.runs.spec import RunSpec
    probes = [probe(RunSpec(row, scale='smoke', data_root=synthetic_root), iterations=1, warmup=1, device='cpu')
              for row in ('cmrcn_r50_msca_adp_1x', 'ddetr_r50_1x')]
    assert all(p['train_s_per_iter'] > 0 and p['infer_s_per_img'] > 0 for p in probes)
    plan = cost.plan_table(probes, gpus=8, limit_h=24, margin_h=0.25)
    assert [r['row'] for r in plan['rows']] == ['cmrcn_r50_msca_adp_1x', 'ddetr_r50_1x']
    assert plan['total']['gpu_hours'] == pytest.approx(sum(r['gpu_hours'] for r in plan['rows']))
    text = cost.format_table(plan)
    print('\n' + text)
    assert 'caveat:' in text and 'ddetr_r50_1x' in text
    json.dumps(plan)

"""The plan's arithmetic (afa/planning/cost.py) and a real probe of two rows' models on this machine's CPU."""
import json
import os

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


def test_a_finished_run_compares_its_time_with_the_estimate(tmp_path):
    from afa.planning import estimates
    from afa.runs import layout
    from afa.training import segments
    from afa.training.train import _time_against_estimate
    plan = cost.plan_table([dict(row='r1', train_s_per_iter=0.5, imgs_per_gpu=2, epochs=1, device='cpu'),
                            dict(row='r2', train_s_per_iter=0.5, imgs_per_gpu=2, epochs=1, device='cpu')],
                           gpus=1, images=7200)
    done_folder = layout.run_dir(str(tmp_path), 'smoke', 'r2')
    os.makedirs(done_folder)
    open(layout.done_path(done_folder), 'w').close()
    written = estimates.write(plan, str(tmp_path), 'smoke')
    assert written == [layout.estimate_path(layout.run_dir(str(tmp_path), 'smoke', 'r1'))]  # r2 is finished
    folder = layout.run_dir(str(tmp_path), 'smoke', 'r1')
    segments.begin(folder, 'r1', None)
    records = segments.read(folder)
    records[0].update(started='2026-01-01T00:00:00+0000', ended='2026-01-01T00:45:00+0000', outcome='finished')
    with open(layout.segments_path(folder), 'w') as f:
        json.dump(records, f)
    record = _time_against_estimate(folder)
    assert record['segments'] == 1 and record['train_seconds'] == 2700
    assert record['time_vs_estimate']['estimated_wall_h'] == 0.5 and record['time_vs_estimate']['ratio'] == 1.5

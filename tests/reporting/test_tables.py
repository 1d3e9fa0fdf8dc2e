"""`afa tables` on metrics files with the schema `afa test` writes (RunSpec.describe, provenance, pycocotools'
12 numbers): every kind of run id under its row, seeds pooled into mean +- std (n), the gain over Sum-Up with
its interval, the stacks, missing rows, the test-dev CSV, scale separation and bad input."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from afa.runs import layout
from afa.utils import provenance
from afa.runs import zoo as zoo_mod
from afa.cli import main
from afa.evaluation.coco_eval import STAT_NAMES, evaluate
from afa.runs.spec import RunSpec
from afa.reporting.tables import write_tables

ZOO = zoo_mod.load()
TORCH_19 = {'torch': '1.9.0', 'mmcv': '1.3.11', 'mmdet': '2.16.0'}


def metrics(run_id, box, mask=None, scale='paper', versions=None, n_images=5000, trained_on=None):
    """The metrics file `afa test` writes for ``run_id``, with the given box (and mask) numbers: a dict of
    pycocotools' 12 numbers, or an AP alone (the others derived from it); ``trained_on``: a BatchPlan."""
    run = layout.parse_run_id(run_id)
    spec = RunSpec(run.target, zoo=ZOO, scale=scale, precision=run.precision, seed=run.seed, batch=run.batch)
    assert spec.run_id == run_id
    stats = lambda v: v if isinstance(v, dict) else {n: v + (20 if n == 'AP50' else 0) for n in STAT_NAMES}  # noqa
    record = provenance.record()
    record['versions'] = dict(versions or TORCH_19)
    return dict(spec.describe(), config_sha256='0' * 64, checkpoint='epoch_12.pth', checkpoint_sha256='1' * 64,
                unit='percent', bbox=stats(box), segm=stats(mask) if mask is not None else None,
                dataset={'root': spec.data_root, 'ann_file': spec.data_root + 'annotations/instances_val2017.json',
                         'images': n_images}, provenance=record,
                training_layout=dict(trained_on.as_record('cuda'), batch=spec.batch,
                                     recipe_batch=spec.batch == spec.recipe_batch) if trained_on else None)


def write_run(runs, payload):
    folder = os.path.join(str(runs), payload['run_id'])
    os.makedirs(folder, exist_ok=True)
    with open(layout.metrics_path(folder), 'w') as f:
        json.dump(payload, f)


@pytest.fixture(scope='module')
def coco_numbers(synthetic_root):
    """Real pycocotools numbers of detections made from the synthetic val ground truth, boxes shifted by a
    fraction of their width: {shift: (bbox stats, segm stats)}; more shift, lower AP."""
    from pycocotools.coco import COCO
    from coco_results import ground_truth_as_results
    gt = COCO(os.path.join(synthetic_root, 'annotations', 'instances_val2017.json'))
    numbers = {}
    for shift in (0.0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.24):
        boxes = ground_truth_as_results(gt, 'bbox')
        for r in boxes:
            r['bbox'][0] += r['bbox'][2] * shift
        numbers[shift] = (evaluate(gt, boxes, 'bbox'), evaluate(gt, ground_truth_as_results(gt, 'segm'), 'segm'))
    assert len({round(b['AP'], 3) for b, _ in numbers.values()}) >= 5  # the shifts do change the AP
    return numbers


def run_tables(runs, out, scale='paper'):
    assert main(['tables', '--scale', scale, '--runs', str(runs), '--out', str(out)]) == 0
    return (open(os.path.join(str(out), layout.TABLE_FILES['tables'])).read(),
            pd.read_csv(os.path.join(str(out), layout.TABLE_FILES['summary'])),
            pd.read_csv(os.path.join(str(out), layout.TABLE_FILES['gains'])))


def table_lines(text, module, backbone, schedule_title):
    """The markdown lines of one row (module, backbone) in the table whose title starts with schedule_title."""
    section = text.split('## ' + schedule_title, 1)[1].split('\n## ', 1)[0]
    return [text for text in section.splitlines() if text.startswith('| CMRCN | %s | %s |' % (module, backbone))]


def test_tables_show_paper_reproduced_delta_and_missing_rows(tmp_path):
    runs = tmp_path / 'runs'
    write_run(runs, metrics('cmrcn_r50_mssa_adp_1x', 42.5, 37.9))
    write_run(runs, metrics('ddetr_r50_1x', 38.1))
    csv = tmp_path / 'testdev.csv'
    csv.write_text('run_id,box_ap,mask_ap\ncmrcn_r50_mssa_adp_1x,43.1,38.4\n')
    outputs, frame = write_tables(str(runs), str(tmp_path / 'out'), 'paper', testdev_csv=str(csv), zoo=ZOO)
    text = open(outputs['tables']).read()
    assert '| CMRCN | MSSA-Adp | ResNet-50 | default, seed 0 [A] | 43.0 / 42.5 (-0.5) | 38.2 / 37.9 (-0.3) | ' \
           '43.3 / 43.1 (-0.2) | 38.7 / 38.4 (-0.3) | +1.8 / cmrcn_r50_sumup_1x (default) not run yet | ' \
           'cmrcn_r50_sumup_adamw_1x (default) not run yet |' in text
    assert '| Deformable-DETR | - | ResNet-50 | default, seed 0 [A] | 37.6 / 38.1 (+0.5) | - / - |' in text
    assert '| CMRCN | Sum-Up | ResNet-50 | default | 41.2 / not run yet |' in text
    assert '| CMRCN | MSSA | ResNet-50 | default | 43.3 / not run yet |' in text
    assert '38.0 / not submitted |' in text  # DDETR evaluated on val, no server score yet
    assert 'Provenance (2 runs)' in text and '- stack [A]: torch 1.9.0, mmcv 1.3.11, mmdet 2.16.0' in text
    assert 'Provenance: no run of this table has finished yet.' in text  # the 3x table
    for figure in ('figure', 'gains_figure'):
        assert os.path.getsize(outputs[figure]) > 10000
    row = frame.set_index('run_id').loc['cmrcn_r50_mssa_adp_1x']
    assert row['delta_box_val'] == pytest.approx(-0.5) and row['ours_mask_testdev'] == pytest.approx(38.4)


@pytest.mark.parametrize('run_id, module, backbone, table, line', [
    ('cmrcn_r50_mssa_adp_3x+release_steps', 'MSSA-Adp', 'ResNet-50', '3x', '+release_steps'),
    ('cmrcn_r50_sumup_1x@mixed', 'Sum-Up', 'ResNet-50', '1x', '@mixed'),
    ('cmrcn_r101_msca_adp_1x@amp', 'MSCA-Adp', 'ResNet-101', '1x', '@amp'),
    ('cmrcn_r50_msca_adp_3x+sgd@mixed-seed3', 'MSCA-Adp', 'ResNet-50', '3x', '+sgd@mixed'),
    ('cmrcn_x101_mssa_adp_1x-seed2', 'MSSA-Adp', 'ResNeXt-101', '1x', 'default'),
])
def test_every_kind_of_run_id_appears_under_its_row(tmp_path, coco_numbers, run_id, module, backbone, table,
                                                    line):
    box, mask = coco_numbers[0.12]
    write_run(tmp_path / 'runs', metrics(run_id, box, mask))
    text, summary, _ = run_tables(tmp_path / 'runs', tmp_path / 'out')
    lines = table_lines(text, module, backbone, table)
    seed = layout.parse_run_id(run_id).seed
    ran = [text for text in lines if text.split(' | ')[3].startswith('%s, seed %d ' % (line, seed))]
    assert len(ran) == 1, lines
    paper_box = ZOO.row(layout.parse_run_id(run_id).row)['paper']['box_val']
    assert ' / %.1f (%+.1f) |' % (box['AP'], box['AP'] - paper_box) in ran[0]
    assert ' / %.1f (' % mask['AP'] in ran[0]
    assert len(lines) == 1  # a row with a run has no 'not run yet' line, whatever kind of run it is
    rec = summary.set_index('run_id').loc[run_id]
    assert rec['ours_box_val'] == pytest.approx(box['AP']) and rec['seed'] == seed and rec['line'] == line


def test_seeds_pool_into_mean_std_and_the_gain_has_a_welch_interval(tmp_path, coco_numbers):
    sumup = [coco_numbers[s] for s in (0.16, 0.2, 0.24)]
    afa = [coco_numbers[s] for s in (0.0, 0.04, 0.12)]
    for seed in range(3):
        write_run(tmp_path / 'runs', metrics(layout.run_id('cmrcn_r50_sumup_1x', seed=seed), *sumup[seed]))
        write_run(tmp_path / 'runs', metrics(layout.run_id('cmrcn_r50_mssa_adp_1x', seed=seed), *afa[seed]))
    text, summary, gains = run_tables(tmp_path / 'runs', tmp_path / 'out')
    a = np.array([b['AP'] for b, _ in afa])
    b = np.array([b['AP'] for b, _ in sumup])
    line, = table_lines(text, 'MSSA-Adp', 'ResNet-50', '1x')
    assert '| default, seeds 0,1,2 [A] | 43.0 / %.1f \u00b1 %.1f (3) (%+.1f) |' % (
        a.mean(), a.std(ddof=1), a.mean() - 43.0) in line
    gain = gains[(gains['id'] == 'cmrcn_r50_mssa_adp_1x') & (gains['baseline_kind'] == 'sumup')
                 & (gains['metric'] == 'box_val')].iloc[0]
    assert gain['ours_gain'] == pytest.approx(a.mean() - b.mean(), abs=1e-3) and gain['paper_gain'] == 1.8
    assert gain['ci95_low'] < gain['ours_gain'] < gain['ci95_high'] and gain['n'] == '3 vs 3'
    assert '+1.8 / %+.1f [%+.1f, %+.1f]' % (gain['ours_gain'], gain['ci95_low'], gain['ci95_high']) in line
    from scipy import stats
    result = stats.ttest_ind(a, b, equal_var=False)
    if hasattr(result, 'confidence_interval'):  # scipy >= 1.10; the paper stack's 1.7 lacks it
        low, high = result.confidence_interval(0.95)
        assert (gain['ci95_low'], gain['ci95_high']) == (pytest.approx(low, abs=1e-3), pytest.approx(high, abs=1e-3))
    # The CSV has every per-seed number.
    for run_id, numbers in [(layout.run_id('cmrcn_r50_mssa_adp_1x', seed=s), afa[s]) for s in range(3)]:
        assert summary.set_index('run_id').loc[run_id, 'ours_box_val'] == pytest.approx(numbers[0]['AP'])
    assert 'Welch t interval' in text


def test_one_seed_gives_a_gain_without_interval_and_the_control_gain(tmp_path, coco_numbers):
    write_run(tmp_path / 'runs', metrics('cmrcn_r50_sumup_3x', *coco_numbers[0.2]))
    write_run(tmp_path / 'runs', metrics('cmrcn_r50_sumup_adamw_3x', *coco_numbers[0.16]))
    write_run(tmp_path / 'runs', metrics('cmrcn_r50_msca_adp_3x', *coco_numbers[0.04]))
    text, _, gains = run_tables(tmp_path / 'runs', tmp_path / 'out')
    line, = table_lines(text, 'MSCA-Adp', 'ResNet-50', '3x')
    over_sumup = coco_numbers[0.04][0]['AP'] - coco_numbers[0.2][0]['AP']
    over_adamw = coco_numbers[0.04][0]['AP'] - coco_numbers[0.16][0]['AP']
    assert '| +1.2 / %+.1f (n=1) | %+.1f (n=1) |' % (over_sumup, over_adamw) in line
    control = gains[(gains['baseline_kind'] == 'control') & (gains['metric'] == 'box_val')
                    & (gains['id'] == 'cmrcn_r50_msca_adp_3x')].iloc[0]
    assert control['baseline'] == 'cmrcn_r50_sumup_adamw_3x' and pd.isna(control['ci95_low'])
    # A row with no Sum-Up of its backbone says so instead of inventing a baseline.
    r101, = table_lines(text, 'MSSA-Adp', 'ResNet-101', '1x')
    assert 'no Sum-Up row for ResNet-101 12e' in r101


def test_each_line_names_the_stack_that_produced_it(tmp_path):
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x', 41.0, 35.0))
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x-seed1', 41.4, 35.2,
                                versions={'torch': '2.14.1', 'mmcv': '1.7.2', 'mmdet': '2.28.2'}))
    text, summary, _ = run_tables(tmp_path, tmp_path / 'out')
    assert '| default, seeds 0,1 [A][B] | 41.2 / 41.2 \u00b1 0.3 (2) (+0.0) |' in text
    assert '- stack [A]: torch 1.9.0, mmcv 1.3.11, mmdet 2.16.0' in text
    assert '- stack [B]: torch 2.14.1, mmcv 1.7.2, mmdet 2.28.2' in text
    assert sorted(summary['stack'].dropna()) == ['torch 1.9.0, mmcv 1.3.11, mmdet 2.16.0',
                                                 'torch 2.14.1, mmcv 1.7.2, mmdet 2.28.2']


def test_a_config_file_run_is_shown_apart(tmp_path):
    payload = metrics('cmrcn_r50_sumup_1x', 30.0, 25.0)
    payload.update(run_id='my_experiment', row=None)
    write_run(tmp_path, payload)
    text, summary, _ = run_tables(tmp_path, tmp_path / 'out')
    assert '## Other runs' in text and '30.0' in text.split('## Other runs')[1]
    assert summary.set_index('run_id').loc['my_experiment', 'table'] == 'other'


def test_smoke_and_paper_results_never_share_a_table(tmp_path):
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x', 1.0, 1.0, scale='smoke'))
    with pytest.raises(Exception, match='smoke result but this table is paper'):
        write_tables(str(tmp_path), str(tmp_path / 'out'), 'paper', zoo=ZOO)


def test_bad_metrics_json_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / 'cmrcn_r50_sumup_1x'
    folder.mkdir()
    (folder / layout.METRICS_FILE).write_text('{"run_id": ')
    assert main(['tables', '--scale', 'paper', '--runs', str(tmp_path), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'metrics.json is not valid JSON' in err and str(folder) in err


@pytest.mark.parametrize('text, message', [
    ('run_id,box\nx,1\n', 'needs the columns'),
    ('run_id,box_ap,mask_ap\ncmrcn_r50_sumup_1x,high,1\n', 'line 2: box_ap must be a number'),
])
def test_bad_testdev_csv_is_a_clear_error(tmp_path, text, message):
    csv = tmp_path / 'scores.csv'
    csv.write_text(text)
    with pytest.raises(Exception, match=message):
        write_tables(str(tmp_path), str(tmp_path / 'out'), 'paper', testdev_csv=str(csv), zoo=ZOO)


def test_no_results_at_all_still_renders_every_row(tmp_path):
    outputs, frame = write_tables(str(tmp_path / 'none'), str(tmp_path / 'out'), 'smoke', zoo=ZOO,
                                  with_figure=False)
    assert (frame['status'] == 'not run yet').all() and len(frame) == len(ZOO)
    assert 'Smoke results' in open(outputs['tables']).read()


def test_layouts_are_on_record_and_another_batch_is_never_pooled_with_the_recipe(tmp_path):
    from afa.planning.batch import split
    runs = tmp_path / 'runs'
    write_run(runs, metrics('cmrcn_r50_sumup_1x', 41.0, 35.0, trained_on=split(16, 8)))
    write_run(runs, metrics('cmrcn_r50_mssa_adp_1x', 43.0, 38.0, trained_on=split(16, 8)))
    write_run(runs, metrics('cmrcn_r50_mssa_adp_1x-seed1', 43.4, 38.2, trained_on=split(16, 1, max_imgs_per_device=2)))
    write_run(runs, metrics('cmrcn_r50_mssa_adp_1x-batch8', 30.0, 25.0, trained_on=split(8, 4)))
    text, summary, _ = run_tables(runs, tmp_path / 'out')
    lines = table_lines(text, 'MSSA-Adp', 'ResNet-50', '1x')
    assert len(lines) == 2  # the recipe's two seeds pooled (two layouts, one recipe); the batch-8 run apart
    assert any('-batch8' in ln and '30.0' in ln for ln in lines)
    recipe = [ln for ln in lines if '-batch8' not in ln][0]
    assert '43.2' in recipe and '30.0' not in recipe
    row = summary.set_index('run_id').loc['cmrcn_r50_mssa_adp_1x-seed1']
    assert (row['nodes'], row['gpus_per_node'], row['imgs_per_gpu'], row['accumulation'],
            row['effective_batch']) == (1, 1, 2, 8, 16)
    assert summary.set_index('run_id').loc['cmrcn_r50_mssa_adp_1x-batch8', 'effective_batch'] == 8
    assert '- trained on: 1 node x 1 GPU x 2 images x 8 accumulation steps = 16 images per step (1 run); ' \
           '1 node x 4 GPUs x 2 images = 8 images per step (1 run); 1 node x 8 GPUs x 2 images = 16 images per ' \
           'step (2 runs)' in text


def test_an_early_alarm_is_named_in_the_provenance(tmp_path):
    """A run whose box AP fell outside its reference band (RUN/alarm.json) carries that mark under its table;
    a run whose alarm stayed silent does not."""
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x', 38.0, 33.0))
    write_run(tmp_path, metrics('cmrcn_r50_mssa_adp_1x', 43.0, 38.0))
    message = 'epoch 3 box AP 30.1 is outside the band 33.0 +- 1.6 of data/references/cmrcn_r50_sumup_1x.log.json'
    with open(layout.alarm_path(os.path.join(str(tmp_path), 'cmrcn_r50_sumup_1x')), 'w') as f:
        json.dump(dict(outside=True, epoch=3, message=message, stopped=False), f)
    with open(layout.alarm_path(os.path.join(str(tmp_path), 'cmrcn_r50_mssa_adp_1x')), 'w') as f:
        json.dump(dict(outside=False, epoch=None, message=None, stopped=False), f)
    text, _, _ = run_tables(tmp_path, tmp_path / 'out')
    section = text.split('## 1x')[1].split('\n## ')[0]
    assert '- early alarm: cmrcn_r50_sumup_1x fell outside its reference band from epoch 3 (%s)' % message in section
    assert 'early alarm: cmrcn_r50_mssa_adp_1x' not in text


def test_epochs_the_alarm_could_not_compare_are_named_in_the_provenance(tmp_path):
    """An AFA run validated an epoch its Sum-Up reference never validated (alarm.json's not_compared): the tables
    say which epoch and which reference, as `afa status` does."""
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x', 38.0, 33.0))
    write_run(tmp_path, metrics('cmrcn_r50_mssa_adp_1x', 43.0, 38.0))
    with open(layout.alarm_path(os.path.join(str(tmp_path), 'cmrcn_r50_mssa_adp_1x')), 'w') as f:
        json.dump(dict(outside=False, epoch=None, message=None, stopped=False, reference='run:cmrcn_r50_sumup_1x',
                       checks=[], not_compared=[dict(epoch=2, ap=20.0)]), f)
    text, _, _ = run_tables(tmp_path, tmp_path / 'out')
    section = text.split('## 1x')[1].split('\n## ')[0]
    assert ('- early alarm: cmrcn_r50_mssa_adp_1x epoch 2 not compared: run:cmrcn_r50_sumup_1x had not validated it '
            'when the run did') in section


def test_training_time_against_the_plan_is_in_the_provenance(tmp_path):
    """A run planned with `afa plan --probe` (train_done.json's time_vs_estimate) shows its actual training time
    against the estimate under its table; a run without an estimate shows none."""
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x', 38.0, 33.0))
    write_run(tmp_path, metrics('cmrcn_r50_mssa_adp_1x', 43.0, 38.0))
    with open(layout.done_path(os.path.join(str(tmp_path), 'cmrcn_r50_sumup_1x')), 'w') as f:
        json.dump(dict(time_vs_estimate=dict(estimated_wall_h=40.0, actual_wall_h=46.0, ratio=1.15,
                                             estimated_on='NVIDIA H200')), f)
    text, _, _ = run_tables(tmp_path, tmp_path / 'out')
    section = text.split('## 1x')[1].split('\n## ')[0]
    assert ('- training time: cmrcn_r50_sumup_1x 46.00 h against 40.00 h estimated by `afa plan --probe` on '
            'NVIDIA H200 (x1.15)') in section
    assert 'training time: cmrcn_r50_mssa_adp_1x' not in text

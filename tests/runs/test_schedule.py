"""schedule.count, the one count of what mmcv will run, against the real config of every row and against mmdet's own
dataset and samplers (the images its filter keeps, the micro-batches its group samplers make)."""
import json
import math
import subprocess
import sys

import pytest

from afa.runs import schedule
from afa.runs import zoo as zoo_mod
from afa.runs.spec import RunSpec

ROWS = [r.id for r in zoo_mod.load()]
REPEATED = ('cmrcn_r50_sumup_3x', 'cmrcn_r50_mssa_adp_3x', 'cmrcn_r50_msca_adp_3x', 'cmrcn_r50_sumup_adamw_3x')


@pytest.mark.parametrize('row_id', ROWS)
def test_every_row_runs_the_passes_its_schedule_names(row_id):
    """configs/zoo.yaml's schedule (12e, 36e) is passes over train2017, whatever mmcv calls an epoch."""
    row = zoo_mod.load().row(row_id)
    record = schedule.count(RunSpec(row_id).build_config(), 8, 2, 1, 'paper')
    assert record['passes'] == int(row['schedule'].rstrip('e'))
    assert record['train_images'] == schedule.COCO_TRAIN_IMAGES
    per_epoch = int(math.ceil(record['images_per_epoch'] / 16.0))
    assert record['optimizer_steps_per_epoch'] == record['iters_per_epoch'] == per_epoch
    assert record['total_optimizer_steps'] == per_epoch * record['max_epochs']
    if row_id in REPEATED:  # mmdet's mstrain 3x: RepeatDataset(times=3) over 12 mmcv epochs, steps [9, 11]
        assert (record['dataset_repeats'], record['max_epochs']) == (3, 12)
        assert record['optimizer_steps_per_epoch'] == 21988  # ceil(3 x 117,266 / 16), not 7,330
        assert record['total_optimizer_steps'] == 263856
        assert record['lr_steps_optimizer_steps'] == [s * 21988 for s in record['lr_steps_epochs']]
    else:
        assert record['dataset_repeats'] == 1 and record['max_epochs'] == record['passes']


def test_accumulation_and_warm_up_count_optimizer_steps():
    record = schedule.count(RunSpec('cmrcn_r50_sumup_3x').build_config(), 1, 2, 8, 'paper')
    assert record['iters_per_epoch'] == 175899  # ceil(351,798 / 2) micro-batches of mmcv's counter
    assert record['optimizer_steps_per_epoch'] == 21988 and record['total_iters'] == 175899 * 12
    assert (record['warmup_optimizer_steps'], record['warmup_iters']) == (500, 4000)


def _annotations(path, images):
    """A COCO file: (id, width, height, annotated) per image; one annotation of category 1 where annotated."""
    doc = dict(images=[dict(id=i, file_name='%d.jpg' % i, width=w, height=h) for i, w, h, _ in images],
               categories=[dict(id=1, name='thing'), dict(id=2, name='other')],
               annotations=[dict(id=i, image_id=i, category_id=1 if a == 1 else 2, bbox=[1, 1, 8, 8], area=64,
                                 iscrowd=0, segmentation=[[1, 1, 9, 1, 9, 9]]) for i, _, _, a in images if a])
    with open(path, 'w') as f:
        json.dump(doc, f)


def test_the_filter_and_the_samplers_are_mmdet_s(tmp_path):
    """The images kept (annotated with the dataset's classes, shorter side >= 32) and the micro-batches per
    process, for several layouts, as mmdet's CocoDataset and group samplers make them."""
    from mmdet.datasets import build_dataset
    from mmdet.datasets.samplers import DistributedGroupSampler, GroupSampler
    images = [(i, 64 + i, 48, 1) for i in range(7)] + [(10 + i, 40, 60, 1) for i in range(4)]
    images += [(20, 64, 48, 0), (21, 64, 20, 1), (22, 64, 48, 2)]  # unannotated, too small, only another class
    ann_file = str(tmp_path / 'train.json')
    _annotations(ann_file, images)
    assert schedule.kept_groups(ann_file, classes=('thing',)) == [4, 7]
    cfg = dict(type='RepeatDataset', times=3, dataset=dict(type='CocoDataset', ann_file=ann_file, img_prefix='',
                                                           classes=('thing',), pipeline=[]))
    dataset = build_dataset(cfg)
    groups, repeats, counted = schedule.dataset_groups(cfg, 'smoke')
    assert (sum(groups), repeats, counted) == (len(dataset), 3, True)
    for processes, imgs in ((1, 2), (2, 2), (3, 1), (4, 3)):
        plain = dict(data=dict(train=cfg), runner=dict(type='EpochBasedRunner', max_epochs=2))
        record = schedule.count(plain, processes, imgs, 1, 'smoke')
        if processes == 1:
            sampler_len = len(GroupSampler(dataset, imgs))
        else:
            sampler_len = len(DistributedGroupSampler(dataset, imgs, num_replicas=processes, rank=0))
        assert record['iters_per_epoch'] == sampler_len // imgs, (processes, imgs)
        assert record['passes'] == 6 and record['total_iters'] == 2 * record['iters_per_epoch']


def test_concatenated_and_iteration_based_schedules(tmp_path):
    ann_file = str(tmp_path / 'train.json')
    _annotations(ann_file, [(i, 64, 48, 1) for i in range(5)])
    part = dict(type='CocoDataset', ann_file=ann_file, classes=('thing',))
    record = schedule.count(dict(data=dict(train=dict(type='ConcatDataset', datasets=[part, part])),
                                 runner=dict(type='EpochBasedRunner', max_epochs=3)), 1, 2, 1, 'smoke')
    assert (record['images_per_epoch'], record['iters_per_epoch'], record['total_iters']) == (10, 5, 15)
    iters = schedule.count(dict(data=dict(train=part), runner=dict(type='IterBasedRunner', max_iters=90),
                                lr_config=dict(policy='step', by_epoch=False, step=[60, 80])), 1, 2, 3, 'smoke')
    assert (iters['total_iters'], iters['total_optimizer_steps'], iters['max_epochs']) == (90, 30, None)
    assert iters['lr_steps_optimizer_steps'] == [60, 80] and iters['lr_steps_epochs'] == []


def test_afa_plan_prints_the_true_steps_of_a_3x_row():
    result = subprocess.run([sys.executable, '-m', 'afa.cli', 'plan', 'cmrcn_r50_sumup_3x', '--gpus', '8'],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'per mmcv epoch: 21988 optimizer steps' in result.stdout, result.stdout
    assert '12 mmcv epochs x 3 repeats of the data = 36 passes, 263,856 optimizer steps' in result.stdout
    assert 'lr steps after epochs 9, 11 of 12 (optimizer steps 197,892, 241,868)' in result.stdout


def test_status_eta_reads_the_recorded_schedule(tmp_path):
    """`afa status` takes the run's mmcv epochs from the schedule run.json records (schedule.count at the start),
    and its ETA from schedule.iterations_left: epoch 2, iteration 40 of 50, of 12 epochs at 0.5 s each."""
    import os
    from afa.reporting import status
    from afa.runs import layout
    assert schedule.iterations_left(12, 50, 2, 40) == 10 * 50 + 10
    assert schedule.iterations_left(None, 50, 2, 40) is None
    folder = layout.run_dir(str(tmp_path), 'paper', 'cmrcn_r50_sumup_3x')
    os.makedirs(folder)
    counted = schedule.count(RunSpec('cmrcn_r50_sumup_3x').build_config(), 8, 2, 1, 'paper')
    with open(os.path.join(folder, layout.RUN_FILE), 'w') as f:
        json.dump(dict(run_id='cmrcn_r50_sumup_3x', gpus=8, schedule=counted), f)
    stamp = '20261201_100000'
    with open(os.path.join(folder, stamp + layout.LOG_TEXT_SUFFIX), 'w') as f:
        f.write('2026-12-01 10:00:05,000 - mmdet - INFO - Epoch [2][40/21988]\tlr: 2.000e-02, time: 0.500\n')
    with open(os.path.join(folder, stamp + layout.LOG_JSON_SUFFIX), 'w') as f:
        f.write(json.dumps(dict(mode='train', epoch=2, iter=40, time=0.5)) + '\n')
    found = status.run_status(folder)
    assert (found['state'], found['max_epochs'], found['iters_per_epoch']) == ('training', 12, 21988)
    assert found['eta_s'] == int(schedule.iterations_left(12, 21988, 2, 40) * 0.5)


def test_the_tables_provenance_says_what_mmcv_ran():
    from afa.reporting.tables import schedule_lines
    counted = schedule.count(RunSpec('cmrcn_r50_sumup_3x').build_config(), 8, 2, 1, 'paper')
    runs = [dict(training_layout=dict(schedule=counted)), dict(training_layout=dict(schedule=counted)),
            dict(training_layout=None)]
    assert schedule_lines(runs) == ['- schedule: 12 mmcv epochs x 3 repeats of the data = 36 passes, 263,856 '
                                    'optimizer steps (2 runs)']

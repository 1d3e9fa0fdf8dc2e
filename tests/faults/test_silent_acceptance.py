"""Fault class: bad input accepted in silence (issue 21). A negative count, annotations that a loader would
silently drop (an unknown category id), duplicate image ids, a declared 0x0 image size, an instance file
without annotations and a truncated JPEG are refused where they enter, naming the file and the id; an option
the smoke scale overrides is recorded as overridden, never as applied (item 3)."""
import json
import os
import re
import shutil

import pytest

from afa.cli import main
from afa.data.checks import check_dataset
from afa.runs.spec import RunSpec
from afa.utils.errors import AfaError


@pytest.mark.parametrize('argv, message', [
    (['train', 'cmrcn_r50_sumup_1x', '--gpus', '-1'], '--gpus must be >= 0, got -1'),
    (['test', 'cmrcn_r50_sumup_1x', 'x.pth', '--gpus', '-1'], '--gpus must be >= 0, got -1'),
    (['data', 'synthetic', '--train', '-5'], '--train must be >= 1, got -5'),
    (['data', 'synthetic', '--val', '0'], '--val must be >= 1, got 0'),
    (['data', 'coco', '--jobs', '0'], '--jobs must be >= 1, got 0'),
    # issue 30: read as one process, no limit, or a spinning refresh
    (['train', 'cmrcn_r50_sumup_1x', '--gpus', '0', '--procs', '0'], '--procs must be >= 1, got 0'),
    (['train', 'cmrcn_r50_sumup_1x', '--gpus', '0', '--procs', '-1'], '--procs must be >= 1, got -1'),
    (['train', 'cmrcn_r50_sumup_1x', '--max-segments', '-1'], '--max-segments must be >= 1, got -1'),
    (['train', 'cmrcn_r50_sumup_1x', '--stop-before-limit', '-5'], '--stop-before-limit must be >= 0, got -5'),
    (['plan', 'cmrcn_r50_sumup_1x', '--probe', '--time-limit-h', '0'], '--time-limit-h must be > 0, got 0.0'),
    (['plan', 'cmrcn_r50_sumup_1x', '--probe', '--time-limit-h', '-5'], '--time-limit-h must be > 0, got -5.0'),
    (['plan', 'cmrcn_r50_sumup_1x', '--probe', '--time-limit-h', '0.1'],
     '--time-limit-h 0.1 leaves nothing after the 10-minute stop margin'),
    (['plan', 'cmrcn_r50_sumup_1x', '--probe', '--probe-iters', '0'], '--probe-iters must be >= 1, got 0'),
    (['plan', ''], 'ROW is empty; name a row'),
    (['status', '--scale', 'paper', '--watch', '0'], '--watch must be > 0, got 0.0'),
    (['status', '--scale', 'paper', '--seeds', '-1'], '--seeds must be >= 0, got -1'),
    (['status', '--scale', 'paper', '--runs-root', '/nonexistent/runs'],
     '--runs-root /nonexistent/runs is not a folder and neither is /nonexistent'),
    (['status', '--scale', 'paper', '--config', '/etc/passwd'], '--config /etc/passwd is not a workflow config'),
    (['status', '--scale', 'paper', '--stall-after', 'nan'], '--stall-after must be a finite number, got nan'),
])
def test_negative_counts_are_refused(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(str(tmp_path))  # nothing may be written: data/synthetic would appear here
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert os.listdir(str(tmp_path)) == []


def test_status_of_a_runs_root_not_made_yet_says_so(tmp_path, capsys):
    """Polled before the first run starts (or with a mistyped name): every run not started, and a note names the
    folder that does not exist."""
    missing = str(tmp_path / 'runs')
    assert main(['status', '--scale', 'smoke', '--runs-root', missing, '--rows', 'cmrcn_r50_sumup_1x']) == 0
    out, err = capsys.readouterr()
    assert 'not started' in out
    assert '%s does not exist yet' % missing in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def dataset(synthetic_root, tmp_path):
    """A copy of the synthetic dataset to damage: (annotation file of val, its image folder, parsed doc)."""
    root = str(tmp_path / 'synthetic')
    shutil.copytree(synthetic_root, root)
    ann = os.path.join(root, 'annotations', 'instances_val2017.json')
    with open(ann) as f:
        return ann, os.path.join(root, 'val2017'), json.load(f)


def damage(ann, doc, change):
    change(doc)
    with open(ann, 'w') as f:
        json.dump(doc, f)


def _unknown_category(doc):
    doc['annotations'][0]['category_id'] = 99


def _duplicate_image_id(doc):
    doc['images'][1]['id'] = doc['images'][0]['id']


def _zero_size(doc):
    doc['images'][0].update(width=0, height=0)


def _no_annotations(doc):
    doc['annotations'] = []


@pytest.mark.parametrize('change, message', [
    (_unknown_category, 'has the category id 99, which "categories" does not list'),
    (_duplicate_image_id, 'is listed twice'),
    (_zero_size, 'has the size 0x0'),
    (_no_annotations, 'no annotations'),
])
def test_annotations_a_loader_would_drop_fail_verification(dataset, capsys, change, message):
    ann, images, doc = dataset
    damage(ann, doc, change)
    with pytest.raises(AfaError, match=message):
        check_dataset(ann, images)  # before training and testing
    root = os.path.dirname(os.path.dirname(ann))
    assert main(['data', 'verify', '--root', root, '--parts', 'annotations', 'val2017']) == 2
    err = capsys.readouterr().err
    assert message in err and ann in err and 'Traceback' not in err


def test_a_truncated_jpeg_fails_verification(dataset, capsys):
    ann, images, doc = dataset
    path = os.path.join(images, doc['images'][0]['file_name'])
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(AfaError, match='truncated'):
        check_dataset(ann, images)
    root = os.path.dirname(images)
    assert main(['data', 'verify', '--root', root, '--parts', 'annotations', 'val2017']) == 2
    err = capsys.readouterr().err
    assert path in err and 'truncated (no JPEG end marker FFD9 at its end)' in err


def test_an_intact_dataset_still_verifies(dataset):
    ann, images, _ = dataset
    check_dataset(ann, images)


def test_options_the_smoke_scale_overrides_are_recorded_as_overridden(synthetic_root, capsys):
    spec = RunSpec('cmrcn_r50_mssa_adp_3x+release_steps', scale='smoke', data_root=synthetic_root,
                   cfg_options={'runner.max_epochs': 12, 'optimizer.lr': 0.5, 'data.workers_per_gpu': 0})
    cfg = spec.build_config()
    record = spec.describe()
    overridden = record['cfg_options_overridden']
    assert overridden['runner.max_epochs'] == {'given': 12, 'used': cfg.runner.max_epochs, 'by': 'the smoke scale'}
    assert overridden['optimizer.lr']['used'] == cfg.optimizer.lr != 0.5
    assert overridden['lr_config.step']['given'] == [8, 10]  # the variant's, rescaled to the smoke schedule
    assert 'data.workers_per_gpu' not in overridden  # applied as given
    assert record['cfg_options']['runner.max_epochs'] == 12  # what was asked stays recorded as asked
    err = capsys.readouterr().err
    assert 'runner.max_epochs=12 is overridden by the smoke scale' in err


def test_options_applied_as_given_record_nothing_overridden(synthetic_root):
    spec = RunSpec('cmrcn_r50_sumup_1x', scale='smoke', data_root=synthetic_root,
                   cfg_options={'data.workers_per_gpu': 0, 'model.rpn_head.loss_bbox.loss_weight': 2.0})
    spec.build_config()
    assert spec.describe()['cfg_options_overridden'] == {}


def _declared(width, height):
    def change(doc):
        doc['images'][0].update(width=width, height=height)
        doc['annotations'] = [a for a in doc['annotations'] if a['image_id'] != doc['images'][0]['id']]
    return change


@pytest.mark.parametrize('width, height', [(20000, 20000), (73, 57)])
def test_a_declared_size_that_is_not_the_file_s_fails_verification(dataset, capsys, width, height):
    """A declared 20000x20000 image (the file is smaller) would train at the declared size, a declared 73x57
    val image would be evaluated at it: the header's size is compared (its annotations removed, so that only the
    header can tell)."""
    ann, images, doc = dataset
    real = (doc['images'][0]['width'], doc['images'][0]['height'])
    damage(ann, doc, _declared(width, height))
    message = 'declared %dx%d (width x height) but the file is %dx%d' % (width, height, real[0], real[1])
    with pytest.raises(AfaError, match=re.escape(message)):
        check_dataset(ann, images)  # before training and testing
    root = os.path.dirname(images)
    assert main(['data', 'verify', '--root', root, '--parts', 'annotations', 'val2017']) == 2
    err = capsys.readouterr().err
    assert message in err and doc['images'][0]['file_name'] in err and 'Traceback' not in err


def test_annotations_outside_their_declared_size_fail_verification(dataset, capsys):
    ann, images, doc = dataset
    image = doc['images'][0]
    box = next(a for a in doc['annotations'] if a['image_id'] == image['id'])

    size = (int(box['bbox'][0] + box['bbox'][2] / 2), int(box['bbox'][1] + box['bbox'][3] / 2))  # half the box out

    def shrink(d):
        d['images'][0].update(width=size[0], height=size[1])
    damage(ann, doc, shrink)
    with pytest.raises(AfaError, match='annotation id %r of image id %r: its bbox' % (box['id'], image['id'])):
        check_dataset(ann, images)
    root = os.path.dirname(images)
    assert main(['data', 'verify', '--root', root, '--parts', 'annotations']) == 2  # annotations alone: no header
    assert 'but the image is declared %dx%d' % size in capsys.readouterr().err


def test_data_verify_says_what_it_checks(capsys):
    with pytest.raises(SystemExit):
        main(['data', 'verify', '--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert 'file header has the declared width and height' in out and 'fits the size its image declares' in out

"""The COCO-shaped synthetic set (`afa data synthetic --coco-like`): COCO's categories and ids with their gaps,
its image sizes and quirks, read by pycocotools and mmdet exactly as COCO is, and accepted by `afa data verify`."""
import json
import os
import subprocess
import sys

import pytest

from afa.data import coco_like
from afa.runs import layout

# COCO 2017's missing category ids, as its instances files list their categories (cocodataset.org).
COCO_ID_GAPS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data') / 'coco-like')
    coco_like.generate(root, num_train=5, num_val=3, num_test=2, seed=3)
    return root


def _doc(root, name):
    with open(os.path.join(root, 'annotations', name)) as f:
        return json.load(f)


def test_categories_are_cocos_names_in_mmdets_order_with_the_ids_and_their_gaps():
    mmdet_datasets = pytest.importorskip('mmdet.datasets')
    assert tuple(c['name'] for c in coco_like.CATEGORIES) == mmdet_datasets.CocoDataset.CLASSES
    assert [c['id'] for c in coco_like.CATEGORIES] == [i for i in range(1, 91) if i not in COCO_ID_GAPS]


def test_the_set_has_cocos_sizes_and_quirks(root):
    from pycocotools.coco import COCO
    from pycocotools import mask as mask_utils
    val, train = _doc(root, 'instances_val2017.json'), _doc(root, 'instances_train2017.json')
    sizes = {(img['width'], img['height']) for doc in (train, val) for img in doc['images']}
    assert {(640, 480), (480, 640), (500, 375)} <= sizes and any(max(s) > 1333 for s in sizes)
    for doc, name in ((train, 'instances_train2017.json'), (val, 'instances_val2017.json')):
        annotated = {a['image_id'] for a in doc['annotations']}
        assert [img for img in doc['images'] if img['id'] not in annotated], name  # images without annotations
        coco = COCO(os.path.join(root, 'annotations', name))
        anns = doc['annotations']
        crowds = [a for a in anns if a['iscrowd']]
        assert crowds and all(isinstance(a['segmentation']['counts'], list) for a in crowds)  # uncompressed RLE
        for ann in crowds:
            mask = coco.annToMask(ann)
            assert mask.sum() == ann['area'] and mask.shape == tuple(ann['segmentation']['size'])
            x, y, w, h = mask_utils.toBbox(mask_utils.encode(mask.copy(order='F')))
            assert [x, y, w, h] == ann['bbox']
        assert any(len(a['segmentation']) > 1 for a in anns if not a['iscrowd'])  # polygons in several parts
        assert any(0 < a['area'] < 1 for a in anns) and any(a['area'] == 0 for a in anns)
        by_image = {img['id']: img for img in doc['images']}
        assert any(a['bbox'][0] == 0 and a['bbox'][1] + a['bbox'][3] == by_image[a['image_id']]['height']
                   for a in anns)  # touching the left and bottom borders
        assert {a['category_id'] for a in anns} - {c['id'] for c in coco_like.CATEGORIES} == set()
    testdev = _doc(root, 'image_info_test-dev2017.json')
    assert 'annotations' not in testdev and len(testdev['categories']) == 80
    # test2017/ holds more images than test-dev lists, as COCO's (its test-challenge images)
    assert len(os.listdir(os.path.join(root, 'test2017'))) == len(testdev['images']) + coco_like.EXTRA_TEST_IMAGES


def test_afa_data_verify_accepts_it(root):
    result = subprocess.run([sys.executable, '-m', 'afa.cli', 'data', 'verify', '--root', root],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with open(os.path.join(root, layout.COCO_VERIFIED)) as f:
        record = json.load(f)
    assert record['splits']['test2017']['images'] == 3 and record['splits']['test2017']['annotated_images'] == 2


def test_mmdet_reads_it_as_coco_labels_follow_the_files_ids(root):
    pytest.importorskip('mmdet')
    from mmdet.datasets import build_dataset
    from afa.runs.spec import RunSpec
    import numpy as np
    cfg = RunSpec('cmrcn_r50_sumup_1x', scale='rehearsal', data_root=root).build_config()
    train = build_dataset(cfg.data.train)
    assert len(train) == 4  # the image without annotations is left out of training, as on COCO
    val = build_dataset(dict(cfg.data.val, test_mode=True))
    assert len(val) == 3
    ids = [c['id'] for c in coco_like.CATEGORIES]
    assert [val.cat2label[i] for i in ids] == list(range(80))
    # One detection per label on the first image: the result file names the file's category of each label.
    result = [np.array([[10, 10, 50, 60, 0.9]], dtype=np.float32) for _ in range(80)]
    outputs = [result] + [[np.zeros((0, 5), dtype=np.float32) for _ in range(80)]] * (len(val) - 1)
    json_results = val._det2json(outputs)
    assert [r['category_id'] for r in json_results] == ids
    info = val.get_ann_info(0)
    assert info['bboxes'].shape[0] >= 1 and info['bboxes_ignore'].shape[0] == 1  # the crowd region is ignored

"""pycocotools evaluation on real COCO-format files: ground truth as detections scores 100."""
import pytest
from pycocotools.coco import COCO

from afa.evaluation.coco_eval import STAT_NAMES, evaluate
from coco_results import ground_truth_as_results


@pytest.fixture(scope='module')
def coco_gt(synthetic_root):
    return COCO('%s/annotations/instances_val2017.json' % synthetic_root)


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_ground_truth_as_detections_gives_ap_100(coco_gt, iou_type):
    stats = evaluate(coco_gt, ground_truth_as_results(coco_gt, iou_type), iou_type)
    assert list(stats) == list(STAT_NAMES)
    assert stats['AP'] == pytest.approx(100.0) and stats['AP50'] == pytest.approx(100.0)
    assert stats['AR100'] == pytest.approx(100.0)


def test_shifted_boxes_score_lower(coco_gt):
    results = ground_truth_as_results(coco_gt, 'bbox')
    for r in results:
        r['bbox'][0] += r['bbox'][2] * 0.3
    stats = evaluate(coco_gt, results, 'bbox')
    assert stats['AP50'] == pytest.approx(100.0) and stats['AP'] < 60.0


def test_no_detections_scores_zero(coco_gt):
    assert evaluate(coco_gt, [], 'segm') == {name: 0.0 for name in STAT_NAMES}

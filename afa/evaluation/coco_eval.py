"""COCO evaluation with pycocotools: all 12 summary numbers of COCOeval, named, in percent.

mmdet's own evaluate() reports 6 of them (and AR at its proposal counts), so the metrics files are made here from
the result JSON files that mmdet writes, with COCOeval's standard settings (maxDets 1, 10, 100).
"""
import contextlib
import io
import json

STAT_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl')
IOU_TYPES = ('bbox', 'segm')


def evaluate(coco_gt, results, iou_type, quiet=True):
    """COCOeval summary of ``results`` (a JSON path or a list of result dicts) against ``coco_gt`` (a COCO).

    Returns {name: percent} for the 12 numbers; -1 stays -1 (pycocotools' "no ground truth of that size").
    No detections at all score 0 everywhere that has ground truth (pycocotools cannot load an empty list).
    """
    from pycocotools.cocoeval import COCOeval
    if iou_type not in IOU_TYPES:
        raise ValueError('iou_type must be one of %s, got %r' % (IOU_TYPES, iou_type))
    if isinstance(results, str):
        with open(results) as f:
            results = json.load(f)
    if not results:
        return {name: 0.0 for name in STAT_NAMES}
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.params.imgIds = sorted(coco_gt.getImgIds())
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: (float(v) * 100.0 if v >= 0 else -1.0) for name, v in zip(STAT_NAMES, evaluator.stats)}

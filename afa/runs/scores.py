"""What a metrics file (`afa test`'s metrics.json) must hold to be shown as a result: for bbox (and segm where
present) COCOeval's numbers in percent, each a finite number from 0 to 100, or -1 (pycocotools' "no ground truth of
that size"). One owner for every reader (`afa tables` through RunFolder.read_metrics_strictly, `afa status`), so that a damaged or hand-edited file
("AP": "NaN") is one line naming the file and the field, never a traceback or a number shown as right.

Standard library only: `afa status` reads it on a login node.
"""
import math

IOU_TYPES = ('bbox', 'segm')
NO_GROUND_TRUTH = -1.0


def is_score(value):
    """A number COCOeval can have given, in percent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value == NO_GROUND_TRUTH or 0.0 <= value <= 100.0


def problem(metrics):
    """Why ``metrics`` (a parsed metrics file) is not a result to show (a phrase naming the field), or None."""
    if not isinstance(metrics, dict):
        return 'it holds a %s, not a metrics record' % type(metrics).__name__
    if not isinstance(metrics.get('bbox'), dict) or 'AP' not in metrics['bbox']:
        return 'it has no bbox AP'
    for iou in IOU_TYPES:
        stats = metrics.get(iou)
        if stats is None and iou != 'bbox':
            continue
        if not isinstance(stats, dict):
            return '%s is a %s, not the COCOeval numbers' % (iou, type(stats).__name__)
        for name, value in sorted(stats.items()):
            if not is_score(value):
                return '%s.%s is %s, not an AP in percent (a finite number from 0 to 100, or -1)' % (
                    iou, name, json_text(value))
    return None


def json_text(value):
    import json
    try:
        return json.dumps(value)
    except ValueError:
        return repr(value)

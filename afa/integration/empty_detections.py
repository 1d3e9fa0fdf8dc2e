"""mmdet's COCO evaluation (2.16 and 2.28 alike) returns no AP at all when a model made no detection on the whole
set ("The testing results of the whole dataset is empty." and the metric loop left), instead of AP 0. The epoch's
validation line then lacks ``bbox_mAP``: the early alarm sees no validation for that epoch, `afa status` and the
curves no point, exactly when a run has gone wrong (or, at the rehearsal scale, when a barely trained model
keeps no box above the score threshold). Corrected here, where probed: every requested ``bbox``/``segm`` metric
of a set without any detection is reported as 0, as COCOeval would score it (afa/evaluation/coco_eval.py does).
"""
import contextlib
import io
import json
import logging
import os
import tempfile

SUFFIXES = ('', '_50', '_75', '_s', '_m', '_l')  # the keys mmdet reports per metric: bbox_mAP, bbox_mAP_50, ...


def _no_detections(results):
    """No box in any image's result ([per-class arrays] or (boxes, masks) per image)."""
    import numpy as np
    for result in results:
        boxes = result[0] if isinstance(result, tuple) else result
        if any(np.asarray(b).shape[0] for b in boxes):
            return False
    return True


def empty_results_drop_metrics():
    """Does CocoDataset.evaluate of a one-image set without any detection return no ``bbox_mAP``?"""
    import numpy as np
    from mmdet.datasets import CocoDataset
    doc = {'images': [{'id': 1, 'file_name': 'a.jpg', 'height': 8, 'width': 8}],
           'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [1, 1, 4, 4], 'area': 16,
                            'iscrowd': 0}],
           'categories': [{'id': 1, 'name': 'thing'}]}
    quiet = logging.getLogger('afa.probe')
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        path = os.path.join(folder, 'instances.json')
        with open(path, 'w') as f:
            json.dump(doc, f)
        dataset = CocoDataset(path, pipeline=[], classes=('thing',), test_mode=True)
        out = dataset.evaluate([[np.zeros((0, 5), dtype=np.float32)]], metric='bbox', logger=quiet)
    return 'bbox_mAP' not in out


def fix():
    from mmdet.datasets import CocoDataset
    original = CocoDataset.evaluate

    def evaluate(self, results, metric='bbox', *args, **kwargs):
        out = original(self, results, metric, *args, **kwargs)
        if _no_detections(results):
            for name in ([metric] if isinstance(metric, str) else list(metric)):
                if name in ('bbox', 'segm') and '%s_mAP' % name not in out:
                    out.update(('%s_mAP%s' % (name, suffix), 0.0) for suffix in SUFFIXES)
        return out
    evaluate.__wrapped__ = original
    CocoDataset.evaluate = evaluate

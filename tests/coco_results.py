"""Detections made from the ground truth, for tests of the evaluation and the tables: real pycocotools
numbers whose value the test knows (AP 100 for the ground truth itself, less for jittered boxes)."""


def ground_truth_as_results(coco_gt, iou_type):
    """The ground truth written as detections (score 1): evaluates to AP 100, a check of the whole path."""
    import pycocotools.mask as mask_utils
    results = []
    for ann in coco_gt.loadAnns(coco_gt.getAnnIds()):
        if ann.get('iscrowd', 0):
            continue
        entry = {'image_id': ann['image_id'], 'category_id': ann['category_id'], 'score': 1.0,
                 'bbox': list(ann['bbox'])}
        if iou_type == 'segm':
            rle = coco_gt.annToRLE(ann)
            rle['counts'] = rle['counts'].decode('ascii') if isinstance(rle['counts'], bytes) else rle['counts']
            entry['segmentation'] = rle
            entry['area'] = float(mask_utils.area(coco_gt.annToRLE(ann)))
        results.append(entry)
    return results

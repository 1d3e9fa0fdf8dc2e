"""A COCO-shaped synthetic dataset (`afa data synthetic --coco-like`): COCO 2017's categories, image sizes and
quirks on a few generated images, for the rehearsal scale (afa/runs/rehearsal.py) of the full-size recipes.

What it shares with COCO 2017, so that code that reads COCO reads it the same way:
- the 80 categories with their names, supercategories and ids 1-90 with COCO's ten gaps (code that maps a label
  to ``label + 1`` instead of the file's list puts detections on the wrong category);
- COCO's usual image sizes (640x480, 480x640, 500x375, 375x500) and some larger than 1333 pixels;
- crowd regions (``iscrowd: 1``) as uncompressed RLE ``{"counts": [...], "size": [h, w]}``, objects drawn as
  polygons in several parts, tiny boxes (under a pixel) and zero-area ones, boxes touching the image border,
  and training and validation images without annotations;
- test2017/ holding more images than the test-dev info file lists (COCO's test-challenge images), an info file
  of images and categories without annotations.
The folder layout, marker and atomic writing are those of the smoke set (afa/data/synthetic.py).
"""
import os

import numpy as np

from afa.data import synthetic

# COCO 2017's categories: (id, name, supercategory), as instances_val2017.json lists them.
COCO_CATEGORIES = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'), (4, 'motorcycle', 'vehicle'),
    (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'), (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'),
    (9, 'boat', 'vehicle'), (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'),
    (13, 'stop sign', 'outdoor'), (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'),
    (16, 'bird', 'animal'), (17, 'cat', 'animal'), (18, 'dog', 'animal'), (19, 'horse', 'animal'),
    (20, 'sheep', 'animal'), (21, 'cow', 'animal'), (22, 'elephant', 'animal'), (23, 'bear', 'animal'),
    (24, 'zebra', 'animal'), (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
    (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'), (33, 'suitcase', 'accessory'), (34, 'frisbee', 'sports'),
    (35, 'skis', 'sports'), (36, 'snowboard', 'sports'), (37, 'sports ball', 'sports'), (38, 'kite', 'sports'),
    (39, 'baseball bat', 'sports'), (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
    (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'), (49, 'knife', 'kitchen'),
    (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'), (52, 'banana', 'food'), (53, 'apple', 'food'),
    (54, 'sandwich', 'food'), (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'), (61, 'cake', 'food'),
    (62, 'chair', 'furniture'), (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'), (65, 'bed', 'furniture'),
    (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'), (72, 'tv', 'electronic'),
    (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'), (75, 'remote', 'electronic'),
    (76, 'keyboard', 'electronic'), (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'),
    (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'), (81, 'sink', 'appliance'),
    (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'), (85, 'clock', 'indoor'), (86, 'vase', 'indoor'),
    (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'), (89, 'hair drier', 'indoor'),
    (90, 'toothbrush', 'indoor'),
)
CATEGORIES = [{'id': i, 'name': name, 'supercategory': sup} for i, name, sup in COCO_CATEGORIES]
# (width, height), cycled: landscape and portrait alternate so that mmdet's aspect-ratio groups of a training
# batch fill evenly; 1600x1200 is larger than the recipes' 1333 long side (resized down, as in COCO's few).
SIZES = ((640, 480), (480, 640), (1600, 1200), (375, 500), (500, 375), (427, 640))
# Where each split starts in SIZES: every split sees a large image within its first few.
SIZE_OFFSET = {'train2017': 0, 'val2017': 2, 'test2017': 4}
EXTRA_TEST_IMAGES = 1  # test2017/ images that the test-dev info file does not list (COCO's test-challenge)
VERSION = 1


def uncompressed_rle(mask):
    """COCO's uncompressed RLE of a binary mask: run lengths of the column-major pixels, starting with zeros."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order='F')
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {'counts': [int(c) for c in counts], 'size': [int(mask.shape[0]), int(mask.shape[1])]}


def _polygon_box(parts):
    xs = [x for part in parts for x in part[0::2]]
    ys = [y for part in parts for y in part[1::2]]
    x0, y0 = min(xs), min(ys)
    return [round(x0, 2), round(y0, 2), round(max(xs) - x0, 2), round(max(ys) - y0, 2)]


def _area(parts):
    return round(sum(synthetic._polygon_area(p) for p in parts), 2)


def _shape(rng, cx, cy, radius):
    """A convex polygon of 5-8 corners around (cx, cy), as a flat COCO polygon."""
    corners = int(rng.integers(5, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
    radii = rng.uniform(0.6, 1.0, corners) * radius
    return [round(float(v), 2) for a, r in zip(angles, radii) for v in (cx + r * np.cos(a), cy + r * np.sin(a))]


def _objects(rng, width, height):
    """The annotations of one annotated image (without ids): an ordinary object, one in two parts, one touching
    the border, a crowd region, a tiny box and a zero-area one; categories drawn from all 80."""
    unit = min(width, height)
    anns = []

    def category():
        return int(COCO_CATEGORIES[int(rng.integers(0, len(COCO_CATEGORIES)))][0])

    # ordinary object, in the left half
    parts = [_shape(rng, width * 0.25, height * 0.3, unit * 0.15)]
    anns.append(dict(category_id=category(), segmentation=parts, iscrowd=0))
    # one object seen in two parts (an occluder between them), in the right half
    parts = [_shape(rng, width * 0.62, height * 0.3, unit * 0.1), _shape(rng, width * 0.85, height * 0.3, unit * 0.08)]
    anns.append(dict(category_id=category(), segmentation=parts, iscrowd=0))
    # an object cut by the left and bottom borders: its box starts at x 0 and ends at the last row
    x1, y0 = unit * 0.2, height - unit * 0.18
    parts = [[0.0, round(y0, 2), round(x1, 2), round(y0 + unit * 0.05, 2), round(x1 * 0.8, 2), float(height),
              0.0, float(height)]]
    anns.append(dict(category_id=category(), segmentation=parts, iscrowd=0))
    # tiny (area under a pixel) and zero-area (a vertical line) objects, as COCO has a few of each
    tx, ty = round(width * 0.5, 2), round(height * 0.6, 2)
    anns.append(dict(category_id=category(), segmentation=[[tx, ty, tx + 0.8, ty, tx, ty + 0.9]], iscrowd=0))
    zx, zy = round(width * 0.55, 2), round(height * 0.6, 2)
    anns.append(dict(category_id=category(), segmentation=[[zx, zy, zx, zy + 3.0, zx, zy + 1.5]], iscrowd=0,
                     bbox=[zx, zy, 0.0, 3.0], area=0.0))
    for ann in anns:
        ann.setdefault('bbox', _polygon_box(ann['segmentation']))
        ann.setdefault('area', _area(ann['segmentation']))
    # a crowd region (a group of people, say) as uncompressed RLE
    mask = np.zeros((height, width), dtype=np.uint8)
    x0, y0 = int(width * 0.6), int(height * 0.6)
    x1, y1 = int(width * 0.95), int(height * 0.95)
    mask[y0:y1, x0:x1] = 1
    mask[y0:y0 + (y1 - y0) // 3, x0:x0 + (x1 - x0) // 3] = 0  # not a plain rectangle
    anns.append(dict(category_id=1, segmentation=uncompressed_rle(mask), iscrowd=1, area=float(mask.sum()),
                     bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)]))
    return anns


def _pixels(rng, width, height, anns):
    """A noisy background with every object filled in a colour of its category."""
    import cv2
    background = rng.integers(70, 150, size=3)
    pixels = np.clip(background + rng.normal(0, 12, size=(height, width, 3)), 0, 255).astype(np.uint8)
    for ann in anns:
        colour = tuple(int(c) for c in np.random.default_rng(ann['category_id']).integers(0, 256, 3))
        if ann['iscrowd']:
            rle = ann['segmentation']
            mask = np.zeros(height * width, dtype=np.uint8)
            position = 0
            for index, run in enumerate(rle['counts']):
                if index % 2:
                    mask[position:position + run] = 1
                position += run
            pixels[mask.reshape((width, height)).T.astype(bool)] = colour
            continue
        for part in ann['segmentation']:
            cv2.fillPoly(pixels, [np.round(np.array(part).reshape(-1, 2)).astype(np.int32)], colour)
    return pixels


def generate(root, num_train=5, num_val=2, num_test=2, seed=0, progress=None):
    """Write the COCO-shaped dataset under ``root`` (as afa/data/synthetic.py writes the smoke set: atomically,
    once per parameters). The last image of the training and validation splits has no annotations (mmdet leaves
    it out of training, evaluation keeps it); test2017/ holds EXTRA_TEST_IMAGES more images than test-dev lists."""
    params = dict(kind='coco-like', num_train=num_train, num_val=num_val, num_test=num_test, seed=seed,
                  version=VERSION)

    def build(staging):
        import cv2
        rng = np.random.default_rng(seed)
        counts = {'train2017': num_train, 'val2017': num_val, 'test2017': num_test + EXTRA_TEST_IMAGES}
        next_image, next_ann = 1, 1
        quirks = dict(crowd_rle=0, multi_part=0, tiny=0, zero_area=0, border=0, without_annotations=0)
        os.makedirs(os.path.join(staging, 'annotations'))
        for split in synthetic.SPLITS:
            os.makedirs(os.path.join(staging, split))
            images, annotations = [], []
            for index in range(counts[split]):
                width, height = SIZES[(SIZE_OFFSET[split] + index) % len(SIZES)]
                empty = split == 'test2017' or (index == counts[split] - 1 and counts[split] > 1)
                anns = [] if empty else _objects(rng, width, height)
                name = '%012d.jpg' % next_image
                cv2.imwrite(os.path.join(staging, split, name), _pixels(rng, width, height, anns),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
                if split != 'test2017' or index < num_test:
                    images.append({'id': next_image, 'file_name': name, 'height': height, 'width': width,
                                   'license': 1, 'date_captured': '2013-11-14 11:18:45'})
                quirks['without_annotations'] += int(empty and split != 'test2017')
                for ann in anns:
                    ann.update(id=next_ann, image_id=next_image)
                    next_ann += 1
                    quirks['crowd_rle'] += ann['iscrowd']
                    quirks['multi_part'] += int(not ann['iscrowd'] and len(ann['segmentation']) > 1)
                    quirks['zero_area'] += int(ann['area'] == 0)
                    quirks['tiny'] += int(0 < ann['area'] < 1)
                    quirks['border'] += int(ann['bbox'][0] == 0)
                annotations.extend(anns)
                next_image += 1
                if progress:
                    progress(split)
            info = {'description': 'AFA COCO-shaped synthetic set (%s)' % split, 'version': '1.0', 'year': 2017}
            synthetic.write_split(staging, split, info, images, annotations, CATEGORIES)
        return {'params': params, 'kind': 'coco-like', 'categories': [c['name'] for c in CATEGORIES],
                'images': counts, 'annotations': next_ann - 1, 'quirks': quirks}
    return synthetic.write_dataset(root, params, build)

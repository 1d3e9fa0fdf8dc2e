"""A deterministic synthetic dataset in COCO 2017's layout, for CPU smoke runs and tests.

Images of a few coloured shapes (squares, discs, triangles) on a noisy background, with COCO instance
annotations: polygon masks, boxes, areas, iscrowd. The folder mirrors data/coco
({train2017,val2017,test2017,annotations}) so that a config only changes its data root to use it.
"""
import json
import math
import os
import shutil
import tempfile

import numpy as np

from afa.runs import layout
from afa.runs.smoke import CATEGORIES
from afa.utils.errors import AfaError

# Base colour per category (BGR) so that a small model learns the classes quickly; jittered per instance.
BASE_COLOURS = {1: (40, 40, 220), 2: (40, 200, 40), 3: (220, 60, 40)}
SPLITS = ('train2017', 'val2017', 'test2017')
MANIFEST = layout.SYNTHETIC_MARKER
STAGING_PREFIX = '.synthetic-'


def _polygon(category, cx, cy, radius, angle):
    """Outline of one shape as a flat [x0, y0, x1, y1, ...] list (floats, image coordinates)."""
    if category == 1:
        corners = 4
        offsets = [angle + math.pi / 4 + k * math.pi / 2 for k in range(corners)]
    elif category == 2:
        offsets = [k * 2 * math.pi / 24 for k in range(24)]
    else:
        offsets = [angle - math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
    points = []
    for a in offsets:
        points += [round(cx + radius * math.cos(a), 2), round(cy + radius * math.sin(a), 2)]
    return points


def _polygon_area(points):
    xs, ys = points[0::2], points[1::2]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))) / 2.0


def _image(rng, image_id, height, width, max_objects):
    """Draw one image; returns (pixels, annotations without ids)."""
    import cv2
    background = rng.integers(70, 150, size=3)
    pixels = np.clip(background + rng.normal(0, 12, size=(height, width, 3)), 0, 255).astype(np.uint8)
    annotations, placed = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        category = int(rng.integers(1, len(CATEGORIES) + 1))
        for _attempt in range(20):  # keep shapes apart so masks do not overlap
            radius = float(rng.uniform(0.09, 0.22) * min(height, width))
            cx = float(rng.uniform(radius + 1, width - radius - 1))
            cy = float(rng.uniform(radius + 1, height - radius - 1))
            if all(math.hypot(cx - x, cy - y) > radius + r + 2 for x, y, r in placed):
                break
        else:
            continue
        placed.append((cx, cy, radius))
        points = _polygon(category, cx, cy, radius, float(rng.uniform(0, math.pi)))
        colour = np.clip(np.array(BASE_COLOURS[category]) + rng.integers(-25, 26, size=3), 0, 255)
        cv2.fillPoly(pixels, [np.round(np.array(points).reshape(-1, 2)).astype(np.int32)],
                     tuple(int(c) for c in colour), lineType=cv2.LINE_AA)
        xs, ys = points[0::2], points[1::2]
        x0, y0 = max(min(xs), 0.0), max(min(ys), 0.0)
        x1, y1 = min(max(xs), width - 1.0), min(max(ys), height - 1.0)
        annotations.append({
            'image_id': image_id, 'category_id': category, 'segmentation': [points],
            'area': round(_polygon_area(points), 2), 'bbox': [round(x0, 2), round(y0, 2), round(x1 - x0, 2),
                                                              round(y1 - y0, 2)],
            'iscrowd': 0,
        })
    return pixels, annotations


def _is_generated_here(root):
    """Does ``root`` hold nothing but what generate() writes (splits, their annotation files, the manifest)?"""
    expected_annotations = set(['instances_%s.json' % split for split in SPLITS if split != 'test2017']
                               + ['image_info_test-dev2017.json'])
    entries = {e for e in os.listdir(root) if not e.startswith(STAGING_PREFIX)}  # a killed run's staging too
    if not entries <= set(SPLITS) | {'annotations', MANIFEST} or 'annotations' not in entries:
        return False
    return set(os.listdir(os.path.join(root, 'annotations'))) <= expected_annotations


def _move_into(staging, root):
    """Replace what ``root`` holds (checked to be a dataset made here, or nothing) by the staged dataset: the
    manifest first removed, then put back last, so that an interrupted move leaves no complete-looking dataset."""
    marker = os.path.join(root, MANIFEST)
    if os.path.exists(marker):
        os.remove(marker)
    for entry in os.listdir(root):
        path = os.path.join(root, entry)
        if os.path.abspath(path) == os.path.abspath(staging):
            continue
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    for entry in os.listdir(staging):
        if entry != MANIFEST:
            os.rename(os.path.join(staging, entry), os.path.join(root, entry))
    os.rename(os.path.join(staging, MANIFEST), marker)
    os.rmdir(staging)


def generate(root, num_train=48, num_val=16, num_test=8, height=128, width=160, max_objects=4, seed=0,
             progress=None):
    """Write the dataset under ``root`` (atomically: built beside it, then renamed). Returns the manifest.

    Re-running with the same parameters on a complete dataset does nothing.
    """
    params = dict(num_train=num_train, num_val=num_val, num_test=num_test, height=height, width=width,
                  max_objects=max_objects, seed=seed, version=1)

    def build(staging):
        import cv2
        rng = np.random.default_rng(seed)
        counts = dict(zip(SPLITS, (num_train, num_val, num_test)))
        next_image, next_ann = 1, 1
        os.makedirs(os.path.join(staging, 'annotations'))
        for split in SPLITS:
            os.makedirs(os.path.join(staging, split))
            images, annotations = [], []
            for _ in range(counts[split]):
                # Vary sizes a little so that batches need padding, as real COCO images do.
                h = int(height - rng.integers(0, height // 8 + 1))
                w = int(width - rng.integers(0, width // 8 + 1))
                pixels, anns = _image(rng, next_image, h, w, max_objects)
                name = '%012d.jpg' % next_image
                cv2.imwrite(os.path.join(staging, split, name), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
                images.append({'id': next_image, 'file_name': name, 'height': h, 'width': w})
                for ann in anns:
                    ann['id'] = next_ann
                    next_ann += 1
                annotations.extend(anns)
                next_image += 1
                if progress:
                    progress(split)
            info = {'description': 'AFA synthetic shapes (%s)' % split, 'version': '1.0'}
            write_split(staging, split, info, images, annotations, CATEGORIES)
        return {'params': params, 'categories': [c['name'] for c in CATEGORIES],
                'images': counts, 'annotations': next_ann - 1}
    return write_dataset(root, params, build)


def write_split(staging, split, info, images, annotations, categories):
    """One split's annotation file, named as COCO 2017 names it: test2017 lists image info only (test-dev)."""
    if split == 'test2017':
        doc = {'info': info, 'images': images, 'categories': categories}
        target = 'image_info_test-dev2017.json'
    else:
        doc = {'info': info, 'images': images, 'annotations': annotations, 'categories': categories}
        target = 'instances_%s.json' % split
    with open(os.path.join(staging, 'annotations', target), 'w') as f:
        json.dump(doc, f)


def write_dataset(root, params, build):
    """Make a generated dataset under ``root`` once: ``build(staging)`` writes its files into a staging folder
    and returns the manifest (with ``params``), which is written last. The same ``params`` on a complete dataset
    do nothing; other ones remake it; a folder that is not a dataset made here is refused."""
    manifest_path = os.path.join(root, MANIFEST)
    if os.path.exists(manifest_path):
        try:
            with open(manifest_path) as f:
                existing = json.load(f)
        except ValueError:
            existing = None
        if isinstance(existing, dict) and existing.get('params') == params:
            return existing
    replace = os.path.isdir(root) and any(not e.startswith(STAGING_PREFIX) for e in os.listdir(root))
    if replace and not _is_generated_here(root):
        raise FileExistsError('%s exists and is not a synthetic dataset made by `afa data synthetic`; choose an '
                              'empty or new --root' % root)
    if replace:
        # Other parameters, or a marker that Snakemake removed before rerunning the job: derived data, remade.
        print('afa data synthetic: %s was made with other parameters (or is incomplete); making it again'
              % root, flush=True)
    # An existing folder (perhaps a mount point, which cannot be renamed or removed) is filled from a staging
    # folder inside it; a new one is built beside it and renamed. Either way the manifest comes last.
    in_place = os.path.isdir(root)
    parent = root if in_place else os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent)
    try:
        manifest = build(staging)
        with open(os.path.join(staging, MANIFEST), 'w') as f:
            json.dump(manifest, f, indent=1)
        if in_place:
            _move_into(staging, root)
        else:
            os.rename(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest

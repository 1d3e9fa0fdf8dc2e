"""Cheap checks of a COCO-format dataset that name the bad file: annotation files that parse and have their
keys, annotations inside the size their image declares, image files that exist, start like an image, end whole
and are the width and height their annotation file declares (read from the file's header: no image is decoded).
Used by `afa data verify` and before training and evaluation, where a bad file would otherwise surface as a
traceback deep in a data-loader worker, or as numbers trained and evaluated at the wrong size."""
import json
import os

from afa.data.classes import check_classes
from afa.data.pretrained import pretrained_checkpoint
from afa.utils.errors import AfaError

INSTANCE_KEYS = ('images', 'annotations', 'categories')
IMAGE_INFO_KEYS = ('images', 'categories')
# How far (pixels) a box or polygon point may lie outside its image's declared size: COCO's own boxes touch the
# border with float coordinates.
BOUNDS_TOLERANCE = 1.0
# EXIF orientations that swap width and height (a rotated photo: its header's size is the stored one).
_TRANSPOSED = (5, 6, 7, 8)
# File signatures of the image formats OpenCV reads (COCO is all JPEG).
_SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'BM', b'II*\x00', b'MM\x00*', b'GIF8')


def load_annotation_file(path, keys=INSTANCE_KEYS):
    """The parsed annotation JSON; AfaError naming the file when it is missing, truncated or lacks a key."""
    try:
        with open(path, 'rb') as f:
            doc = json.loads(f.read().decode('utf-8'))
    except FileNotFoundError:
        raise AfaError('annotation file %s not found; fetch or verify the dataset (`afa data verify --root %s`)'
                       % (path, _root_of(path)))
    except OSError as e:
        raise AfaError('cannot read annotation file %s: %s' % (path, e.strerror or e))
    except (ValueError, UnicodeDecodeError) as e:
        raise AfaError('annotation file %s is not valid JSON (%s; truncated or corrupt?); fetch it again '
                       '(`afa data coco --root %s --parts annotations`)' % (path, str(e)[:120], _root_of(path)))
    if not isinstance(doc, dict):
        raise AfaError('annotation file %s holds a %s, not a COCO dict' % (path, type(doc).__name__))
    missing = [k for k in keys if not isinstance(doc.get(k), list)]
    if missing:
        raise AfaError('annotation file %s lacks the COCO list(s) %s; fetch it again or regenerate the dataset'
                       % (path, ', '.join(missing)))
    bad = [i for i, img in enumerate(doc['images'][:]) if not (isinstance(img, dict) and 'file_name' in img
                                                               and 'id' in img)]
    if bad:
        raise AfaError('annotation file %s: images[%d] has no id/file_name' % (path, bad[0]))
    problems = content_problems(doc, 'annotations' in keys)
    if problems:
        raise AfaError('annotation file %s: %s; fix or fetch it again (COCO: `afa data coco --root %s --parts '
                       'annotations`; synthetic: `afa data synthetic`)' % (path, '; '.join(problems), _root_of(path)))
    return doc


def _first_duplicate(values):
    seen = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def content_problems(doc, with_annotations=True, limit=3):
    """What a loader would silently drop or crash on, as phrases naming the ids: duplicate image or category
    ids, images without a positive width and height, and (``with_annotations``) an instance file without
    annotations, annotations of an unknown category or image."""
    problems = [] if doc['images'] else ['no images (a dataset needs at least one)']
    duplicate = _first_duplicate(img['id'] for img in doc['images'])
    if duplicate is not None:
        problems.append('image id %r is listed twice' % (duplicate,))
    for img in doc['images']:
        width, height = img.get('width'), img.get('height')
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            problems.append('image id %r (%s) has the size %sx%s; width and height must be positive'
                            % (img['id'], img['file_name'], width, height))
            break
    categories = [c.get('id') for c in doc['categories'] if isinstance(c, dict)]
    duplicate = _first_duplicate(categories)
    if duplicate is not None:
        problems.append('category id %r is listed twice' % (duplicate,))
    if not with_annotations:
        return problems[:limit]
    annotations = doc.get('annotations') or []
    if not annotations:
        problems.append('no annotations (an instance file needs at least one object to train on or evaluate)')
    known_categories, known_images = set(categories), {img['id'] for img in doc['images']}
    for ann in annotations:
        if not isinstance(ann, dict):
            problems.append('an annotation is a %s, not a dict' % type(ann).__name__)
            break
        if ann.get('category_id') not in known_categories:
            problems.append('annotation id %r has the category id %r, which "categories" does not list (known: %s)'
                            % (ann.get('id'), ann.get('category_id'), ', '.join(map(str, sorted(known_categories,
                                                                                             key=str)))))
            break
    for ann in annotations:
        if isinstance(ann, dict) and ann.get('image_id') not in known_images:
            problems.append('annotation id %r is of the image id %r, which "images" does not list'
                            % (ann.get('id'), ann.get('image_id')))
            break
    problems.extend(bounds_problems(doc, limit=1))
    return problems[:limit]


def _numbers(values):
    return isinstance(values, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in values)


def bounds_problems(doc, limit=3):
    """Annotations that do not fit the size their image declares (a box or polygon point beyond it by more than
    BOUNDS_TOLERANCE, a negative box size, an RLE mask of another size): a declared size that is not the
    image's, or annotations of another image."""
    sizes = {img['id']: (img.get('width'), img.get('height')) for img in doc['images']
             if _numbers([img.get('width'), img.get('height')])}
    found = []
    for ann in doc.get('annotations') or []:
        if not isinstance(ann, dict) or ann.get('image_id') not in sizes:
            continue
        width, height = sizes[ann['image_id']]
        why = _out_of_bounds(ann, width, height)
        if why:
            found.append('annotation id %r of image id %r: %s, but the image is declared %sx%s (width x height); '
                         'the declared size or the annotation is wrong' % (ann.get('id'), ann['image_id'], why,
                                                                           width, height))
            if len(found) >= limit:
                break
    return found


def _out_of_bounds(ann, width, height):
    """Why ``ann`` does not fit a width x height image (a phrase), or None."""
    tol = BOUNDS_TOLERANCE
    box = ann.get('bbox')
    if box is not None:
        if not (_numbers(box) and len(box) == 4):
            return 'its bbox %r is not [x, y, width, height]' % (box,)
        x, y, w, h = box
        if w < 0 or h < 0:
            return 'its bbox %r has a negative size' % (box,)
        if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
            return 'its bbox %r reaches (%g, %g)' % (box, x + w, y + h)
    segmentation = ann.get('segmentation')
    if isinstance(segmentation, dict):  # RLE: its size is [height, width]
        size = segmentation.get('size')
        if _numbers(size) and list(size) != [height, width]:
            return 'its RLE mask is %sx%s (width x height)' % (size[1], size[0])
    elif isinstance(segmentation, list):
        for polygon in segmentation:
            if _numbers(polygon) and polygon:
                xs, ys = polygon[0::2], polygon[1::2]
                if min(xs) < -tol or min(ys) < -tol or max(xs) > width + tol or max(ys) > height + tol:
                    return 'its polygon reaches (%g, %g)' % (max(xs), max(ys))
    return None


def _root_of(path):
    return os.path.dirname(os.path.dirname(os.path.abspath(path)))


def image_problem(path, declared=None):
    """Why ``path`` is not a usable image file (a phrase), or None. ``declared``: the (width, height) its
    annotation file gives, compared with the file's header."""
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
    except FileNotFoundError:
        return 'missing'
    except OSError as e:
        return 'unreadable (%s)' % (e.strerror or e)
    if not head:
        return 'empty'
    if head.startswith(_SIGNATURES) or (head[:4] == b'RIFF' and head[8:12] == b'WEBP'):
        return truncation(path, head) or (size_problem(path, declared) if declared else None)
    return 'not an image (starts with %s)' % head[:4].hex()


def header_size(path):
    """(width, height, EXIF orientation or None) from the image file's header; PIL reads the header only (the
    pixels are decoded on first use, which never comes here)."""
    from PIL import Image
    with Image.open(path) as image:
        orientation = None
        getexif = getattr(image, 'getexif', None)
        if getexif is not None:
            try:
                orientation = getexif().get(0x0112)
            except Exception:  # a damaged EXIF block: the size still holds
                orientation = None
        return image.size[0], image.size[1], orientation


def size_problem(path, declared):
    """'declared WxH but the file is wxh' when the file's header disagrees with its declared (width, height)
    (an image rotated by its EXIF orientation may be declared either way), else None."""
    try:
        width, height, orientation = header_size(path)
    except Exception as e:  # PIL raises its own errors for a header it cannot read
        return 'unreadable header (%s)' % (str(e)[:80] or type(e).__name__)
    want = tuple(declared)
    if want == (width, height) or (orientation in _TRANSPOSED and want == (height, width)):
        return None
    return ('declared %sx%s (width x height) but the file is %dx%d: fix the annotation file\'s width/height or '
            'the image' % (want[0], want[1], width, height))


# The end markers of the formats whose end is cheap to check: a file cut short lacks them.
_END_MARKERS = ((b'\xff\xd8\xff', b'\xff\xd9', 'JPEG end marker FFD9'), (b'\x89PNG', b'IEND', 'PNG IEND chunk'))
_TAIL = 1024


def truncation(path, head):
    """'truncated (...)' when a JPEG or PNG lacks its end marker near its end (a download or copy cut short),
    else None. Reads the last kilobyte only."""
    for signature, marker, name in _END_MARKERS:
        if head.startswith(signature):
            try:
                with open(path, 'rb') as f:
                    f.seek(max(0, os.path.getsize(path) - _TAIL))
                    tail = f.read()
            except OSError as e:
                return 'unreadable (%s)' % (e.strerror or e)
            return None if marker in tail else 'truncated (no %s at its end)' % name
    return None


def image_problems(folder, file_names, limit=5, sizes=None):
    """[(path, why)] of the first ``limit`` bad images among ``file_names`` in ``folder``; ``sizes``: {file name:
    declared (width, height)} to compare with the files' headers."""
    found = []
    for name in file_names:
        path = os.path.join(folder, name)
        problem = image_problem(path, (sizes or {}).get(name))
        if problem:
            found.append((path, problem))
            if len(found) >= limit:
                break
    return found


def declared_sizes(doc):
    """{file name: (width, height)} as the annotation file declares them."""
    return {img['file_name']: (img['width'], img['height']) for img in doc['images']
            if _numbers([img.get('width'), img.get('height')])}


def check_dataset(ann_file, img_prefix, keys=INSTANCE_KEYS, fix_hint=None):
    """AfaError naming the first bad files when the annotation file or the images it lists are unusable."""
    doc = load_annotation_file(ann_file, keys)
    bad = image_problems(img_prefix, [img['file_name'] for img in doc['images']], sizes=declared_sizes(doc))
    if bad:
        raise AfaError('%s: bad image file(s): %s; %s' % (
            img_prefix, ', '.join('%s (%s)' % p for p in bad),
            fix_hint or 'restore them (regenerate or fetch the dataset again)'))
    return doc


def check_inputs(cfg, scale):
    """Fail before any work when the dataset or the pretrained weights are missing (saying how to get them), or
    when the config's classes are not the dataset's categories (afa/data/classes.py)."""
    fetch_data = {'smoke': 'afa data synthetic --root %s', 'rehearsal': 'afa data synthetic --coco-like --root %s'}.get(
        scale, 'afa data coco --root %s')
    annotations = []
    for ann_file, img_prefix in dataset_files(cfg.data.train):
        if not os.path.isfile(ann_file):
            root = os.path.dirname(os.path.dirname(ann_file.rstrip('/'))) or '.'
            raise AfaError('training annotations %s not found; fetch the dataset with `%s` or pass --data-root'
                           % (ann_file, fetch_data % root))
        if not os.path.isdir(img_prefix):
            raise AfaError('training images folder %s not found (dataset incomplete?); run `afa data verify '
                           '--root %s`' % (img_prefix, os.path.dirname(img_prefix.rstrip('/'))))
        annotations.append((ann_file, check_dataset(ann_file, img_prefix)))
    check_backbone_file(pretrained_checkpoint(cfg.model.backbone), scale)
    for ann_file, doc in annotations:
        check_classes(cfg, doc, ann_file)


def check_backbone_file(checkpoint, scale):
    """The backbone file exists; a stand-in (afa/data/standin.py) serves the rehearsal scale only."""
    from afa.data import standin
    if not checkpoint or '://' in checkpoint:
        return
    folder = os.path.dirname(checkpoint) or '.'
    if not os.path.isfile(checkpoint):
        fetch = ('afa data standin --dir %s' if scale == 'rehearsal' else 'afa data pretrained --dir %s') % folder
        raise AfaError('pretrained backbone %s not found; fetch it with `%s` or pass --pretrained-dir'
                       % (checkpoint, fetch))
    if scale != 'rehearsal' and standin.read_record(checkpoint) is not None:
        raise AfaError('pretrained backbone %s is a stand-in with random values (`afa data standin` made it for the '
                       'rehearsal scale), not the real weights; fetch them with `afa data pretrained --dir %s`'
                       % (checkpoint, folder))


def dataset_files(dataset_cfg):
    """(annotation file, image folder) of every dataset inside a (possibly wrapped) dataset config."""
    if 'dataset' in dataset_cfg:  # RepeatDataset and friends
        return dataset_files(dataset_cfg['dataset'])
    if 'datasets' in dataset_cfg:
        return [f for d in dataset_cfg['datasets'] for f in dataset_files(d)]
    return [(dataset_cfg['ann_file'], dataset_cfg['img_prefix'])]

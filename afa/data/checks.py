"""Cheap checks of a COCO-format dataset that name the bad file: annotation files that parse and have their
keys, image files that exist and start like an image. Used by `afa data verify` and before training and
evaluation, where a bad file would otherwise surface as a traceback deep in a data-loader worker."""
import json
import os

from afa.utils.errors import AfaError

INSTANCE_KEYS = ('images', 'annotations', 'categories')
IMAGE_INFO_KEYS = ('images', 'categories')
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
    return problems[:limit]


def _root_of(path):
    return os.path.dirname(os.path.dirname(os.path.abspath(path)))


def image_problem(path):
    """Why ``path`` is not a usable image file (a phrase), or None."""
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
        return truncation(path, head)
    return 'not an image (starts with %s)' % head[:4].hex()


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


def image_problems(folder, file_names, limit=5):
    """[(path, why)] of the first ``limit`` bad images among ``file_names`` in ``folder``."""
    found = []
    for name in file_names:
        path = os.path.join(folder, name)
        problem = image_problem(path)
        if problem:
            found.append((path, problem))
            if len(found) >= limit:
                break
    return found


def check_dataset(ann_file, img_prefix, keys=INSTANCE_KEYS, fix_hint=None):
    """AfaError naming the first bad files when the annotation file or the images it lists are unusable."""
    doc = load_annotation_file(ann_file, keys)
    bad = image_problems(img_prefix, [img['file_name'] for img in doc['images']])
    if bad:
        raise AfaError('%s: bad image file(s): %s; %s' % (
            img_prefix, ', '.join('%s (%s)' % p for p in bad),
            fix_hint or 'restore them (regenerate or fetch the dataset again)'))
    return doc


def check_inputs(cfg, scale):
    """Fail before any work when the dataset or the pretrained weights are missing, saying how to get them."""
    fetch_data = ('afa data synthetic --root %s' if scale == 'smoke' else 'afa data coco --root %s')
    for ann_file, img_prefix in dataset_files(cfg.data.train):
        if not os.path.isfile(ann_file):
            root = os.path.dirname(os.path.dirname(ann_file.rstrip('/'))) or '.'
            raise AfaError('training annotations %s not found; fetch the dataset with `%s` or pass --data-root'
                           % (ann_file, fetch_data % root))
        if not os.path.isdir(img_prefix):
            raise AfaError('training images folder %s not found (dataset incomplete?); run `afa data verify '
                           '--root %s`' % (img_prefix, os.path.dirname(img_prefix.rstrip('/'))))
        check_dataset(ann_file, img_prefix)
    init_cfg = cfg.model.backbone.get('init_cfg') or {}
    checkpoint = init_cfg.get('checkpoint') if init_cfg.get('type') == 'Pretrained' else None
    if checkpoint and '://' not in checkpoint and not os.path.isfile(checkpoint):
        raise AfaError('pretrained backbone %s not found; fetch it with `afa data pretrained --dir %s` or pass '
                       '--pretrained-dir' % (checkpoint, os.path.dirname(checkpoint) or '.'))


def dataset_files(dataset_cfg):
    """(annotation file, image folder) of every dataset inside a (possibly wrapped) dataset config."""
    if 'dataset' in dataset_cfg:  # RepeatDataset and friends
        return dataset_files(dataset_cfg['dataset'])
    if 'datasets' in dataset_cfg:
        return [f for d in dataset_cfg['datasets'] for f in dataset_files(d)]
    return [(dataset_cfg['ann_file'], dataset_cfg['img_prefix'])]

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
    return doc


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
        return None
    return 'not an image (starts with %s)' % head[:4].hex()


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

"""What mmcv will run for a config on a batch layout, counted once: the one function (``count``) that `afa plan`,
the probe's GPU-hours (cost.py), the SLURM job times (estimates.py), `afa status`'s ETA and the tables'
provenance read, so that no figure multiplies an epoch that is not mmcv's.

What it counts, as mmdet 2.x and mmcv 1.x do:
- the images a training set keeps: mmdet's ``CocoDataset`` drops images without an annotation of its classes
  (``filter_empty_gt``) and images whose shorter side is under 32 pixels, then groups the rest by aspect ratio
  (width > height or not);
- dataset wrappers: ``RepeatDataset(times=N)`` makes one mmcv epoch N passes over its dataset (mmdet's 3x
  recipes: 12 mmcv epochs of the data repeated 3 times, 36 passes), ``ConcatDataset`` (or a list) adds its parts;
- micro-batches per process and epoch (mmcv's iteration counter): mmdet's group samplers pad every aspect
  group to a multiple of images per process x processes, so each group takes ceil(size / (imgs x processes));
- optimizer steps: ceil(micro-batches / accumulation) per epoch (an epoch's last group is stepped at its end:
  afa/hooks/accumulation.py); warm-up and iteration-based policies count optimizer steps, lr steps by epoch
  fall at the epoch's end;
- an ``IterBasedRunner`` config: its ``max_iters`` micro-batches, no epochs.

At the paper scale the 450 MB train2017 annotation file is not read: COCO's published count of kept images
(``COCO_TRAIN_IMAGES``) stands in for it as one group (the aspect groups' padding adds at most one micro-batch
per group and epoch: the record says ``images_counted: false``). Any other annotation file is read.

Standard library only (plain dicts or mmcv Configs in): `afa plan` answers before torch is imported.
"""
import collections
import json
import math
import os

from afa.utils.errors import AfaError

# train2017 images with at least one annotation of the 80 classes (what mmdet's CocoDataset trains on); val2017
# keeps 4,952 of 5,000 the same way.
COCO_TRAIN_IMAGES = 117266
COCO_TRAIN_FILE = 'instances_train2017.json'
MIN_SIZE = 32  # mmdet's CocoDataset._filter_imgs(min_size=32)


def _get(node, key, default=None):
    try:
        value = node.get(key, default)
    except AttributeError:
        return default
    return default if value is None else value


def kept_groups(ann_file, classes=None, filter_empty_gt=True, min_size=MIN_SIZE):
    """[images with width <= height, images with width > height] that mmdet's CocoDataset keeps for training
    from ``ann_file`` (its group flags). ``classes``: the dataset's class names (None: every category)."""
    try:
        with open(ann_file) as f:
            doc = json.load(f)
    except OSError as e:
        raise AfaError('cannot count the training images: %s (%s); fetch the dataset or pass --data-root'
                       % (ann_file, e.strerror or e)) from None
    except ValueError as e:
        raise AfaError('cannot count the training images: %s is not valid JSON (%s)' % (ann_file, e)) from None
    wanted = set(classes) if classes else None
    cat_ids = {c['id'] for c in doc.get('categories', []) if wanted is None or c.get('name') in wanted}
    with_ann = {a['image_id'] for a in doc.get('annotations', []) if a.get('category_id') in cat_ids}
    groups = [0, 0]
    for img in doc.get('images', []):
        if filter_empty_gt and img.get('id') not in with_ann:
            continue
        width, height = img.get('width') or 0, img.get('height') or 0
        if min(width, height) >= min_size:
            groups[int(width / float(height) > 1)] += 1
    return groups


def dataset_groups(dataset_cfg, scale='paper'):
    """(aspect group sizes of one mmcv epoch, repeats, counted) of a (possibly wrapped) training dataset
    config: RepeatDataset multiplies, ConcatDataset and lists add. ``counted`` False where COCO's published
    count stood in for train2017 (paper scale)."""
    if isinstance(dataset_cfg, (list, tuple)):
        return _concat([dataset_groups(d, scale) for d in dataset_cfg])
    kind = _get(dataset_cfg, 'type')
    if kind == 'RepeatDataset':
        times = int(_get(dataset_cfg, 'times', 1))
        groups, repeats, counted = dataset_groups(dataset_cfg['dataset'], scale)
        return [g * times for g in groups], repeats * times, counted
    if kind == 'ConcatDataset' or 'datasets' in dataset_cfg:
        return _concat([dataset_groups(d, scale) for d in dataset_cfg['datasets']])
    if 'dataset' in dataset_cfg:  # ClassBalancedDataset, MultiImageMixDataset: not counted exactly here
        raise AfaError('cannot count the images of a %s training set (only RepeatDataset, ConcatDataset and '
                       'plain datasets are counted); plan it on a plain dataset' % kind)
    ann_file = dataset_cfg['ann_file']
    if scale == 'paper' and os.path.basename(ann_file) == COCO_TRAIN_FILE:
        return [COCO_TRAIN_IMAGES], 1, False
    if not os.path.isfile(ann_file):
        return None, 1, False
    groups = kept_groups(ann_file, _get(dataset_cfg, 'classes'), bool(_get(dataset_cfg, 'filter_empty_gt', True)))
    return groups, 1, True


def _concat(parts):
    if any(groups is None for groups, _, _ in parts):
        return None, 1, False
    width = max(len(groups) for groups, _, _ in parts)
    total = [sum(groups[i] if i < len(groups) else 0 for groups, _, _ in parts) for i in range(width)]
    repeats = {r for _, r, _ in parts}
    return total, repeats.pop() if len(repeats) == 1 else None, all(c for _, _, c in parts)


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def count(cfg, processes, imgs_per_process, accumulation=1, scale='paper'):
    """The schedule mmcv will run for ``cfg`` (an mmcv Config or plain dict) on ``processes`` x
    ``imgs_per_process`` images with ``accumulation`` micro-batches per optimizer step: an ordered dict of
    train_images (one pass, kept by the filter), dataset_repeats, images_per_epoch, iters_per_epoch (mmcv's
    counter: micro-batches per process), optimizer_steps_per_epoch, max_epochs, passes, total_iters,
    total_optimizer_steps, warmup_optimizer_steps, warmup_iters, lr_steps_epochs, lr_steps_optimizer_steps,
    runner and images_counted. Figures that need the images are None when the annotation file is absent."""
    for name, value in (('processes', processes), ('images per process', imgs_per_process),
                        ('accumulation', accumulation)):
        if int(value) < 1:
            raise AfaError('a schedule needs %s >= 1, got %s' % (name, value))
    runner = _get(cfg, 'runner', {})
    kind = _get(runner, 'type', 'EpochBasedRunner')
    max_epochs = _get(runner, 'max_epochs', _get(cfg, 'total_epochs'))
    max_iters = _get(runner, 'max_iters')
    groups, repeats, counted = dataset_groups(cfg['data']['train'], scale)
    per_step = processes * imgs_per_process
    record = collections.OrderedDict(runner=kind, images_counted=counted)
    images = sum(groups) if groups is not None else None
    record['train_images'] = images // repeats if images is not None and repeats else images
    record['dataset_repeats'] = repeats
    record['images_per_epoch'] = images
    lr_cfg = _get(cfg, 'lr_config', {})
    warmup = int(_get(lr_cfg, 'warmup_iters', 0)) if _get(lr_cfg, 'warmup') else 0
    by_epoch = bool(_get(lr_cfg, 'by_epoch', True))
    steps = _as_list(_get(lr_cfg, 'step'))
    if kind == 'IterBasedRunner' or max_epochs is None:
        total = int(max_iters) if max_iters is not None else None
        record.update(iters_per_epoch=None, optimizer_steps_per_epoch=None, max_epochs=None, passes=None,
                      total_iters=total, total_optimizer_steps=None if total is None else total // accumulation)
        by_epoch = False
    else:
        micro = sum(int(math.ceil(g / float(per_step))) for g in groups) if groups is not None else None
        per_epoch = int(math.ceil(micro / float(accumulation))) if micro is not None else None
        record.update(iters_per_epoch=micro, optimizer_steps_per_epoch=per_epoch, max_epochs=int(max_epochs),
                      passes=int(max_epochs) * repeats if repeats else None,
                      total_iters=None if micro is None else micro * int(max_epochs),
                      total_optimizer_steps=None if per_epoch is None else per_epoch * int(max_epochs))
    record.update(warmup_optimizer_steps=warmup, warmup_iters=warmup * accumulation, lr_steps_by_epoch=by_epoch,
                  lr_steps_epochs=steps if by_epoch else [])
    if by_epoch:
        per_epoch = record['optimizer_steps_per_epoch']
        record['lr_steps_optimizer_steps'] = [s * per_epoch for s in steps] if per_epoch is not None else None
    else:
        record['lr_steps_optimizer_steps'] = steps
    return record


def iterations_left(max_epochs, iters_per_epoch, epoch, inner_iter):
    """mmcv counter iterations left after ``inner_iter`` of (1-based) ``epoch`` of ``max_epochs`` epochs of
    ``iters_per_epoch`` each (None when a figure is unknown): what `afa status`'s ETA multiplies."""
    if not max_epochs or not iters_per_epoch or epoch is None or inner_iter is None:
        return None
    return max(0, (max_epochs - epoch) * iters_per_epoch + (iters_per_epoch - inner_iter))


def describe(record):
    """'12 mmcv epochs x 3 repeats of the data = 36 passes, 263,856 optimizer steps': a schedule in one phrase
    (the plan's and the tables' provenance)."""
    if record.get('max_epochs') is None:
        total = record.get('total_iters')
        return '%s iterations (iteration-based)' % ('{:,}'.format(total) if total is not None else '?')
    repeats = record.get('dataset_repeats') or 1
    text = '%d mmcv epochs' % record['max_epochs']
    if repeats > 1:
        text += ' x %d repeats of the data = %d passes' % (repeats, record['passes'])
    steps = record.get('total_optimizer_steps')
    if steps is not None:
        text += ', {:,} optimizer steps'.format(steps)
    return text

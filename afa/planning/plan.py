"""`afa plan ROW... --gpus G [--nodes M]`: what each row would run as on these devices, before anything launches
and with no GPU needed: nodes, devices, images per device, accumulation steps, effective batch, learning rate,
iterations per epoch, warm-up and lr steps, in optimizer steps and in the units of mmcv's iteration counter
(which counts micro-batches once gradients accumulate). An impossible layout is refused as `afa train` refuses
it: both call batch.split.
"""
import collections
import json
import math
import os

from afa.planning import batch as batch_mod
from afa.utils.errors import AfaError

# train2017 images with at least one annotation: what mmdet's CocoDataset trains on (filter_empty_gt).
COCO_TRAIN_IMAGES = 117266


def device_word(gpus):
    return 'GPU' if gpus > 0 else 'process'


def devices_per_node(gpus, procs):
    """GPUs per node, or on CPU (--gpus 0) the processes that stand in for them."""
    if gpus > 0 and procs:
        raise AfaError('--procs %d is for CPU runs (--gpus 0), where processes stand in for GPUs; with GPUs, one '
                       'process per GPU: drop --procs' % procs)
    return gpus if gpus > 0 else max(1, procs or 1)


def batch_plan_for(spec, gpus, nodes=1, procs=None, max_imgs_per_gpu=None):
    """The BatchPlan of ``spec`` (a RunSpec) on ``nodes`` x ``gpus`` (or CPU processes); AfaError if none."""
    return batch_mod.split(spec.batch, devices_per_node(gpus, procs), nodes, max_imgs_per_gpu, device_word(gpus))


def train_images(cfg, scale):
    """Training images per epoch: counted from the annotation file at the smoke scale, COCO's known count at the
    paper scale (its 450 MB annotation file is not read for a plan)."""
    if scale == 'paper':
        return COCO_TRAIN_IMAGES
    from afa.data.checks import dataset_files
    total = 0
    for ann_file, _ in dataset_files(cfg.data.train):
        if not os.path.isfile(ann_file):
            return None
        with open(ann_file) as f:
            data = json.load(f)
        total += len({a['image_id'] for a in data.get('annotations', [])})
    return total


def plan_row(spec, gpus, nodes=1, procs=None, max_imgs_per_gpu=None):
    """An ordered dict: the layout and schedule of one run (what `afa plan --json` prints per row)."""
    layout = batch_plan_for(spec, gpus, nodes, procs, max_imgs_per_gpu)
    cfg = spec.build_config()
    images = train_images(cfg, spec.scale)
    micro = int(math.ceil(images / float(layout.processes * layout.imgs_per_device))) if images else None
    steps = int(math.ceil(micro / float(layout.accumulation))) if micro else None
    lr_cfg = cfg.get('lr_config') or {}
    warmup = lr_cfg.get('warmup_iters') if lr_cfg.get('warmup') else 0
    record = collections.OrderedDict([('run_id', spec.run_id), ('scale', spec.scale),
                                      ('device', 'cuda' if gpus > 0 else 'cpu')])
    record.update(layout.as_record('cuda' if gpus > 0 else 'cpu'))
    record.update([
        ('recipe_batch', spec.batch == spec.recipe_batch), ('optimizer', cfg.optimizer['type']),
        ('lr', cfg.optimizer['lr']), ('train_images', images), ('iters_per_epoch', micro),
        ('optimizer_steps_per_epoch', steps), ('warmup_optimizer_steps', warmup),
        ('warmup_iters', (warmup or 0) * layout.accumulation), ('lr_steps_epochs', _as_list(lr_cfg.get('step'))),
        ('max_epochs', cfg.runner.get('max_epochs')), ('layout', layout.describe(device_word(gpus)))])
    return record


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def format_plan(record):
    """The lines `afa plan` prints for one row."""
    lines = ['%s (%s scale): %s = %d images per optimizer step%s' % (
        record['run_id'], record['scale'], record['layout'], record['effective_batch'],
        '' if record['recipe_batch'] else ' (NOT the recipe\'s batch: its own run id)')]
    lines.append('  nodes %d, %s %d per node, images per %s %d, accumulation steps %d' % (
        record['nodes'], 'GPUs' if record['device'] == 'cuda' else 'processes (CPU)',
        record['gpus_per_node'] or record['processes'] // record['nodes'],
        'GPU' if record['device'] == 'cuda' else 'process', record['imgs_per_gpu'], record['accumulation']))
    lines.append('  %s lr %g (unchanged: the batch is the recipe\'s)' % (record['optimizer'], record['lr'])
                 if record['recipe_batch'] else '  %s lr %g (as configured; not rescaled)' % (record['optimizer'],
                                                                                              record['lr']))
    if record['iters_per_epoch']:
        lines.append('  per epoch: %d optimizer steps = %d iterations of mmcv\'s counter (%d training images)'
                     % (record['optimizer_steps_per_epoch'], record['iters_per_epoch'], record['train_images']))
    lines.append('  warm-up: %d optimizer steps = %d counter iterations; lr steps after epochs %s of %s' % (
        record['warmup_optimizer_steps'] or 0, record['warmup_iters'],
        ', '.join(map(str, record['lr_steps_epochs'])) or 'none', record['max_epochs']))
    return '\n'.join(lines)

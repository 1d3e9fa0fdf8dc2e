"""`afa plan ROW... --gpus G [--nodes M]`: what each row would run as on these devices, before anything launches
and with no GPU needed: nodes, devices, images per device, accumulation steps, effective batch, learning rate,
iterations per epoch, warm-up and lr steps, in optimizer steps and in the units of mmcv's iteration counter
(which counts micro-batches once gradients accumulate). An impossible layout is refused as `afa train` refuses
it: both call batch.split.
"""
import collections

from afa.planning import batch as batch_mod
from afa.runs import schedule
from afa.utils.errors import AfaError


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
    return plan_batch(spec.batch, gpus, nodes, procs, max_imgs_per_gpu)


def plan_batch(batch, gpus, nodes=1, procs=None, max_imgs_per_gpu=None):
    """The BatchPlan of ``batch`` images per optimizer step on ``nodes`` x ``gpus`` (or CPU processes): the one
    plan that `afa train` refuses with, `afa plan` shows and the workflow announces; AfaError if none."""
    return batch_mod.split(batch, devices_per_node(gpus, procs), nodes, max_imgs_per_gpu, device_word(gpus))


def plan_row(spec, gpus, nodes=1, procs=None, max_imgs_per_gpu=None):
    """An ordered dict: the layout and schedule of one run (what `afa plan --json` prints per row); the
    schedule is schedule.count's, the one count of what mmcv will run."""
    layout = batch_plan_for(spec, gpus, nodes, procs, max_imgs_per_gpu)
    cfg = spec.build_config()
    counted = schedule.count(cfg, layout.processes, layout.imgs_per_device, layout.accumulation, spec.scale)
    record = collections.OrderedDict([('run_id', spec.run_id), ('scale', spec.scale),
                                      ('device', 'cuda' if gpus > 0 else 'cpu')])
    record.update(layout.as_record('cuda' if gpus > 0 else 'cpu'))
    record.update([('recipe_batch', spec.batch == spec.recipe_batch), ('optimizer', cfg.optimizer['type']),
                   ('lr', cfg.optimizer['lr'])])
    record.update(counted)
    record['layout'] = layout.describe(device_word(gpus))
    return record


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
        repeats = record.get('dataset_repeats') or 1
        lines.append('  per mmcv epoch: %d optimizer steps = %d iterations of mmcv\'s counter (%d training images%s)'
                     % (record['optimizer_steps_per_epoch'], record['iters_per_epoch'], record['train_images'],
                        ' x %d repeats = %d images' % (repeats, record['images_per_epoch']) if repeats > 1 else ''))
    lines.append('  schedule: %s' % schedule.describe(record))
    steps = record.get('lr_steps_optimizer_steps')
    lines.append('  warm-up: %d optimizer steps = %d counter iterations; lr steps after epochs %s of %s%s' % (
        record['warmup_optimizer_steps'] or 0, record['warmup_iters'],
        ', '.join(map(str, record['lr_steps_epochs'])) or 'none', record['max_epochs'],
        ' (optimizer steps %s)' % ', '.join('{:,}'.format(s) for s in steps) if steps and record['lr_steps_epochs']
        else ''))
    return '\n'.join(lines)

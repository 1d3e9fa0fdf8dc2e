"""The rehearsal scale: every row's full-size recipe, unchanged, for a few optimizer steps and a few images.

Unchanged: the backbone (loaded through the config's own ``init_cfg``: the real weights where present, else
stand-ins with their keys and shapes: afa/data/standin.py), channels, heads, proposal and sample counts, image
scales and the single- or multi-scale pipeline, the 80 COCO classes, the optimizer and its learning rate, the
lr policy (warm-up and steps as configured), each device's images (the row's ``imgs_per_gpu``), validation
after every epoch with the early alarm. Changed, and only these (amounts): one epoch (``EPOCHS``) over the
COCO-shaped set's few images (afa/data/coco_like.py: ``TRAIN_IMAGES`` of which one without annotations, so two
optimizer steps of two images; three for Deformable-DETR, whose recipe trains on images without annotations too), the 3x recipe's RepeatDataset at one pass (it would triple the epoch), the
number of devices (one: ``batch``), a log line per iteration, no data-loader workers. The workflow
stops training after ``STOP_AFTER_ITER`` steps with a continuation checkpoint and resumes it (the scheduler's
warning drill, afa/training/signals.py). Rehearsal runs live in RUNS_ROOT/rehearsal, are labelled
``scale: rehearsal`` in every file and never share a table with the paper's.
"""
import copy

from afa.utils.cfg_walk import walk_dicts

DATA_ROOT = 'data/coco-like/'              # `afa data synthetic --coco-like --root data/coco-like`
PRETRAINED_DIR = 'data/pretrained-rehearsal/'  # `afa data standin`: links to real weights or stand-ins
EPOCHS = 1
TRAIN_IMAGES = 5   # 4 annotated (2 landscape, 2 portrait: mmdet's aspect groups fill 2 steps of 2) + 1 without
                   # (left out by mmdet's filter_empty_gt; Deformable-DETR's recipe keeps it: 3 steps)
VAL_IMAGES = 2     # the per-epoch validation and the evaluation
TEST_IMAGES = 2    # the test-dev files
STOP_AFTER_ITER = 1  # the workflow's stop drill: a continuation checkpoint after this step, then a resume
JOB_MINUTES = 30   # a rehearsal training job's time on a cluster (an X-101 row takes about 10 minutes on 2 CPU cores)
AMOUNTS = dict(epochs=EPOCHS, train_images=TRAIN_IMAGES, val_images=VAL_IMAGES, test_images=TEST_IMAGES,
               stop_after_iter=STOP_AFTER_ITER)
NOTE = ('rehearsal: the full-size recipe for %(epochs)d epoch of %(train_images)d training images (2 optimizer '
        'steps), %(val_images)d val and %(test_images)d test-dev images; amounts differ from the paper, numbers '
        'are not results' % AMOUNTS)


def batch(row, imgs_per_gpu_default=2):
    """Images per optimizer step at this scale: one device's share of the row's recipe (its imgs_per_gpu)."""
    return int(row['imgs_per_gpu']) if row is not None else imgs_per_gpu_default


def rehearse(cfg_dict):
    """A rehearsal copy of a row's config (a plain nested dict): the amounts changed, nothing else."""
    cfg = copy.deepcopy(cfg_dict)

    def one_pass(node):  # the 3x recipe's RepeatDataset x3 would triple the rehearsal's epoch
        if node.get('type') == 'RepeatDataset':
            node['times'] = 1
    walk_dicts(cfg['data'], one_pass)
    cfg['data']['workers_per_gpu'] = 0  # a handful of images: worker processes would cost more than they save
    cfg['runner'] = dict(cfg['runner'], max_epochs=EPOCHS)
    cfg['log_config'] = dict(cfg['log_config'], interval=1)
    cfg['checkpoint_config'] = dict(cfg.get('checkpoint_config') or {}, interval=1)
    cfg['evaluation'] = dict(cfg.get('evaluation') or {}, interval=1)
    return cfg


def changed_keys(before, after, prefix=''):
    """The dotted keys whose values differ between two config dicts (what a rehearsal changed, for a test)."""
    keys = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            keys += changed_keys(before.get(key), after.get(key), '%s%s.' % (prefix, key))
        return keys
    if isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)) and len(before) == len(after):
        for index, (a, b) in enumerate(zip(before, after)):
            keys += changed_keys(a, b, '%s%d.' % (prefix, index))
        return keys
    return [] if before == after else [prefix.rstrip('.')]

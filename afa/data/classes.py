"""The classes a config trains and the categories an annotation file has, checked against each other before any
work: mmdet maps a category id to a label through the class names (``get_cat_ids(cat_names=CLASSES)``) and
drops names the file lacks without a word, so an 80-class COCO config meeting a dataset of other categories
fails later with a KeyError deep in a data-loader worker, or trains and evaluates on misaligned labels.
"""
from afa.utils.cfg_walk import walk_dicts
from afa.utils.errors import AfaError


def config_classes(dataset_cfg):
    """The class names a dataset config trains: its ``classes``, else those of its dataset type (COCO's 80)."""
    found = []

    def visit(node):
        if 'ann_file' in node and not found:
            found.append(node)
    walk_dicts(dataset_cfg, visit)
    node = found[0] if found else dataset_cfg
    if node.get('classes'):
        return tuple(node['classes'])
    from mmdet.datasets import DATASETS
    return tuple(DATASETS.get(node.get('type', 'CocoDataset')).CLASSES)


def head_classes(model_cfg):
    """Every ``num_classes`` of the model's heads (cascade stages, mask head, DETR head)."""
    counts = []
    walk_dicts(model_cfg, lambda node: counts.append(node['num_classes']) if 'num_classes' in node else None)
    return sorted(set(counts))


def check_classes(cfg, doc, ann_file, data_key='train'):
    """AfaError naming the file, the missing names and the fix when the annotation file ``doc`` lacks a class of
    the config, or the heads predict another number of classes than the dataset has."""
    classes = config_classes(cfg.data[data_key])
    names = [c.get('name') for c in doc['categories']]
    missing = [c for c in classes if c not in names]
    if missing:
        raise AfaError('%s has no category named %s (the config trains %d classes; the file has %d categories: %s); '
                       'use a dataset of the config\'s categories (COCO, or `afa data synthetic --coco-like` for the '
                       'rehearsal) or the smoke scale for the 3-shape set (--smoke)'
                       % (ann_file, ', '.join(repr(m) for m in missing[:3]) + (' and %d more' % (len(missing) - 3)
                                                                              if len(missing) > 3 else ''),
                          len(classes), len(names), ', '.join(repr(n) for n in names[:5]) + (
                              ', ...' if len(names) > 5 else '')))
    heads = head_classes(cfg.model)
    if heads and heads != [len(classes)]:
        raise AfaError('the model\'s heads predict %s classes but the dataset config has %d (%s); set num_classes of '
                       'every head to %d' % ('/'.join(map(str, heads)), len(classes), ann_file, len(classes)))
    return classes

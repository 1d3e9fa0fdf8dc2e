"""Checks made before any training work: the dataset, the pretrained weights and the GPUs a run asks for.

Each failure is one line naming the file and the command that fixes it, so a job fails in seconds, not after its
model was built.
"""
import os

from afa.data.checks import check_dataset
from afa.utils.errors import AfaError


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


def check_gpus(gpus):
    """Refuse a multi-GPU launch that this node cannot serve, before any process starts."""
    import torch
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < gpus:
        raise AfaError('--gpus %d needs %d CUDA GPUs, %d visible (CUDA_VISIBLE_DEVICES=%s); use --gpus %d or fewer'
                       % (gpus, gpus, visible, os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), max(visible, 0)))

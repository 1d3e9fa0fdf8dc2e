"""A model's outputs on the test set: the dataset checked before any inference, then mmdet's test loop on one
process, or each process's share collected in dataset order (afa/evaluation/distributed.py)."""
import os

from afa.data.checks import IMAGE_INFO_KEYS, INSTANCE_KEYS, check_dataset
from afa.data.classes import check_classes
from afa.evaluation.testdev import TESTDEV_ANN, TESTDEV_IMAGES
from afa.integration import compat
from afa.release import names as release
from afa.utils.errors import AfaError


def iou_types(cfg):
    """bbox, and segm for a model with a mask head."""
    return ['bbox', 'segm'] if cfg.model.get('roi_head', {}).get('mask_head') else ['bbox']


def test_dataset_cfg(cfg, data_root, scale, format_only):
    """The config's test set (test-dev's image info with ``format_only``), checked: it exists, its annotations
    are well formed and its classes are the model's."""
    test = cfg.data.test.copy()
    if format_only:
        test.ann_file = data_root + TESTDEV_ANN
        test.img_prefix = data_root + TESTDEV_IMAGES
    test.test_mode = True
    if not os.path.isfile(test.ann_file):
        raise AfaError('annotations %s not found; get the dataset with `afa data %s --root %s`'
                       % (test.ann_file, {'smoke': 'synthetic', 'rehearsal': 'synthetic --coco-like'}.get(
                           scale, 'coco'), data_root))
    doc = check_dataset(test.ann_file, test.img_prefix, IMAGE_INFO_KEYS if format_only else INSTANCE_KEYS)
    check_classes(cfg, doc, test.ann_file, data_key='test')
    return test


def run_inference(cfg, checkpoint, dataset_cfg, gpus=1, distributed=False):
    """Outputs of the model on the dataset: mmdet's single-GPU test loop (with its progress bar), or with
    ``distributed`` each process's share, collected in dataset order on every process (distributed.py)."""
    import torch
    import afa
    afa.register_modules()
    compat.apply()
    from mmcv.parallel import MMDataParallel
    from mmdet.apis import single_gpu_test
    from mmdet.datasets import build_dataloader, build_dataset, replace_ImageToTensor
    from mmdet.models import build_detector

    dataset_cfg.pipeline = replace_ImageToTensor(dataset_cfg.pipeline)
    dataset = build_dataset(dataset_cfg)
    loader = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=cfg.data.get('workers_per_gpu', 2),
                              dist=distributed, shuffle=False)
    cfg.model.train_cfg = None
    model = build_detector(cfg.model, test_cfg=cfg.get('test_cfg'))
    meta = release.load_weights(model, checkpoint)  # strict; release names converted on the fly
    model.CLASSES = meta.get('CLASSES', dataset.CLASSES)
    if torch.cuda.is_available() and gpus > 0:
        device = torch.cuda.current_device() if distributed else 0
        model = MMDataParallel(model.cuda(device), device_ids=[device])
    else:
        model = MMDataParallel(model, device_ids=None)  # mmcv runs it on the CPU
    if distributed:  # inference needs no DDP: each process runs its share, then the shares are gathered
        from afa.evaluation.distributed import collect_in_order, infer
        return dataset, collect_in_order(infer(model, loader), len(dataset))
    outputs = single_gpu_test(model, loader)
    return dataset, outputs

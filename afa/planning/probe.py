"""Measure a row's speed on the hardware at hand: a few training and inference iterations of its real model at the
paper's input size, after a warm-up, on one device.

The model is the row's own (afa/runs/spec.py: the resolved config), built without its pretrained weights (speed does
not depend on them) and initialised as training initialises it (``init_weights``: some parameters are allocated
uninitialised until then, Deformable-DETR's level embeddings among them, and held leftover memory: NaN in one probe
of ten that followed another row's). Each training iteration is one optimizer step on ``imgs_per_gpu`` images of the
recipe's test scale (1333x800 for every row here; multi-scale rows train at up to that), with a few boxes (and masks
for Mask R-CNN heads) per image: forward, backward, the recipe's gradient clipping, step. The step runs at learning
rate 0: the arithmetic is the same, but randomly initialised weights on random images cannot diverge
(Deformable-DETR's Hungarian matcher fails on NaN costs after one unclipped step). Data loading is left out:
mmdet's workers load the next batch while the GPU computes. The figures feed cost.py.
"""
import logging
import time

import numpy as np


def _scale(cfg):
    """The (width, height) an image is resized to at test time: the recipe's resolution."""
    for step in cfg.data.test.pipeline:
        if step.get('type') == 'MultiScaleFlipAug':
            scale = step.get('img_scale')
            return tuple(scale[0] if isinstance(scale, list) else scale)
    return (1333, 800)


def _batch(cfg, images, device):
    """A training batch as mmdet's collate and scatter deliver it, at the recipe's resolution."""
    import torch
    w, h = _scale(cfg)
    pad_h, pad_w = int(np.ceil(h / 32.0) * 32), int(np.ceil(w / 32.0) * 32)
    generator = torch.Generator().manual_seed(0)
    img = torch.randn(images, 3, pad_h, pad_w, generator=generator).to(device)
    meta = dict(img_shape=(h, w, 3), ori_shape=(h, w, 3), pad_shape=(pad_h, pad_w, 3), scale_factor=np.ones(4,
                dtype=np.float32), flip=False, flip_direction=None, batch_input_shape=(pad_h, pad_w))
    boxes, labels, masks = [], [], []
    for _ in range(images):
        xy = torch.rand(8, 2, generator=generator) * torch.tensor([w * 0.6, h * 0.6])
        wh = 32 + torch.rand(8, 2, generator=generator) * torch.tensor([w * 0.3, h * 0.3])
        box = torch.cat([xy, xy + wh], 1)
        boxes.append(box.to(device))
        labels.append(torch.randint(0, _num_classes(cfg), (8,), generator=generator).to(device))
        masks.append(_masks(box, h, w))
    batch = dict(img=img, img_metas=[dict(meta) for _ in range(images)], gt_bboxes=boxes, gt_labels=labels)
    if 'roi_head' in cfg.model and cfg.model.roi_head.get('mask_head'):
        batch['gt_masks'] = masks
    return batch


def _num_classes(cfg):
    from afa.utils.cfg_walk import walk_dicts
    found = []
    walk_dicts(cfg.model, lambda node: found.append(node['num_classes']) if 'num_classes' in node else None)
    return min(found) if found else 80


def _masks(boxes, h, w):
    from mmdet.core import BitmapMasks
    masks = np.zeros((len(boxes), h, w), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.round().long().tolist()):
        masks[i, y1:y2, x1:x2] = 1
    return BitmapMasks(masks, h, w)


def _timed(step, device, warmup, iterations):
    import torch
    for _ in range(warmup):
        step()
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    if device == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iterations


def build_model(cfg, device):
    """The row's detector, initialised as training initialises it but without the pretrained backbone."""
    from mmdet.models import build_detector
    cfg.model.pop('pretrained', None)
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), test_cfg=cfg.get('test_cfg'))
    # init_weights logs a line per parameter through mmcv's first logger (created at INFO if none is): not the plan's
    from mmcv.utils.logging import get_logger, logger_initialized
    init_logger = get_logger((list(logger_initialized) or ['mmcv'])[0])
    level = init_logger.level
    init_logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        init_logger.setLevel(level)
    return model.to(device)


def probe(spec, iterations=5, warmup=2, device=None, imgs_per_gpu=None):
    """{row, device, imgs_per_gpu, input, train_s_per_iter, infer_s_per_img} of the run ``spec`` (a RunSpec), a
    training iteration taking ``imgs_per_gpu`` images (default: the config's)."""
    import torch
    import afa
    from afa.integration import compat
    from mmcv.runner import build_optimizer
    afa.register_modules()
    compat.apply()
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cpu':
        from afa.utils import host_memory
        host_memory.return_freed_memory()
    torch.manual_seed(0)
    cfg = spec.build_config()
    model = build_model(cfg, device)
    optimizer = build_optimizer(model, cfg.optimizer)
    for group in optimizer.param_groups:
        group['lr'] = 0.0
    clip = (cfg.get('optimizer_config') or {}).get('grad_clip')
    images = imgs_per_gpu or cfg.data.samples_per_gpu
    batch = _batch(cfg, images, device)

    def train_step():
        losses = model(return_loss=True, **batch)
        loss, _ = model._parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], **clip)
        optimizer.step()

    model.train()
    train_s = _timed(train_step, device, warmup, iterations)
    model.eval()
    one = dict(img=[batch['img'][:1]], img_metas=[[batch['img_metas'][0]]])

    def infer_step():
        with torch.no_grad():
            model(return_loss=False, rescale=True, **one)

    infer_s = _timed(infer_step, device, warmup, iterations)
    return dict(row=spec.run_id, device=device if device == 'cpu' else torch.cuda.get_device_name(0),
                imgs_per_gpu=images, input='%dx%d' % _scale(cfg), train_s_per_iter=train_s, infer_s_per_img=infer_s,
                iterations=iterations, warmup=warmup)

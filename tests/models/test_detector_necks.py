"""Each neck inside mmdet's own Cascade Mask R-CNN R-50: one training step and one inference on CPU."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')
from mmcv import Config  # noqa: E402
from mmdet.core import BitmapMasks  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

import afa.models  # noqa: E402,F401
from conftest import mmdet_zoo_config  # noqa: E402
from afa.models.necks import PAPER_NECKS  # noqa: E402

# mmdet's FPN and the paper's necks; in the fast set the neck with every part (multi-scale and adaptive pooling,
# cross attention), the others in the slow set (make test-all): about 18 s of CPU each
FAST_NECK = 'MSCAAdpMS'
assert FAST_NECK in PAPER_NECKS, PAPER_NECKS
NECKS = [pytest.param(neck, marks=() if neck == FAST_NECK else pytest.mark.slow)
         for neck in ['FPN'] + list(PAPER_NECKS)]


def synthetic_batch(height=96, width=128):
    """One padded image with two boxes and their masks, in mmdet 2.x's forward_train format."""
    torch.manual_seed(0)
    img = torch.randn(1, 3, height, width)
    boxes = torch.tensor([[10., 12., 60., 70.], [70., 20., 120., 90.]])
    masks = np.zeros((2, height, width), dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
        masks[i, y0:y1, x0:x1] = 1
    meta = dict(img_shape=(height, width, 3), ori_shape=(height, width, 3), pad_shape=(height, width, 3),
                scale_factor=np.ones(4, dtype=np.float32), flip=False, batch_input_shape=(height, width))
    return img, [meta], [boxes], [torch.tensor([0, 3])], [BitmapMasks(masks, height, width)]


@pytest.fixture(scope='module')
def base_cfg():
    cfg = Config.fromfile(mmdet_zoo_config('cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None  # no pretrained download: random init is enough for a step
    return cfg


@pytest.mark.parametrize('neck', NECKS)
def test_cascade_mask_rcnn_trains_and_infers_with_neck(base_cfg, neck):
    cfg = base_cfg.copy()
    cfg.model.neck.type = neck
    model = build_detector(cfg.model)
    model.init_weights()
    img, metas, boxes, labels, masks = synthetic_batch()

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses = model(img, metas, gt_bboxes=boxes, gt_labels=labels, gt_masks=masks, return_loss=True)
    loss, log_vars = model._parse_losses(losses)
    assert torch.isfinite(loss) and 's2.loss_mask' in log_vars
    optimizer.zero_grad()
    loss.backward()
    neck_grads = [p.grad for p in model.neck.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in neck_grads)
    optimizer.step()

    model.eval()
    with torch.no_grad():
        result = model([img], [metas], return_loss=False, rescale=True)
    bbox_result, segm_result = result[0]
    assert len(bbox_result) == 80 and len(segm_result) == 80
    assert all(b.shape[1] == 5 for b in bbox_result)

# ResNeXt-101 64x4d (open-mmlab weights, as mmdet's cascade_mask_rcnn_x101_64x4d_fpn_1x_coco) on the R-50
# row's recipe.
_base_ = './cmrcn_r50_mssa_adp_1x.py'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        init_cfg=dict(checkpoint='data/pretrained/resnext101_64x4d-ee2c6f71.pth')))

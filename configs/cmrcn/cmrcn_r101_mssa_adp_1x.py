# ResNet-101 (torchvision weights, as mmdet's cascade_mask_rcnn_r101_fpn_1x_coco) on the R-50 row's recipe.
_base_ = './cmrcn_r50_mssa_adp_1x.py'
model = dict(backbone=dict(depth=101, init_cfg=dict(checkpoint='data/pretrained/resnet101-63fe2227.pth')))

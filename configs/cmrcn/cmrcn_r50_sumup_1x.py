# Sum-Up (plain FPN), 1x single-scale: mmdet's cascade_mask_rcnn_r50_fpn_1x_coco (SGD 0.02, steps [8, 11]),
# with the ImageNet weights read from the local cache (`afa data pretrained`) instead of torchvision://.
_base_ = '../mmdet/cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py'
model = dict(backbone=dict(init_cfg=dict(checkpoint='data/pretrained/resnet50-0676ba61.pth')))

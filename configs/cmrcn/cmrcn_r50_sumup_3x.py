# Sum-Up (plain FPN), 3x multi-scale: mmdet's cascade_mask_rcnn_r50_fpn_mstrain_3x_coco (SGD 0.02, short side
# 640..800, RepeatDataset x3 over 12 epochs, steps [9, 11]), with the ImageNet weights from the local cache.
_base_ = '../mmdet/cascade_rcnn/cascade_mask_rcnn_r50_fpn_mstrain_3x_coco.py'
model = dict(backbone=dict(init_cfg=dict(checkpoint='data/pretrained/resnet50-0676ba61.pth')))

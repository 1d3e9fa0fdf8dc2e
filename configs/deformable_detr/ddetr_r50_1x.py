# Deformable-DETR R-50 (mmdet's deformable_detr_r50_16x2_50e_coco: AdamW 2e-4, multi-scale crop augmentation)
# on a 12-epoch schedule, lr x0.1 after epoch 10 (the 50e schedule steps at 80%: 40/50). The paper's 37.6 has
# no public source; mmdet's 50e reference is 44.5.
_base_ = '../mmdet/deformable_detr/deformable_detr_r50_16x2_50e_coco.py'
model = dict(backbone=dict(init_cfg=dict(checkpoint='data/pretrained/resnet50-0676ba61.pth')))
lr_config = dict(policy='step', step=[10])
runner = dict(type='EpochBasedRunner', max_epochs=12)

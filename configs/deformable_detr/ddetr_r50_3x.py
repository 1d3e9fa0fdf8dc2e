# Deformable-DETR R-50 on a 36-epoch multi-scale schedule, lr x0.1 after epoch 29 (80%, as the 50e config).
_base_ = './ddetr_r50_1x.py'
lr_config = dict(step=[29])
runner = dict(max_epochs=36)

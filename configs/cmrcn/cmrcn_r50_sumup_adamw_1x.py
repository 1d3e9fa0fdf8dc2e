# The AFA training recipe, 1x: AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05 on every parameter, no
# gradient clipping; mmdet's 1x schedule (warm-up 500 iterations from 0.001x, steps [8, 11], 12 epochs).
# With the FPN neck this is the control row the paper lacks; every AFA 1x row inherits from it.
_base_ = './cmrcn_r50_sumup_1x.py'
optimizer = dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
optimizer_config = dict(grad_clip=None)
custom_imports = dict(imports=['afa'], allow_failed_imports=False)

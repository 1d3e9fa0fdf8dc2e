# The AFA training recipe, 3x multi-scale: mmdet's mstrain-3x data and schedule with the AFA optimizer (AdamW
# lr 1e-4, weight decay 0.05). Default steps are mmdet's [9, 11]; the paper's release used [8, 10]
# (variant `release_steps` in configs/zoo.yaml). With FPN this is a control row; the AFA 3x rows inherit it.
_base_ = './cmrcn_r50_sumup_3x.py'
optimizer = dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
optimizer_config = dict(grad_clip=None)
custom_imports = dict(imports=['afa'], allow_failed_imports=False)

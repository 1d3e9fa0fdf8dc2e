# CMRCN R-50 with the MSCAAdp neck, AFA recipe 3x: only the neck differs from the AdamW control row.
_base_ = './cmrcn_r50_sumup_adamw_3x.py'
model = dict(neck=dict(type='MSCAAdp'))

# CMRCN R-50 with the MSCA neck, AFA recipe 1x: only the neck differs from the AdamW control row.
_base_ = './cmrcn_r50_sumup_adamw_1x.py'
model = dict(neck=dict(type='MSCA'))

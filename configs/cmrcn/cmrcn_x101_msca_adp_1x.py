# ResNeXt-101 64x4d with the MSCA-Adp neck: the X-101 MSSA-Adp row with only the neck changed.
_base_ = './cmrcn_x101_mssa_adp_1x.py'
model = dict(neck=dict(type='MSCAAdp'))

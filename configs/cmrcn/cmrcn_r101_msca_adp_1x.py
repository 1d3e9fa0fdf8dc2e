# ResNet-101 with the MSCA-Adp neck: the R-101 MSSA-Adp row with only the neck changed.
_base_ = './cmrcn_r101_mssa_adp_1x.py'
model = dict(neck=dict(type='MSCAAdp'))

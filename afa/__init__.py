"""AFA: a reproduction pipeline for "Attention-based Feature Aggregation" (CVPR 2022) on mmdet 2.x.

``import afa`` registers the necks and hooks in mmdet's and mmcv's registries, whether mmdet is imported before
or after it, without importing mmdet itself (see ``afa.integration.registration``): the CLI stays light, and an mmdet
config's ``custom_imports=dict(imports=['afa'])`` works at any point. ``afa.register_modules()`` registers at
once, loading mmdet.
"""
from afa.integration.registration import register_modules, register_when_loaded

__version__ = '0.2.0'
__all__ = ['register_modules']

register_when_loaded()

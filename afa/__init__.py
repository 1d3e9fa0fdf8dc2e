"""AFA: a reproduction pipeline for "Attention-based Feature Aggregation" (CVPR 2022) on mmdet 2.x.

``custom_imports=dict(imports=['afa'])`` in an mmdet config registers the necks (mmcv is loaded by then).
Plain ``import afa`` stays light so that the CLI answers at once; ``import afa.models`` always registers.
"""
import sys

__version__ = '0.1.0'


def register_modules():
    """Register the AFA necks and hooks in mmdet's and mmcv's registries (idempotent)."""
    from . import hooks, models  # noqa: F401


if 'mmcv' in sys.modules or 'mmdet' in sys.modules:
    register_modules()

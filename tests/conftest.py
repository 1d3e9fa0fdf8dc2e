"""Shared fixtures: the repo root and mmdet's own model-zoo configs (shipped inside the mmdet package)."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root():
    return REPO


def mmdet_zoo_config(relpath):
    """Path of a config of mmdet's model zoo, e.g. 'cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py'."""
    import mmdet
    path = os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs', relpath)
    if not os.path.exists(path):
        pytest.fail('mmdet model-zoo config missing: %s (is mmdet installed from its wheel?)' % path)
    return path

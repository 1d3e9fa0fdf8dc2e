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


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A small synthetic COCO-format dataset, made once per test session."""
    from afa.data.synthetic import generate
    root = str(tmp_path_factory.mktemp('data') / 'synthetic')
    generate(root, num_train=8, num_val=4, num_test=2, seed=1)
    return root

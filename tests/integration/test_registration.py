"""``import afa`` registers every neck whatever the import order, and leaves mmdet unimported until it is used.

Each case runs in a fresh interpreter: registration is about what a new process sees.
"""
import os
import subprocess
import sys

import pytest

pytest.importorskip('mmdet')

from conftest import REPO
from afa.models.necks import PAPER_NECKS
NECKS = ['AFANeck'] + list(PAPER_NECKS)
BUILD_EACH_NECK = '''
from mmdet.models.builder import NECKS
from mmcv.runner import HOOKS
for name in %r:
    neck = NECKS.build(dict(type=name, in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5))
    assert type(neck).__name__ == name, (name, type(neck))
assert HOOKS.get('NanLossGuardHook') is not None
print('ok')
''' % (NECKS,)


def run_fresh(code):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()


@pytest.mark.parametrize('imports', [
    'import afa\nimport mmdet.models',          # the plugin first: registration waits for mmdet
    'import mmdet.models\nimport afa',          # mmdet first: registration at once
    'import mmcv\nimport afa\nimport mmdet.models',  # what custom_imports does: mmcv loaded, mmdet not yet
])
def test_import_afa_registers_every_neck_in_either_order(imports):
    assert run_fresh(imports + BUILD_EACH_NECK)[-1] == 'ok'


def test_import_afa_does_not_load_mmdet_or_torch():
    lines = run_fresh('import sys, afa, afa.cli\n'
                      'print(sorted(m for m in ("torch", "mmcv", "mmdet") if m in sys.modules))')
    assert lines[-1] == '[]'

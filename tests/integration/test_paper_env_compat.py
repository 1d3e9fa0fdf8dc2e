"""The package must run in the paper environment (Python 3.7+, torch 1.9, mmcv-full 1.3.11, mmdet 2.16):
no newer-only syntax or API unless guarded. Checked statically here, where that environment cannot be built."""
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from afa.runs import zoo as zoo_mod

REPO = zoo_mod.REPO_ROOT
PACKAGE = os.path.join(REPO, 'afa')


@pytest.mark.orchestrator
def test_vermin_finds_nothing_newer_than_python_37():
    vermin = os.path.join(os.path.dirname(sys.executable), 'vermin')
    result = subprocess.run([vermin, '--target=3.7-', '--violations', '--no-tips', '--eval-annotations', PACKAGE],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _python37():
    """A Python 3.7 that runs: under pyenv's root ($PYENV_ROOT, else ~/.pyenv) or on PATH (a pyenv shim there may
    have no version selected, so each candidate is tried)."""
    root = os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
    candidates = sorted(glob.glob(os.path.join(root, 'versions', '3.7*', 'bin', 'python'))) + [
        shutil.which('python3.7')]
    for python in filter(None, candidates):
        if subprocess.run([python, '-c', 'import sys; assert sys.version_info[:2] == (3, 7)'],
                          capture_output=True).returncode == 0:
            return python
    return None


@pytest.mark.skipif(not _python37(), reason='no Python 3.7 on PATH or under pyenv (the package must stay 3.7 '
                                            'compatible: vermin checks it statically above)')
def test_package_compiles_under_python_37():
    python37 = _python37()
    result = subprocess.run([python37, '-m', 'compileall', '-q', PACKAGE], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_torch_2_only_apis_are_guarded():
    """scaled_dot_product_attention (torch 2.0) is only called behind fused_attention_available(), aten's
    convolution_backward (torch 1.11) only behind conv_products_available()."""
    for path in glob.glob(os.path.join(PACKAGE, '**', '*.py'), recursive=True):
        text = open(path).read()
        if 'scaled_dot_product_attention(' in text:
            assert path.endswith(os.path.join('layers', 'attention.py')), path
            assert 'if self.use_fused:' in text and "hasattr(F, 'scaled_dot_product_attention')" in text
        if 'convolution_backward' in text:  # torch 1.11+: only behind conv_products_available()
            assert path.endswith(os.path.join('layers', 'token_linear.py')), path


def test_no_mmdet_2_20_only_helpers():
    """Helpers added after mmdet 2.16 (compat_cfg, build_dp, find_latest_checkpoint, auto_scale_lr) stay out."""
    newer = re.compile(r'\b(compat_cfg|build_dp|build_ddp|find_latest_checkpoint|get_device)\b')
    for path in glob.glob(os.path.join(PACKAGE, '**', '*.py'), recursive=True):
        for line in open(path):
            if 'import' in line:
                assert not newer.search(line), '%s: %s' % (path, line.strip())

"""A pytest-xdist worker that dies mid-test (killed by the OOM killer, say) ends the run with that test named as
the failure, under the project's pytest settings and the Makefile's --dist loadgroup: replaced, the worker would
hang the run for good (CI saw the paper suite hang for an hour), and CI would show nothing of it."""
import os
import shutil
import subprocess
import sys

from conftest import REPO

SCRATCH = '''\
import os
import time

import pytest


@pytest.mark.xdist_group('trained')
def test_before():
    time.sleep(1)


@pytest.mark.xdist_group('trained')
def test_killed():
    os._exit(9)


@pytest.mark.xdist_group('trained')
def test_after():
    pass


@pytest.mark.xdist_group('other')
def test_other_slow():
    time.sleep(3)


@pytest.mark.xdist_group('other')
def test_other():
    pass


def test_alone():
    pass


def test_alone_too():
    pass
'''


def test_a_dead_worker_fails_the_run_naming_its_test_and_nothing_hangs(tmp_path):
    shutil.copy(os.path.join(REPO, 'pyproject.toml'), str(tmp_path / 'pyproject.toml'))  # its pytest settings
    (tmp_path / 'tests').mkdir()
    (tmp_path / 'tests' / 'test_scratch.py').write_text(SCRATCH)
    result = subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-n', '2', '--dist',
                             'loadgroup'], cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "crashed while running 'tests/test_scratch.py::test_killed" in output, output[-3000:]
    assert 'FAILED tests/test_scratch.py::test_killed' in output, output[-3000:]

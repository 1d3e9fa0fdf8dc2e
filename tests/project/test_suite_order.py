"""How tests/conftest.py shares the suite out between pytest-xdist workers, checked on a scratch suite run with the
real conftest: slow tests that share a module fixture run on one worker (the fixture is made once), and the slow
tests come first, the longest time budget first."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

SCRATCH = '''\
import pytest


@pytest.fixture(scope='module')
def trained():
    return 1


@pytest.mark.slow
def test_shares_a(trained):
    pass


@pytest.mark.slow
def test_shares_b(trained):
    pass


@pytest.mark.slow
def test_shares_c(trained):
    pass


def test_fast():
    pass


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_longest():
    pass
'''


@pytest.mark.slow  # two pytest sessions: seconds of CPU
def test_slow_tests_sharing_a_module_fixture_run_on_one_worker_and_the_longest_first(tmp_path):
    tests = tmp_path / 'tests'
    tests.mkdir()
    shutil.copy(os.path.join(REPO, 'tests', 'conftest.py'), str(tests / 'conftest.py'))
    (tmp_path / 'requirements').mkdir()  # the conftest tells the stacks apart by the paper's mmdet pin
    shutil.copy(os.path.join(REPO, 'requirements', 'paper.txt'), str(tmp_path / 'requirements' / 'paper.txt'))
    (tests / 'test_scratch.py').write_text(SCRATCH)
    (tmp_path / 'pytest.ini').write_text('[pytest]\nmarkers =\n    slow: end to end\n')
    result = subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-n', '2', '--dist',
                             'loadgroup', '-v', '-m', 'slow or not slow', 'tests'],
                            cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran = re.findall(r'\[(gw\d)\] .*?PASSED tests/test_scratch.py::(\w+)', result.stdout)
    workers = {name: worker for worker, name in ran}
    assert len(workers) == 5, result.stdout[-3000:]
    assert workers['test_shares_a'] == workers['test_shares_b'] == workers['test_shares_c'], ran
    collected = subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '--collect-only', '-q',
                                '-m', 'slow or not slow', 'tests'], cwd=str(tmp_path), capture_output=True, text=True,
                               timeout=300)
    order = re.findall(r'::(\w+)', collected.stdout)
    assert order[0] == 'test_longest' and order[-1] == 'test_fast', collected.stdout[-2000:]

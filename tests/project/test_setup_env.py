"""scripts/setup_env.sh's torch switch: AFA_TORCH selects the requirements file (and with it the index) of the
first install, and a value it does not know is one line. PyTorch's own index is not reachable from CI, so the
install itself is stopped there: a stand-in interpreter records what pip was asked and fails that call."""
import os
import stat
import subprocess

import pytest

from conftest import REPO

SETUP = os.path.join(REPO, 'scripts', 'setup_env.sh')
REQ = os.path.join(REPO, 'requirements')


def run_setup(tmp_path, torch_build):
    """setup_env.sh with a stand-in Python (as AFA_PYTHON and as the venv's): (result, the pip calls it saw)."""
    calls = tmp_path / 'calls'
    fake = tmp_path / 'venv' / 'bin' / 'python'
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "$*" >> "%s"\ncase "$*" in *" install "*) exit 3 ;; esac\nexit 0\n' % calls)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, AFA_VENV=str(tmp_path / 'venv'), AFA_PYTHON=str(fake))
    if torch_build is not None:
        env['AFA_TORCH'] = torch_build
    result = subprocess.run(['bash', SETUP], env=env, capture_output=True, text=True, timeout=60)
    seen = calls.read_text().splitlines() if calls.exists() else []
    return result, [line for line in seen if ' pip ' in ' %s ' % line]


@pytest.mark.parametrize('torch_build, requirements', [(None, 'torch-cpu.txt'), ('pypi', 'torch-cpu.txt'),
                                                        ('cpu-only', 'torch-cpu-index.txt')])
def test_the_switch_picks_the_torch_requirements(tmp_path, torch_build, requirements):
    result, pip_calls = run_setup(tmp_path, torch_build)
    assert result.returncode == 3, result.stderr  # the stand-in's failed install: nothing past it ran
    first = pip_calls[0].split()
    assert first[first.index('install'):] == ['install', '--progress-bar', 'on', '-r', os.path.join(REQ, requirements),
                                              '-r', os.path.join(REQ, 'build.txt')]
    assert 'requirements/%s' % requirements in result.stderr


def test_an_unknown_torch_build_is_one_line(tmp_path):
    result, pip_calls = run_setup(tmp_path, 'cuda')
    assert result.returncode == 2 and not pip_calls
    assert result.stderr.strip() == ('[setup] error: AFA_TORCH=cuda is not a torch build; use pypi (the default) '
                                     'or cpu-only')

"""Fault class: a path a user types breaks a command (issue 21). Folders with spaces (the data root, the runs
and results roots) reach the workflow's shell commands quoted: the synthetic-data rule runs for real there."""
import os
import subprocess
import sys

import pytest
import yaml

from afa.runs import layout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.orchestrator
def test_workflow_commands_take_folders_with_spaces(tmp_path):
    from conftest import copy_checkout
    exe = os.path.join(os.path.dirname(sys.executable), 'snakemake')
    if not os.path.exists(exe):
        pytest.skip('snakemake is not installed beside %s' % sys.executable)
    checkout = str(tmp_path / 'checkout')
    copy_checkout(checkout)
    spaced = tmp_path / 'my results'
    profile = os.path.join(checkout, 'workflow', 'profiles', 'smoke', 'config.yaml')
    with open(profile) as f:
        smoke_config = yaml.safe_load(f)['configfile']
    override = tmp_path / 'spaces.yaml'
    override.write_text(yaml.safe_dump({
        'data': {'source': 'synthetic', 'root': str(spaced / 'synthetic data'),
                 'synthetic': {'train': 2, 'val': 1, 'test': 1, 'height': 64, 'width': 64, 'seed': 0}},
        'runs_root': str(spaced / 'runs'), 'results_root': str(spaced / 'tables'),
        'rows': ['cmrcn_r50_sumup_1x']}))
    marker = os.path.join(str(spaced / 'synthetic data'), layout.SYNTHETIC_MARKER)
    result = subprocess.run([exe, '--profile', 'workflow/profiles/smoke', '--configfile', smoke_config,
                             str(override), '--cores', '1', '--', marker], cwd=checkout, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=checkout), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'syntax error' not in result.stderr
    assert os.path.isfile(marker)
    dry = subprocess.run([exe, '-n', '--profile', 'workflow/profiles/smoke', '--configfile', smoke_config,
                          str(override)], cwd=checkout, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=checkout), timeout=900)
    assert dry.returncode == 0, dry.stderr[-3000:]
    commands = [line for line in (dry.stdout + dry.stderr).splitlines() if ' -m afa.cli ' in line]
    unquoted = [line for line in commands if ' %s' % spaced in line]  # a path with a space, unquoted
    assert commands and not unquoted, '\n'.join(unquoted)

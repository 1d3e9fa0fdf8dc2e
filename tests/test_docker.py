"""The image, checked where no Docker engine exists: pins against docker/paper-env.json, hadolint, shellcheck,
and the `reproduce` entry point run on the host with its paths pointed at temporary folders."""
import json
import os
import re
import subprocess
import sys

import pytest

from afa import zoo as zoo_mod

REPO = zoo_mod.REPO_ROOT
BIN = os.path.dirname(sys.executable)
DOCKERFILE = os.path.join(REPO, 'docker', 'Dockerfile')
REPRODUCE = os.path.join(REPO, 'docker', 'reproduce')


def dockerfile_args():
    return dict(re.findall(r'^ARG (\w+)=(.*)$', open(DOCKERFILE).read(), re.M))


def test_dockerfile_pins_equal_the_paper_environment():
    pins = json.load(open(os.path.join(REPO, 'docker', 'paper-env.json')))
    args = dockerfile_args()
    assert {k: args.get(k) for k in pins['pins']} == pins['pins']
    cuda = pins['cuda']
    assert ('cuda:%s' % cuda) in args['BASE_IMAGE'] and 'cudnn%s' % pins['cudnn'] in args['BASE_IMAGE']
    tag = 'cu' + cuda.replace('.', '')
    assert args['TORCH_VERSION'] == '1.9.0+' + tag and args['TORCHVISION_VERSION'] == '0.10.0+' + tag
    assert '/%s/torch1.9.0/' % tag in args['MMCV_INDEX'] and args['MMCV_VERSION'] == '1.3.11'


def test_every_install_uses_the_pinned_args_or_exact_versions():
    text = open(DOCKERFILE).read()
    for line in re.findall(r'pip install[^\n]*(?:\\\n[^\n]*)*', text):
        for requirement in re.findall(r'"?([A-Za-z][\w.-]*(?:==|>=|<)[^\s"]*)"?', line):
            assert '==' in requirement, 'unpinned requirement in the Dockerfile: %s' % requirement
    assert 'ARG APEX_REF=' in text and 'checkout ${APEX_REF}' in text


def test_orchestrator_pins_follow_the_cpu_environment():
    args = dockerfile_args()
    cpu = open(os.path.join(REPO, 'requirements', 'cpu.txt')).read()
    assert 'snakemake==%s' % args['SNAKEMAKE_VERSION'] in cpu
    assert 'snakemake-executor-plugin-slurm==%s' % args['SNAKEMAKE_SLURM_VERSION'] in cpu


def test_hadolint_is_clean():
    result = subprocess.run([os.path.join(BIN, 'hadolint'), DOCKERFILE], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_is_clean():
    scripts = [REPRODUCE, os.path.join(REPO, '.ci', 'run')] + [
        os.path.join(REPO, 'scripts', name) for name in ('setup_env.sh', 'check_torch19.sh')]
    result = subprocess.run([os.path.join(BIN, 'shellcheck')] + scripts, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_the_context_small():
    ignored = open(os.path.join(REPO, '.dockerignore')).read().split()
    assert {'.git', '.venv', 'data', 'runs'} <= set(ignored)


@pytest.fixture
def mounts(tmp_path):
    data, results, fakebin = tmp_path / 'data', tmp_path / 'results', tmp_path / 'bin'
    for folder in (data, results, fakebin):
        folder.mkdir()
    env = dict(os.environ, AFA_REPO=REPO, AFA_DATA=str(data), AFA_RESULTS=str(results),
               AFA_SNAKEMAKE=os.path.join(BIN, 'snakemake'), NVIDIA_SMI=str(fakebin / 'nvidia-smi'),
               AFA_COMMAND='%s -m afa.cli' % sys.executable)
    return dict(data=data, results=results, fakebin=fakebin, env=env)


def reproduce(mounts, *args):
    return subprocess.run(['bash', REPRODUCE] + list(args), env=mounts['env'], capture_output=True, text=True,
                          timeout=300)


def fake_gpus(mounts, count):
    smi = mounts['fakebin'] / 'nvidia-smi'
    smi.write_text('#!/bin/sh\n' + ''.join('echo "GPU %d: NVIDIA A100-SXM4-40GB (UUID: GPU-%d)"\n' % (i, i)
                                           for i in range(count)))
    smi.chmod(0o755)


def test_help_lists_the_options(mounts):
    result = reproduce(mounts, '--help')
    assert result.returncode == 0
    for option in ('--table', '--rows', '--gpus', '--smoke', '--dry-run'):
        assert option in result.stdout


@pytest.mark.parametrize('args, message', [
    (['--table', '2x'], "--table must be 1x, 3x, control or all, not '2x'"),
    (['--gpus', 'many'], '--gpus must be a number from 1 to 8'),
    (['--rows'], '--rows needs at least one row id'),
    (['--rows', 'Bad-Row!'], "'Bad-Row!' is not a row id"),
    (['--frobnicate'], "unknown option '--frobnicate'"),
])
def test_bad_arguments_are_clear_errors(mounts, args, message):
    result = reproduce(mounts, *args)
    assert result.returncode == 2 and message in result.stderr


def test_missing_results_mount(mounts):
    mounts['env']['AFA_RESULTS'] = str(mounts['results'] / 'absent')
    result = reproduce(mounts, '--dry-run')
    assert result.returncode == 2 and 'mount a host folder for the results' in result.stderr


def test_no_gpu_visible(mounts):
    result = reproduce(mounts, '--table', '1x')
    assert result.returncode == 2 and 'run the container with --gpus all' in result.stderr


def test_too_few_gpus(mounts):
    fake_gpus(mounts, 2)
    result = reproduce(mounts, '--gpus', '8')
    assert result.returncode == 2 and '8 GPUs requested but 2 visible' in result.stderr


def test_dry_run_plans_the_table_with_the_mounts(mounts):
    result = reproduce(mounts, '--table', '3x', '--gpus', '4', '--dry-run')
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r'^train\s+4$', out, re.M)
    assert '%s/runs/paper/cmrcn_r50_mssa_adp_3x/train_done.json' % mounts['results'] in out
    assert '--gpus 4' in out and '--data-root %s/coco/' % mounts['data'] in out
    config = open(str(mounts['results'] / '.afa' / 'reproduce.yaml')).read()
    assert 'gpus_per_run: 4' in config and 'tables: [3x]' in config


def test_smoke_dry_run_needs_neither_gpu_nor_data(mounts):
    mounts['env']['AFA_DATA'] = '/nonexistent'
    result = reproduce(mounts, '--smoke', '--dry-run', '--rows', 'cmrcn_r50_msca_adp_1x')
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'^train\s+1$', result.stdout, re.M) and '--smoke' in result.stdout


def test_smoke_run_checks_for_its_one_gpu(mounts):
    result = reproduce(mounts, '--smoke')
    assert result.returncode == 2 and 'no GPU visible' in result.stderr

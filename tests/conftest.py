"""Shared fixtures (tests/ mirrors the afa/ package, one folder per stage; helpers shared by several folders, such as
the loopback servers, live here beside this file): the repo root and mmdet's own model-zoo configs (shipped
inside the mmdet package).

The suite runs under both environments (make test: the modern .venv; make test-paper: the paper's pins in
.venv-paper). Two kinds of tests cannot pass under the paper stack by design and are deselected there, each
kind with its reason below: ``modern_stack_only`` and ``orchestrator`` markers.
"""
import atexit
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')  # files the tests compare with (the paper's tables, its links)
PAPER_ONLY_DESELECTED = {
    'modern_stack_only': 'compares with a file of the modern stack (mmdet 2.28.2), which the paper stack does '
                         'not install',
    'orchestrator': 'runs a tool of the orchestrator environment (snakemake, hadolint, shellcheck, vermin, ruff) found '
                    'beside the interpreter; in the paper stack, as in the image, those live in the orchestrator '
                    'env, and `make smoke-paper` runs the workflow that way',
}


def paper_mmdet_pin():
    with open(os.path.join(REPO, 'requirements', 'paper.txt')) as f:
        return re.search(r'^mmdet==(\S+)', f.read(), re.M).group(1)


def running_paper_stack():
    """Is the installed mmdet the paper environment's pin?"""
    import mmdet
    return mmdet.__version__ == paper_mmdet_pin()


# The per-test limit of a slow (end-to-end) test without its own @pytest.mark.timeout; the fast tests' limit is
# pyproject.toml's `timeout`. Both only stop a stuck test: the smoke DAG takes about 10 minutes on 2 shared cores.
SLOW_TIMEOUT_S = 1800


def pytest_configure(config):
    for name, reason in PAPER_ONLY_DESELECTED.items():
        config.addinivalue_line('markers', '%s: deselected under the paper stack: %s' % (name, reason))
    share_the_cores_between_workers()
    answer_the_slurm_plugins_probe_at_once()


SLURM_GROUP = 'slurm-cluster'


def share_out_the_slow_tests(items):
    """For `make test-all` on several pytest-xdist workers (--dist loadgroup; the modern stack's xdist keeps this
    order: --no-loadscope-reorder, Makefile): the tests of the one SLURM cluster first, on one worker (its fixture
    starts and stops the cluster; they mostly wait on the queue, so the worker is free for others' CPU), then the
    slow tests, the longest time budget (their timeout) first, so that the fast ones fill the cores at the end
    instead of one long test running alone; the slow tests that share a module fixture (e.g. a trained run) on one
    worker, so that it is made once, ordered by their longest budget."""
    def budget(item):
        timeout = item.get_closest_marker('timeout')
        if not item.get_closest_marker('slow'):
            return 0
        return timeout.args[0] if timeout.args else timeout.kwargs.get('timeout', SLOW_TIMEOUT_S)

    def group(item):
        if 'slurm_cluster' in item.fixturenames:
            return SLURM_GROUP
        definitions = getattr(item, '_fixtureinfo', None)
        scopes = {d[-1].scope for d in definitions.name2fixturedefs.values() if d} if definitions else set()
        return item.module.__name__ if 'module' in scopes else None

    def unit(item):  # what one worker takes: its xdist group, or the test alone
        marker = item.get_closest_marker('xdist_group')
        return (marker.args[0] if marker.args else marker.kwargs.get('name')) if marker else item.nodeid

    for item in items:
        if item.get_closest_marker('slow') and not item.get_closest_marker('xdist_group') and group(item):
            item.add_marker(pytest.mark.xdist_group(group(item)))
    longest, first = {}, {}
    for index, item in enumerate(items):
        longest[unit(item)] = max(longest.get(unit(item), 0), budget(item))
        first.setdefault(unit(item), index)
    items.sort(key=lambda item: (unit(item) != SLURM_GROUP, -longest[unit(item)], first[unit(item)]))


# Put first on PATH by answer_the_slurm_plugins_probe_at_once: while the test cluster's controller
# (scripts/slurm_cluster.sh) is not running, scontrol's and sinfo's queries fail at once (as they would after
# retrying for about 10 s); --version, and every call while it runs, is the real command's.
SLURM_WRAPPER = """#!/bin/sh
pid_file="${AFA_SLURM_DIR:-/tmp/afa-slurm}/slurmctld.pid"
if [ "$1" != --version ] && ! kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null; then
    echo "%(name)s: the test SLURM cluster is not running (answered at once by tests/conftest.py)" >&2
    exit 1
fi
exec %(real)s "$@"
"""
ANSWERED_AT_ONCE = ('scontrol', 'sinfo')


def answer_the_slurm_plugins_probe_at_once():
    """Two SLURM queries are made by every snakemake command whatever its executor: the SLURM executor plugin's
    `scontrol show config` when it is imported (only to word one option's help), and the workflow's `sinfo` for the
    GPU partition's time limit (workflow/rules/slurm.smk: a training job's runtime); the trainer asks `scontrol show
    job` for a job's restarts where SLURM_JOB_ID is set. Where SLURM is installed but no controller runs (a
    developer's machine, or CI once the SLURM tests have installed it and stopped their cluster) each retries for
    about 10 s before it fails: the plugin's probe cost 3.5 of `make test`'s 6.5 minutes, sinfo and scontrol later
    about 2 of its 4.5. Every caller treats a failure as no SLURM, so the tests' processes find wrappers first on
    PATH that fail at once while the test cluster is down; while it runs they are the real commands."""
    if os.environ.get('AFA_SLURM_QUERIES_WRAPPED'):  # wrapped by the process that started us
        return
    folder = None
    for name in ANSWERED_AT_ONCE:
        real = shutil.which(name)
        if not real:  # no SLURM
            continue
        if folder is None:
            folder = tempfile.mkdtemp(prefix='afa-slurm-queries-')
            atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, name)
        with open(path, 'w') as f:
            f.write(SLURM_WRAPPER % dict(name=name, real=shlex.quote(real)))
        os.chmod(path, 0o755)
    if folder:
        os.environ['PATH'] = folder + os.pathsep + os.environ['PATH']
        os.environ['AFA_SLURM_QUERIES_WRAPPED'] = folder


def share_the_cores_between_workers():
    """Under pytest-xdist (make test: -n 2) each worker and the processes it starts get their share of the cores
    as torch and OpenMP threads, instead of every one spinning a thread per core."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            os.environ.setdefault(name, threads)
        # A job that asks for more threads (the rehearsal's two) shares its cores with the other workers: its
        # threads that wait for each other yield them instead of spinning (OpenMP's default).
        os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
        if 'torch' in sys.modules:  # imported before this hook: the variables came too late for it
            sys.modules['torch'].set_num_threads(int(os.environ['OMP_NUM_THREADS']))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the xdist_group markers given here
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker('slow') and not item.get_closest_marker('timeout'):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
    if config.pluginmanager.hasplugin('xdist'):
        share_out_the_slow_tests(items)
    if not running_paper_stack():
        return
    keep, dropped = [], []
    for item in items:
        (dropped if any(item.get_closest_marker(m) for m in PAPER_ONLY_DESELECTED) else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def copy_checkout(dest):
    """Copy the checkout's tracked and untracked-but-not-ignored files to ``dest`` (a workflow run of its own,
    with none of this checkout's runs, results or environments)."""
    files = subprocess.check_output(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                                    universal_newlines=True).split()
    for rel in files:
        if os.path.isfile(os.path.join(REPO, rel)):
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), os.path.join(dest, rel))


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

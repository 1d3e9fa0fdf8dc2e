"""Fault class: a traceback where one line would do (issue 21). Each bad input below is one line on stderr that
names the file or field and what to do, exit 2: an empty --cfg-options value, `afa curves --out` a folder or an
unknown format, a path component over 255 bytes, a read-only mount, `afa test` given a folder, and the
workflow's config (`--config seeds=[-1]`, a row id typo) read by Snakemake; the README's seeds command works."""
import os
import shutil
import subprocess
import sys

import pytest

from afa.cli import main
from afa.evaluation.checkpoint import resolve_checkpoint
from afa.runs import layout
from afa.utils.errors import AfaError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_main(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert 'Traceback' not in err, err
    return code, err.strip()


def test_an_empty_cfg_options_value_is_one_line(synthetic_root, tmp_path, capsys):
    code, err = run_main(['train', 'cmrcn_r50_sumup_1x', '--smoke', '--data-root', synthetic_root, '--runs-root',
                          str(tmp_path), '--gpus', '0', '--cfg-options', 'optimizer.lr='], capsys)
    assert code == 2 and '--cfg-options optimizer.lr= has no value' in err and len(err.splitlines()) == 1
    assert not os.path.exists(str(tmp_path / 'smoke'))


@pytest.mark.parametrize('layout_args', [[], ['--procs', '2']], ids=['one process', 'torchrun'])
def test_an_optimizer_torch_refuses_is_one_line_before_the_run_folder(synthetic_root, tmp_path, capsys, layout_args):
    """`--cfg-options optimizer.lr=-1` was a traceback deep in mmdet's training, after run.json was rewritten and
    a job segment counted (with --procs 2, buried in torchrun's output): refused before the run folder is
    claimed, in one line."""
    code, err = run_main(['train', 'cmrcn_r50_sumup_1x', '--smoke', '--data-root', synthetic_root, '--runs-root',
                          str(tmp_path), '--gpus', '0', '--cfg-options', 'optimizer.lr=-1'] + layout_args, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert 'the optimizer' in err and 'cannot be built' in err and 'Invalid learning rate: -1' in err
    assert 'optimizer.*' in err
    assert not os.path.exists(str(tmp_path / 'smoke'))


@pytest.mark.parametrize('name, message', [('', 'is a folder'), ('curves.xyz', "unknown figure format '.xyz'")])
def test_curves_out_a_folder_or_an_unknown_format_is_one_line(tmp_path, capsys, name, message):
    (tmp_path / 'runs').mkdir()
    out = str(tmp_path / name) if name else str(tmp_path)
    code, err = run_main(['curves', '--runs', str(tmp_path / 'runs'), '--out', out], capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_a_path_component_over_255_bytes_is_one_line(tmp_path, capsys):
    root = str(tmp_path / ('d' * 300))
    code, err = run_main(['data', 'synthetic', '--root', root, '--train', '1', '--val', '1', '--test', '0'],
                         capsys)
    assert code == 2 and 'longer than the file system allows' in err and len(err.splitlines()) == 1


@pytest.mark.parametrize('options', ['ro,size=1m', 'size=4m'])
def test_a_mount_point_as_root_is_filled_or_refused_in_one_line(tmp_path, capsys, options):
    """--root the mount point itself: it cannot be renamed or removed (the dataset is built inside it); read-only
    is one line."""
    folder = str(tmp_path / 'mnt')
    os.makedirs(folder)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', folder], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here (needs root)')
    try:
        for root, train in ((folder, '1'), (folder, '2'), (os.path.join(folder, 'syn'), '1')):  # '2': made again
            if root != folder and not options.startswith('ro'):  # the mount emptied: a subfolder of it next
                for entry in os.listdir(folder):
                    path = os.path.join(folder, entry)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            code, err = run_main(['data', 'synthetic', '--root', root, '--train', train, '--val', '1', '--test', '0'],
                                 capsys)
            if options.startswith('ro'):
                assert code == 2 and 'read-only' in err and len(err.splitlines()) == 1
            else:
                assert code == 0, err
                assert os.path.isfile(os.path.join(root, layout.SYNTHETIC_MARKER))
                assert not [e for e in os.listdir(root) if e.startswith('.synthetic-')]
    finally:
        subprocess.run(['umount', '-l', folder])


def test_afa_test_given_a_folder(tmp_path):
    with pytest.raises(AfaError, match='is a folder without %s' % layout.DONE_FILE):
        resolve_checkpoint(str(tmp_path))
    (tmp_path / 'final.pth').write_bytes(b'weights')
    (tmp_path / layout.DONE_FILE).write_text('{"checkpoint": "final.pth"}')
    assert resolve_checkpoint(str(tmp_path)) == str(tmp_path / 'final.pth')  # a finished run's folder


def snakemake(*config, cwd=REPO):
    exe = os.path.join(os.path.dirname(sys.executable), 'snakemake')
    if not os.path.exists(exe):
        pytest.skip('snakemake is not installed beside %s' % sys.executable)
    env = dict(os.environ, PYTHONPATH=cwd)
    return subprocess.run([exe, '-n', '--profile', 'workflow/profiles/smoke', '--config'] + list(config),
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def checkout(tmp_path):
    from conftest import copy_checkout
    dest = str(tmp_path / 'checkout')
    copy_checkout(dest)
    return dest


@pytest.mark.orchestrator
@pytest.mark.parametrize('config, message', [
    (['seeds=[-1]'], 'config seeds[0]: must be >= 0, got -1'),
    (['rows=[cmrcn_r50_sumup_1xx]'], "config rows: unknown row 'cmrcn_r50_sumup_1xx'"),
    (['smoke_epochs=many'], "config smoke_epochs: must be integer, got 'many'"),
])
def test_workflow_config_errors_are_one_line(checkout, config, message):
    result = snakemake(*config, cwd=checkout)
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr and 'File "' not in result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error' in line.lower()]
    assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]


@pytest.mark.orchestrator
def test_a_row_typo_through_docker_reproduce_is_one_line(tmp_path):
    """docker/reproduce writes --rows into its config file; the workflow names the typo in one line."""
    results = tmp_path / 'results'
    results.mkdir()
    env = dict(os.environ, AFA_REPO=REPO, AFA_DATA='/nonexistent', AFA_RESULTS=str(results), PYTHONPATH=REPO,
               AFA_SNAKEMAKE=os.path.join(os.path.dirname(sys.executable), 'snakemake'),
               AFA_COMMAND='%s -m afa.cli' % sys.executable)
    if not os.path.exists(env['AFA_SNAKEMAKE']):
        pytest.skip('snakemake is not installed beside %s' % sys.executable)
    result = subprocess.run(['bash', os.path.join(REPO, 'docker', 'reproduce'), '--smoke', '--dry-run', '--rows',
                             'cmrcn_r50_msca_adp_1xx'], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr and 'File "' not in result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error' in line.lower()]
    assert len(errors) == 1 and "unknown row 'cmrcn_r50_msca_adp_1xx'" in errors[0], result.stderr[-3000:]


@pytest.mark.orchestrator
def test_the_readmes_seeds_command_runs_as_written(checkout):
    readme = open(os.path.join(REPO, 'README.md')).read()
    assert '--config seeds=[0,1,2]' in readme
    result = snakemake('seeds=[0,1,2]', cwd=checkout)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'cmrcn_r50_sumup_1x-seed2' in result.stdout + result.stderr


@pytest.mark.orchestrator
def test_config_coercion_keeps_strings_where_strings_are_meant():
    from afa.runs.workflow_config import coerce
    schema = {'type': 'object', 'properties': {
        'seeds': {'type': 'array', 'items': {'type': 'integer'}},
        'rows': {'type': 'array', 'items': {'type': 'string'}},
        'gpus_per_run': {'type': ['integer', 'null']}, 'testdev': {'type': 'boolean'}}}
    assert coerce({'seeds': ['0', '1', '2'], 'rows': ['123'], 'gpus_per_run': '4', 'testdev': 'false'}, schema) == \
        {'seeds': [0, 1, 2], 'rows': ['123'], 'gpus_per_run': 4, 'testdev': False}

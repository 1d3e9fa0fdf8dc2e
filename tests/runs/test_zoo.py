"""The row list: every paper row present with its numbers, ids stable, errors clear; `afa zoo` output."""
import csv
import io
import os
import subprocess
import sys

import pytest

from afa.runs import zoo as zoo_mod
from afa.cli import main
from conftest import FIXTURES

# The paper's two COCO tables as printed (AP in percent, empty where the paper gives none), typed in once from
# the paper, independently of configs/zoo.yaml: the zoo's numbers are checked against it.
PAPER_CSV = os.path.join(FIXTURES, 'paper_tables.csv')


@pytest.fixture(scope='module')
def zoo():
    return zoo_mod.load()


def test_rows_cover_both_paper_tables_and_the_controls(zoo):
    tables = [r['table'] for r in zoo]
    assert tables.count('1x') == 10 and tables.count('3x') == 4 and tables.count('control') == 2
    assert all(r.control for r in zoo if r['table'] == 'control')
    assert all(os.path.isfile(r.config_path()) for r in zoo)


def test_paper_numbers_match_the_paper_csv(zoo):
    with open(PAPER_CSV) as f:
        paper = list(csv.DictReader(f))
    rows = [r for r in zoo if not r.control]
    assert len(rows) == len(paper)
    for row, ref in zip(rows, paper):
        assert (row['model'], row['module'], row['backbone'], row['schedule']) == (
            ref['model'], ref['module'], ref['backbone'], ref['schedule']), row.id
        for ours, theirs in (('box_val', 'box_ap_val'), ('box_testdev', 'box_ap_testdev'),
                             ('mask_val', 'mask_ap_val'), ('mask_testdev', 'mask_ap_testdev')):
            expected = float(ref[theirs]) if ref[theirs] else None
            assert row['paper'][ours] == expected, (row.id, ours)


def test_unknown_row_suggests_close_ids(zoo):
    with pytest.raises(zoo_mod.ZooError, match='did you mean cmrcn_r50_mssa_1x'):
        zoo.row('cmrcn_r50_msa_1x')


def test_variants_resolve_and_refuse_rows_they_do_not_apply_to(zoo):
    row, variant, options = zoo.lookup('cmrcn_r50_mssa_adp_3x+release_steps')
    assert row.id == 'cmrcn_r50_mssa_adp_3x' and variant == 'release_steps'
    assert options == {'lr_config.step': [8, 10]}
    with pytest.raises(zoo_mod.ZooError, match='does not apply'):
        zoo.lookup('cmrcn_r50_sumup_1x+sgd')
    with pytest.raises(zoo_mod.ZooError, match='unknown variant'):
        zoo.lookup('cmrcn_r50_mssa_adp_3x+nope')


@pytest.mark.parametrize('text, message', [
    ('rows: [{id: a}]\ntables: {1x: {}}\n', 'missing field'),
    ('tables: {1x: {}}\nrows:\n' + '  - {id: a, config: c, table: 9x, schedule: s, model: m, module: m, '
     'backbone: b, gpus: 1, imgs_per_gpu: 2, paper: {}}\n', 'not declared'),
    ('rows: [\n', 'not valid YAML'),
])
def test_bad_row_lists_name_the_file_and_field(tmp_path, text, message):
    path = tmp_path / 'zoo.yaml'
    path.write_text(text)
    with pytest.raises(zoo_mod.ZooError, match=message) as info:
        zoo_mod.load(str(path))
    assert str(path) in str(info.value)


def test_afa_zoo_csv_lists_every_row(capsys, zoo):
    assert main(['zoo', '--csv']) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r['id'] for r in rows] == zoo.ids()
    assert rows[1]['box_val'] == '41.2'


def test_afa_zoo_unknown_row_is_a_clear_error(capsys):
    assert main(['zoo', '--rows', 'nope']) == 2
    assert "unknown row 'nope'" in capsys.readouterr().err


def test_cli_help_does_not_import_torch():
    code = 'import sys; from afa.cli import main\ntry:\n    main(["zoo", "--ids"])\nexcept SystemExit: pass\n' \
           'assert "torch" not in sys.modules and "mmdet" not in sys.modules, sorted(sys.modules)'
    subprocess.run([sys.executable, '-c', code], check=True, capture_output=True)


def test_installed_package_finds_the_repository_through_afa_repo(tmp_path):
    """As in the Docker image: the package in site-packages, the configs in $AFA_REPO."""
    import shutil
    shutil.copytree(os.path.join(zoo_mod.REPO_ROOT, 'afa'), str(tmp_path / 'site' / 'afa'))
    code = 'from afa.runs import zoo; print(zoo.REPO_ROOT); print(len(zoo.load()))'
    env = dict(os.environ, AFA_REPO=zoo_mod.REPO_ROOT, PYTHONPATH=str(tmp_path / 'site'))
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=str(tmp_path), capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [zoo_mod.REPO_ROOT, '16']

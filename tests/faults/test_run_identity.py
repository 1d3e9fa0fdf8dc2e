"""Fault class: a run counted for what it is not (issue 30). A run counts for the row its config is, never for a
file or folder name: a user config named like a row (whose base is another row's config) is refused with the way
out, the row's own config given as a file is the row, and a metrics file whose run id parses as a row but that
records no row (a config file's run) is its own line in the tables, labelled as such."""
import os

import pytest

from afa.cli import main
from afa.reporting.gains import NOT_RUN
from afa.runs import layout, zoo as zoo_mod
from afa.runs.spec import RunSpec
from afa.utils.errors import AfaError
from fault_inputs import metrics, write_run

ROW = 'cmrcn_r50_sumup_1x'


def _config(folder, name, base='cmrcn_r50_mssa_adp_1x'):
    path = os.path.join(str(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write("_base_ = '%s'\n" % zoo_mod.load().row(base).config_path())
    return path


@pytest.mark.parametrize('name', [ROW + '.py', ROW + '-seed1.py', ROW + '+release_steps.py'])
def test_a_config_named_like_a_row_is_refused_with_the_way_out(tmp_path, monkeypatch, capsys, name):
    path = _config(tmp_path / 'cfgx', name)
    with pytest.raises(AfaError, match='is named like the row %s, but it is not that row' % ROW):
        RunSpec(path)
    monkeypatch.chdir(str(tmp_path))
    for argv in (['train', path, '--smoke', '--gpus', '0'], ['plan', path, '--gpus', '8'],
                 ['test', path, 'x.pth', '--smoke', '--gpus', '0']):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and 'Rename the file' in err[0] and '`afa train %s`' % ROW in err[0], err
    assert sorted(os.listdir(str(tmp_path))) == ['cfgx']  # no run folder was made


def test_a_row_s_own_config_file_is_the_row_and_another_name_is_its_own_run(tmp_path):
    own = RunSpec(zoo_mod.load().row(ROW).config_path())
    assert (own.row.id, own.run_id) == (ROW, ROW) and own.describe()['row'] == ROW
    mine = RunSpec(_config(tmp_path, 'my_adp.py'))
    assert mine.row is None and mine.run_id == 'my_adp' and mine.describe()['row'] is None


def test_a_run_that_records_no_row_is_never_shown_on_a_row(tmp_path):
    """A metrics file of a config file's run (row null) whose run id is a row's: shown under the other runs,
    labelled with its config; the row itself stays not run."""
    from afa.reporting.tables import build_frame
    record = metrics(ROW, 47.3, 38.0)
    record.update(row=None, config='cfgx/%s.py' % ROW)
    frame = build_frame(zoo_mod.load(), {ROW: record}, {})
    on_row = frame[frame['id'] == ROW]
    assert list(on_row['table']) == ['1x', 'other'] and list(on_row['status']) == [NOT_RUN, 'done']
    assert 'config file cfgx/%s.py' % ROW in list(on_row['model'])
    runs = tmp_path / 'runs'
    write_run(runs, record)
    out = tmp_path / 'out'
    assert main(['tables', '--scale', 'paper', '--runs', str(runs), '--out', str(out), '--no-figure']) == 0
    text = open(str(out / layout.TABLE_FILES['tables'])).read()
    assert 'Other runs (a config file' in text and '47.3' in text.split('Other runs')[1]
    assert '47.3' not in text.split('Other runs')[0]

"""Fault class: numbers taken on trust (issue 21). The user's test-dev scores CSV is checked line by line: a
truncated line, an unknown run id, two different scores for one run and an explicitly given file that is
missing are each one line naming the file (and line), exit 2; the tables are not written."""
import os

import pytest

from afa.cli import main
from afa.runs import layout
from fault_inputs import metrics, write_run

HEADER = 'run_id,box_ap,mask_ap\n'


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / 'runs'
    write_run(folder, metrics('cmrcn_r50_sumup_1x', 41.0, 36.0))
    return folder


def tables(runs, out, csv_path):
    return main(['tables', '--scale', 'paper', '--runs', str(runs), '--out', str(out), '--no-figure',
                 '--testdev-scores', str(csv_path)])


@pytest.mark.parametrize('body, message', [
    ('cmrcn_r50_sumup_1x,41.5,37.2\ncmrcn_r50_mssa_adp_1x,4\n', 'line 3: 2 field(s) where the header has 3'),
    ('cmrcn_r50_sumup_1x,41.5,37.2\ncmrcn_r50_sumpu_1x,40.0,35.0\n', "line 3: 'cmrcn_r50_sumpu_1x' is no run"),
    ('cmrcn_r50_sumup_1x,41.5,37.2\ncmrcn_r50_sumup_1x,42.0,37.2\n', 'lines 2 and 3: two different scores'),
    ('cmrcn_r50_sumup_1x,415,37.2\n', 'line 2: box_ap must be a number (AP in percent, 0 to 100)'),
])
def test_a_bad_line_is_named_and_nothing_is_written(runs, tmp_path, capsys, body, message):
    scores = tmp_path / 'testdev_scores.csv'
    scores.write_text(HEADER + body)
    assert tables(runs, tmp_path / 'out', scores) == 2
    err = capsys.readouterr().err
    assert message in err and str(scores) in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'out').exists()


def test_an_explicitly_given_missing_file_is_an_error(runs, tmp_path, capsys):
    assert tables(runs, tmp_path / 'out', tmp_path / 'nosuch.csv') == 2
    err = capsys.readouterr().err
    assert 'nosuch.csv' in err and len(err.strip().splitlines()) == 1


def test_good_lines_comments_repeats_and_empty_mask_are_read(runs, tmp_path):
    scores = tmp_path / 'testdev_scores.csv'
    scores.write_text('# server scores\n' + HEADER + 'cmrcn_r50_sumup_1x,41.5,37.2\ncmrcn_r50_sumup_1x,41.5,37.2\n'
                      'ddetr_r50_1x,38.1,\n')
    assert tables(runs, tmp_path / 'out', scores) == 0
    text = open(os.path.join(str(tmp_path / 'out'), layout.TABLE_FILES['tables'])).read()
    assert '41.5' in text and '38.1' in text and '37.2' in text

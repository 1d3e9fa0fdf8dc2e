"""Table generation on hand-made metrics files: deltas, missing rows, test-dev CSV, scale separation, bad input."""
import json
import os

import pytest

from afa import zoo as zoo_mod
from afa.cli import main
from afa.tables import write_tables

ZOO = zoo_mod.load()


def metrics(run_id, box, mask=None, scale='paper'):
    stats = lambda ap: {'AP': ap, 'AP50': ap + 20}  # noqa: E731
    return {'run_id': run_id, 'scale': scale, 'bbox': stats(box), 'segm': stats(mask) if mask else None,
            'dataset': {'ann_file': 'data/coco/annotations/instances_val2017.json', 'images': 5000},
            'provenance': {'git_commit': 'abc123', 'date': '2026-11-25T00:00:00+00:00',
                           'versions': {'torch': '1.9.0', 'mmcv': '1.3.11', 'mmdet': '2.16.0'}}}


def write_run(runs, payload):
    folder = os.path.join(str(runs), payload['run_id'])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'metrics.json'), 'w') as f:
        json.dump(payload, f)


def test_tables_show_paper_reproduced_delta_and_missing_rows(tmp_path):
    runs = tmp_path / 'runs'
    write_run(runs, metrics('cmrcn_r50_mssa_adp_1x', 42.5, 37.9))
    write_run(runs, metrics('ddetr_r50_1x', 38.1))
    csv = tmp_path / 'testdev.csv'
    csv.write_text('run_id,box_ap,mask_ap\ncmrcn_r50_mssa_adp_1x,43.1,38.4\n')
    outputs, frame = write_tables(str(runs), str(tmp_path / 'out'), 'paper', testdev_csv=str(csv), zoo=ZOO)
    text = open(outputs['tables']).read()
    assert '| CMRCN | MSSA-Adp | ResNet-50 | 43.0 / 42.5 (-0.5) | 38.2 / 37.9 (-0.3) | 43.3 / 43.1 (-0.2) | ' \
           '38.7 / 38.4 (-0.3) |' in text
    assert '| Deformable-DETR | - | ResNet-50 | 37.6 / 38.1 (+0.5) | - / - |' in text
    assert '| CMRCN | Sum-Up | ResNet-50 | 41.2 / not run yet |' in text
    assert '| CMRCN | MSSA | ResNet-50 | 43.3 / not run yet |' in text
    assert '38.0 / not submitted |' in text  # DDETR evaluated on val, no server score yet
    assert 'Provenance (2 of 10 rows evaluated)' in text and 'abc123' in text
    assert 'Provenance: no run of this table has finished yet.' in text  # the 3x table
    assert os.path.getsize(outputs['figure']) > 1000
    row = frame.set_index('id').loc['cmrcn_r50_mssa_adp_1x']
    assert row['delta_box_val'] == pytest.approx(-0.5) and row['ours_mask_testdev'] == pytest.approx(38.4)


def test_smoke_and_paper_results_never_share_a_table(tmp_path):
    write_run(tmp_path, metrics('cmrcn_r50_sumup_1x', 1.0, 1.0, scale='smoke'))
    with pytest.raises(Exception, match='smoke result but this table is paper'):
        write_tables(str(tmp_path), str(tmp_path / 'out'), 'paper', zoo=ZOO)


def test_bad_metrics_json_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / 'cmrcn_r50_sumup_1x'
    folder.mkdir()
    (folder / 'metrics.json').write_text('{"run_id": ')
    assert main(['tables', '--scale', 'paper', '--runs', str(tmp_path), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'metrics.json is not valid JSON' in err and str(folder) in err


@pytest.mark.parametrize('text, message', [
    ('run_id,box\nx,1\n', 'needs the columns'),
    ('run_id,box_ap,mask_ap\ncmrcn_r50_sumup_1x,high,1\n', 'line 2: box_ap must be a number'),
])
def test_bad_testdev_csv_is_a_clear_error(tmp_path, text, message):
    csv = tmp_path / 'scores.csv'
    csv.write_text(text)
    with pytest.raises(Exception, match=message):
        write_tables(str(tmp_path), str(tmp_path / 'out'), 'paper', testdev_csv=str(csv), zoo=ZOO)


def test_no_results_at_all_still_renders_every_row(tmp_path):
    outputs, frame = write_tables(str(tmp_path / 'none'), str(tmp_path / 'out'), 'smoke', zoo=ZOO,
                                  with_figure=False)
    assert (frame['status'] == 'not run yet').all() and len(frame) == len(ZOO)
    assert 'Smoke results' in open(outputs['tables']).read()

"""The tables' "released weights" column: the authors' checkpoint's val AP beside the numbers trained here."""
import json
import os

import pytest

from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.utils.errors import AfaError
from afa.reporting.tables import RELEASED_HEADER, write_tables

ZOO = zoo_mod.load()


def metrics(row, box, mask, scale='paper', origin='trained'):
    return {'run_id': row, 'row': row, 'scale': scale, 'checkpoint_origin': origin, 'checkpoint_sha256': 'ab' * 32,
            'bbox': {'AP': box}, 'segm': {'AP': mask} if mask is not None else None,
            'dataset': {'ann_file': 'data/coco/annotations/instances_val2017.json', 'images': 5000},
            'provenance': {'git_commit': 'abc123', 'date': '2026-11-25T00:00:00+00:00', 'versions': {}}}


def write(runs, name, payload):
    folder = os.path.join(str(runs), payload['run_id'])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), 'w') as f:
        json.dump(payload, f)


def test_released_column_sits_beside_the_trained_numbers(tmp_path):
    runs = tmp_path / 'runs'
    write(runs, layout.METRICS_FILE, metrics('cmrcn_r50_mssa_adp_1x', 42.5, 37.9))
    write(runs, layout.RELEASED_METRICS_FILE, metrics('cmrcn_r50_mssa_adp_1x', 43.04, 38.16, origin='released'))
    write(runs, layout.RELEASED_METRICS_FILE, metrics('cmrcn_r50_msca_1x', 43.3, 38.6, origin='released'))
    outputs, frame = write_tables(str(runs), str(tmp_path / 'out'), 'paper', zoo=ZOO, with_figure=False)
    text = open(outputs['tables']).read()
    assert RELEASED_HEADER in text
    rows = [line for line in text.splitlines() if line.startswith('| CMRCN')]

    def line(start):
        [found] = [r for r in rows if r.startswith(start)]
        return found
    # trained here and released, each in its own place
    assert line('| CMRCN | MSSA-Adp | ResNet-50 | default, seed 0 [A] | 43.0 / 42.5 (-0.5) |').endswith(
        ' 43.0 / 38.2 |')
    # released only: the trained cells still say the row was not run here
    assert line('| CMRCN | MSCA | ResNet-50 | default | 43.3 / not run yet |').endswith(' 43.3 / 38.6 |')
    assert line('| CMRCN | MSCA-Adp | ResNet-101 |').endswith(' not evaluated |')  # a release, not evaluated yet
    assert line('| CMRCN | Sum-Up | ResNet-50 | default | 41.2').endswith(' - |')  # no release
    assert 'Released weights evaluated: cmrcn_r50_mssa_adp_1x (sha256 abababababab), cmrcn_r50_msca_1x' in text
    rec = frame.set_index('id').loc['cmrcn_r50_msca_1x']
    assert rec['status'] == 'not run yet' and rec['released_box_val'] == 43.3 and rec['released_mask_val'] == 38.6


def test_smoke_released_metrics_never_enter_a_paper_table(tmp_path):
    runs = tmp_path / 'runs'
    write(runs, layout.RELEASED_METRICS_FILE, metrics('cmrcn_r50_mssa_adp_1x', 1.0, 1.0, scale='smoke'))
    with pytest.raises(AfaError, match='smoke result but this table is paper'):
        write_tables(str(runs), str(tmp_path / 'out'), 'paper', zoo=ZOO, with_figure=False)

"""Run ids and run folders: one grammar for training, evaluation, tables and the workflow."""
import re

import pytest

from afa.runs import layout
from afa.runs.spec import RunSpec


@pytest.mark.parametrize('text, parts', [
    ('cmrcn_r50_sumup_1x', ('cmrcn_r50_sumup_1x', None, 'fp32', 0, None)),
    ('cmrcn_r50_mssa_adp_3x+release_steps', ('cmrcn_r50_mssa_adp_3x', 'release_steps', 'fp32', 0, None)),
    ('cmrcn_r50_sumup_1x@mixed', ('cmrcn_r50_sumup_1x', None, 'mixed', 0, None)),
    ('cmrcn_r50_sumup_1x-seed2', ('cmrcn_r50_sumup_1x', None, 'fp32', 2, None)),
    ('cmrcn_r50_mssa_adp_3x+sgd@amp-seed11', ('cmrcn_r50_mssa_adp_3x', 'sgd', 'amp', 11, None)),
    ('cmrcn_r50_sumup_1x-batch8', ('cmrcn_r50_sumup_1x', None, 'fp32', 0, 8)),
    ('cmrcn_r50_sumup_1x+release_steps@amp-batch32-seed1', ('cmrcn_r50_sumup_1x', 'release_steps', 'amp', 1, 32)),
])
def test_run_ids_parse_and_spell_back(text, parts):
    run = layout.parse_run_id(text)
    assert tuple(run) == parts
    assert str(run) == text
    assert re.fullmatch(layout.RUN_ID_PATTERN, text)
    assert layout.run_id(run.target, run.precision, run.seed, run.batch) == text
    assert layout.parse_run_id(run.group).seed == 0
    assert layout.parse_run_id(run.group).batch == run.batch  # another batch is never pooled with the recipe


@pytest.mark.parametrize('text', ['', 'Row', 'row@fp16', 'row-seed', 'row+', 'row@fp32', 'row/other',
                                  'row-batch', 'row-batch0', 'row-seed1-batch8'])
def test_malformed_run_ids_are_refused(text):
    with pytest.raises(ValueError, match='not a run id'):
        layout.parse_run_id(text)
    assert not re.fullmatch(layout.RUN_ID_PATTERN, text)


def test_run_spec_names_its_folder_by_the_layout(tmp_path):
    spec = RunSpec('cmrcn_r50_mssa_adp_3x+release_steps', scale='smoke', runs_root=str(tmp_path),
                   precision='amp', seed=3)
    assert spec.run_id == 'cmrcn_r50_mssa_adp_3x+release_steps@amp-seed3'
    assert spec.folder.path == layout.run_dir(str(tmp_path), 'smoke', spec.run_id)
    assert spec.describe()['seed'] == 3
    default = RunSpec('cmrcn_r50_sumup_1x', scale='paper', runs_root=str(tmp_path))
    assert default.run_id == 'cmrcn_r50_sumup_1x'

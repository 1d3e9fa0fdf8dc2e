"""The rehearsal scale changes amounts only: every row's resolved config equals its paper-scale config but for
the epochs, the 3x recipe's repeat, the data-loader workers and the log, checkpoint and validation intervals;
its runs live apart and its batch is one device's share of the recipe."""
import pytest

from afa.runs import layout, rehearsal
from afa.runs import zoo as zoo_mod
from afa.runs.spec import RunSpec

pytest.importorskip('mmcv')
ZOO = zoo_mod.load()
# What the rehearsal may change (afa/runs/rehearsal.py's docstring), besides the run's folder.
AMOUNTS = {'runner.max_epochs', 'data.workers_per_gpu', 'log_config.interval', 'checkpoint_config.interval',
           'evaluation.interval', 'data.train.times', 'work_dir'}


@pytest.mark.parametrize('row_id', ZOO.ids())
def test_the_rehearsal_changes_amounts_only(row_id, tmp_path):
    paper = RunSpec(row_id, zoo=ZOO, data_root='data/x/', pretrained_dir='weights/', runs_root=str(tmp_path))
    rehearsing = RunSpec(row_id, zoo=ZOO, scale='rehearsal', data_root='data/x/', pretrained_dir='weights/',
                         runs_root=str(tmp_path))
    before, after = paper.build_config()._cfg_dict.to_dict(), rehearsing.build_config()._cfg_dict.to_dict()
    changed = set(rehearsal.changed_keys(before, after))
    assert changed <= AMOUNTS, changed - AMOUNTS
    assert after['runner']['max_epochs'] == rehearsal.EPOCHS and after['evaluation']['interval'] == 1
    assert after['model'] == before['model'] and after['optimizer'] == before['optimizer']
    assert after['lr_config'] == before['lr_config']
    assert rehearsing.folder.path == layout.run_dir(str(tmp_path), 'rehearsal', row_id) != paper.folder.path
    assert rehearsing.recipe_batch == ZOO.row(row_id)['imgs_per_gpu'] and rehearsing.explicit_batch is None


def test_the_rehearsal_defaults_to_its_own_data_and_weights():
    spec = RunSpec('cmrcn_x101_mssa_adp_1x', zoo=ZOO, scale='rehearsal')
    cfg = spec.build_config()
    assert cfg.data.train.ann_file.startswith(rehearsal.DATA_ROOT)
    assert cfg.model.backbone.init_cfg.checkpoint == rehearsal.PRETRAINED_DIR + 'resnext101_64x4d-ee2c6f71.pth'
    assert spec.describe()['scale'] == 'rehearsal'

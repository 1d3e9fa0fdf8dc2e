"""Every row's config loads and builds; Sum-Up rows are mmdet's model zoo; AFA rows differ only by recipe."""
import filecmp
import os

import pytest

pytest.importorskip('mmdet')
from mmcv import Config  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

import afa.models  # noqa: E402,F401
from afa.runs import zoo as zoo_mod  # noqa: E402
from afa.runs.spec import RunSpec  # noqa: E402
from conftest import mmdet_zoo_config, running_paper_stack  # noqa: E402

# Keys of the 2.28.2 base configs that mmdet 2.16 ignores (docs/paper-stack.md, "What breaks on CPU").
KEYS_UNKNOWN_TO_MMDET_216 = {'auto_scale_lr', 'mp_start_method', 'opencv_num_threads'}

ZOO = zoo_mod.load()
VENDORED = os.path.join(zoo_mod.REPO_ROOT, 'configs', 'mmdet')


def load(row_id):
    return Config.fromfile(ZOO.row(row_id).config_path())


def without_pretrained_path(cfg):
    d = cfg._cfg_dict.to_dict()
    d['model']['backbone'].pop('init_cfg')
    d.pop('custom_imports', None)
    return d


@pytest.mark.modern_stack_only
def test_vendored_mmdet_configs_equal_the_installed_ones():
    for folder, _, files in os.walk(VENDORED):
        for name in files:
            if name.endswith('.py'):
                rel = os.path.relpath(os.path.join(folder, name), VENDORED)
                assert filecmp.cmp(os.path.join(folder, name), mmdet_zoo_config(rel), shallow=False), rel


@pytest.mark.parametrize('row_id, zoo_config', [
    ('cmrcn_r50_sumup_1x', 'cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py'),
    ('cmrcn_r50_sumup_3x', 'cascade_rcnn/cascade_mask_rcnn_r50_fpn_mstrain_3x_coco.py'),
])
def test_sumup_rows_are_mmdets_model_zoo_configs(row_id, zoo_config):
    ours, theirs = load(row_id), Config.fromfile(mmdet_zoo_config(zoo_config))
    mine = without_pretrained_path(ours)
    if running_paper_stack():  # our bases are mmdet 2.28.2's: three runtime keys that mmdet 2.16 never reads
        assert set(mine) - set(without_pretrained_path(theirs)) == KEYS_UNKNOWN_TO_MMDET_216
        mine = {k: v for k, v in mine.items() if k not in KEYS_UNKNOWN_TO_MMDET_216}
    assert mine == without_pretrained_path(theirs)
    assert theirs.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert ours.model.backbone.init_cfg == dict(type='Pretrained',
                                                checkpoint='data/pretrained/resnet50-0676ba61.pth')


@pytest.mark.parametrize('row_id', [r.id for r in ZOO if r.id.startswith('cmrcn') and 'sumup' not in r.id])
def test_afa_rows_differ_from_the_adamw_control_only_by_neck_and_backbone(row_id):
    sched = row_id.rsplit('_', 1)[1]
    ours, control = load(row_id), load('cmrcn_r50_sumup_adamw_%s' % sched)
    module = ZOO.row(row_id)['module'].replace('-', '')
    assert ours.model.neck.type == module
    a, b = ours._cfg_dict.to_dict(), control._cfg_dict.to_dict()
    for cfg in (a, b):
        cfg['model'].pop('neck')
        cfg['model'].pop('backbone')
    assert a == b
    assert ours.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert ours.optimizer_config.grad_clip is None


def test_recipe_schedules():
    one, three = load('cmrcn_r50_mssa_adp_1x'), load('cmrcn_r50_mssa_adp_3x')
    assert one.lr_config.step == [8, 11] and one.runner.max_epochs == 12 and one.lr_config.warmup_iters == 500
    assert three.lr_config.step == [9, 11] and three.data.train.times == 3
    assert one.data.samples_per_gpu == 2


def test_backbones():
    r101, x101 = load('cmrcn_r101_mssa_adp_1x'), load('cmrcn_x101_msca_adp_1x')
    assert r101.model.backbone.depth == 101 and r101.model.backbone.type == 'ResNet'
    assert r101.model.backbone.init_cfg.checkpoint.endswith('resnet101-63fe2227.pth')
    assert (x101.model.backbone.type, x101.model.backbone.groups, x101.model.backbone.base_width) == \
        ('ResNeXt', 64, 4)
    assert x101.model.backbone.frozen_stages == 1 and x101.model.backbone.norm_eval is True


def test_deformable_detr_schedules():
    one, three = load('ddetr_r50_1x'), load('ddetr_r50_3x')
    assert (one.runner.max_epochs, one.lr_config.step) == (12, [10])
    assert (three.runner.max_epochs, three.lr_config.step) == (36, [29])
    assert one.optimizer.type == 'AdamW' and one.optimizer_config.grad_clip.max_norm == 0.1


@pytest.mark.parametrize('row_id', ZOO.ids())
def test_every_row_builds_at_paper_scale(row_id):
    cfg = RunSpec(row_id, zoo=ZOO).build_config()
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    assert model.with_neck
    if row_id.startswith('cmrcn'):
        assert type(model.neck).__name__ == ('FPN' if 'sumup' in row_id else cfg.model.neck.type)
        assert model.roi_head.with_mask


def test_variant_overrides_apply():
    cfg = RunSpec('cmrcn_r50_mssa_adp_3x+sgd', zoo=ZOO).build_config()
    assert cfg.optimizer == dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)
    cfg = RunSpec('cmrcn_r50_mssa_adp_3x+release_steps', zoo=ZOO).build_config()
    assert cfg.lr_config.step == [8, 10]


def test_paths_are_rebased():
    spec = RunSpec('cmrcn_r50_mssa_adp_3x', zoo=ZOO, data_root='/datasets/coco', pretrained_dir='/weights')
    cfg = spec.build_config()
    assert cfg.data.train.dataset.ann_file == '/datasets/coco/annotations/instances_train2017.json'
    assert cfg.data.val.img_prefix == '/datasets/coco/val2017/'
    assert cfg.model.backbone.init_cfg.checkpoint == '/weights/resnet50-0676ba61.pth'
    assert cfg.work_dir == os.path.join('runs', 'paper', 'cmrcn_r50_mssa_adp_3x')


def test_a_broken_config_is_a_clear_error(tmp_path, capsys):
    from afa.cli import main
    bad = tmp_path / 'broken.py'
    bad.write_text("_base_ = './does_not_exist.py'\n")
    assert main(['train', str(bad), '--smoke', '--runs-root', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'cannot load config %s' % bad in err


def test_a_bad_override_is_a_clear_error(capsys):
    from afa.cli import main
    assert main(['test', 'cmrcn_r50_sumup_1x', 'x.pth', '--cfg-options', 'optimizer_config.grad_clip={}']) == 2
    assert 'cannot apply the config overrides' in capsys.readouterr().err


def test_multi_gpu_launch_without_gpus_is_refused(capsys):
    from afa.cli import main
    assert main(['train', 'cmrcn_r50_sumup_1x', '--gpus', '8']) == 2
    assert '--gpus 8 needs 8 CUDA GPUs, 0 visible' in capsys.readouterr().err

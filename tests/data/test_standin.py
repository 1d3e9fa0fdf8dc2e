"""Backbone stand-ins: the real files' keys and shapes, loaded through the rows' own init_cfg with no missing key
(torchvision's fc.* the only unexpected ones), told apart from real files, refused at the paper scale; a file of
another backbone is refused with its keys named."""
import json
import os

import pytest

from afa.data import standin
from afa.data.pretrained import WEIGHTS
from afa.training.backbone_weights import HARMLESS_UNEXPECTED, check_report, init_with_report
from afa.data.checks import check_backbone_file
from afa.utils.errors import AfaError

pytest.importorskip('mmdet')


def _backbone(row, pretrained_dir, scale='rehearsal'):
    import afa
    from afa.runs.spec import RunSpec
    from mmdet.models import build_backbone
    afa.register_modules()
    spec = RunSpec(row, scale=scale, pretrained_dir=pretrained_dir)
    cfg = spec.build_config()
    return build_backbone(cfg.model.backbone), cfg.model.backbone.init_cfg.checkpoint, spec


def test_resnet50_standin_has_torchvisions_keys_and_loads_through_the_rows_init_cfg(tmp_path):
    import torch
    import torchvision
    served = standin.prepare(str(tmp_path / 'rehearsal'), str(tmp_path / 'real'), names=['resnet50-0676ba61.pth'])
    path = str(tmp_path / 'rehearsal' / 'resnet50-0676ba61.pth')
    assert served['resnet50-0676ba61.pth']['served'] == 'stand-in'
    state = torch.load(path, map_location='cpu')
    reference = torchvision.models.resnet50().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    backbone, checkpoint, spec = _backbone('cmrcn_r50_sumup_1x', str(tmp_path / 'rehearsal'))
    assert checkpoint == path and standin.describe_backbone(spec.build_config().model.backbone)['served'] == 'stand-in'
    report = check_report(init_with_report(backbone, checkpoint))
    assert report['missing'] == [] and report['mismatched'] == [] and report['values_equal']
    assert report['unexpected'] == sorted(HARMLESS_UNEXPECTED)
    assert any('unexpected key in source state_dict: fc.weight, fc.bias' in m for m in report['mmcv_warnings'])
    assert not any('missing keys' in m for m in report['mmcv_warnings'])
    # The paper scale never trains on a stand-in.
    with pytest.raises(AfaError, match='is a stand-in with random values'):
        check_backbone_file(path, 'paper')
    check_backbone_file(path, 'rehearsal')


def test_a_file_of_another_depth_is_refused_with_its_keys_named(tmp_path):
    directory = str(tmp_path / 'rehearsal')
    standin.prepare(directory, str(tmp_path / 'real'), names=['resnet50-0676ba61.pth'])
    # The R-101 rows' file name holding R-50 weights: mmcv alone would only log it and train a random layer3.
    os.rename(os.path.join(directory, 'resnet50-0676ba61.pth'), os.path.join(directory, 'resnet101-63fe2227.pth'))
    backbone, checkpoint, _ = _backbone('cmrcn_r101_mssa_adp_1x', directory)
    report = init_with_report(backbone, checkpoint)
    assert report['missing'] and all(k.startswith('layer3.') for k in report['missing'])
    with pytest.raises(AfaError, match=r'do not fit the config\'s backbone: \d+ missing keys \(layer3\.'):
        check_report(report)


def test_a_real_file_is_linked_and_named_real(tmp_path, monkeypatch):
    import hashlib
    import torch
    real_dir = tmp_path / 'real'
    real_dir.mkdir()
    standin.write_standin(str(real_dir / 'resnet50-0676ba61.pth'))
    content = (real_dir / 'resnet50-0676ba61.pth').read_bytes()
    name = 'resnet50-%s.pth' % hashlib.sha256(content).hexdigest()[:8]  # a file whose name its content matches
    os.remove(str(real_dir / 'resnet50-0676ba61.pth.afa-standin.json'))
    os.rename(str(real_dir / 'resnet50-0676ba61.pth'), str(real_dir / name))
    monkeypatch.setitem(WEIGHTS, name, dict(WEIGHTS['resnet50-0676ba61.pth'], checksum='sha256:' + name[9:17]))
    served = standin.prepare(str(tmp_path / 'rehearsal'), str(real_dir), names=[name])
    assert served[name]['served'] == 'real' and os.path.islink(str(tmp_path / 'rehearsal' / name))
    assert standin.read_record(str(tmp_path / 'rehearsal' / name)) is None
    assert set(torch.load(str(tmp_path / 'rehearsal' / name))) == set(torch.load(str(real_dir / name)))


@pytest.mark.slow
@pytest.mark.parametrize('row,name', [('cmrcn_r101_mssa_adp_1x', 'resnet101-63fe2227.pth'),
                                      ('cmrcn_x101_mssa_adp_1x', 'resnext101_64x4d-ee2c6f71.pth')])
def test_deeper_standins_load_with_no_missing_key(row, name, tmp_path):
    standin.prepare(str(tmp_path), str(tmp_path / 'real'), names=[name])
    backbone, checkpoint, _ = _backbone(row, str(tmp_path))
    report = check_report(init_with_report(backbone, checkpoint))
    assert report['missing'] == [] and report['mismatched'] == [] and report['loaded'] == report['keys_in_module']
    expected_unexpected = sorted(HARMLESS_UNEXPECTED) if name.startswith('resnet') else []
    assert report['unexpected'] == expected_unexpected
    with open(str(tmp_path / name) + standin.STANDIN_SUFFIX) as f:
        assert json.load(f)['keys'] == report['keys_in_file']

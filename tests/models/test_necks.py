"""The registered AFA necks on the real mmdet stack: counts, shapes, gradients, refusals, registry."""
import pytest
import torch

mmdet = pytest.importorskip('mmdet')
from mmdet.models import build_neck  # noqa: E402

import afa.models  # noqa: E402,F401  (registers the necks)
from afa.models.necks import PAPER_NECKS  # noqa: E402

RESNET_CHANNELS = [256, 512, 1024, 2048]
NECKS = list(PAPER_NECKS)
EXPECTED_PARAMS = {'FPN': 3344384, 'MSSA': 3111936, 'MSCA': 3113984}


def build(type_name, channels=RESNET_CHANNELS, out=256, **kwargs):
    return build_neck(dict(type=type_name, in_channels=channels, out_channels=out, num_outs=5, **kwargs))


def features(batch, height, width, channels=RESNET_CHANNELS):
    """Backbone maps of a padded (height, width) image: strides 4..32, ceil as in ResNet."""
    maps = []
    for i, c in enumerate(channels):
        stride = 4 * 2 ** i
        maps.append(torch.randn(batch, c, -(-height // stride), -(-width // stride)))
    return maps


@pytest.mark.parametrize('type_name', ['FPN'] + NECKS)
def test_parameter_counts_match_the_spec(type_name):
    neck = build(type_name)
    family = 'FPN' if type_name == 'FPN' else type_name[:4]
    assert sum(p.numel() for p in neck.parameters()) == EXPECTED_PARAMS[family]


@pytest.mark.parametrize('type_name', NECKS)
@pytest.mark.parametrize('batch, height, width', [
    (1, 64, 64), (3, 96, 160), (1, 100, 36), (2, 37, 131), (1, 32, 32), (1, 8, 8), (1, 416, 224),
])
def test_output_shapes_follow_fpn(type_name, batch, height, width):
    neck = build(type_name, channels=[16, 32, 64, 128], out=32, num_heads=4)
    inputs = features(batch, height, width, [16, 32, 64, 128])
    outs = neck(inputs)
    assert len(outs) == 5
    for level, (out, inp) in enumerate(zip(outs, inputs)):
        assert out.shape == (batch, 32) + inp.shape[-2:], level
    p5 = outs[3]
    assert outs[4].shape[-2:] == (-(-p5.shape[-2] // 2), -(-p5.shape[-1] // 2))
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('type_name', NECKS)
def test_gradients_reach_every_parameter(type_name):
    neck = build(type_name, channels=[16, 32, 64, 128], out=32)
    neck.init_weights()
    outs = neck(features(2, 96, 128, [16, 32, 64, 128]))
    sum(o.pow(2).mean() for o in outs).backward()
    missing = [name for name, p in neck.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize('type_name, expected', [
    ('MSSA', [12 * 21 + 25 * 42] * 4), ('MSCA', [12 * 21 + 25 * 42] * 4),
    ('MSSAAdp', [49] * 4), ('MSCAAdpMS', [245] * 4),
])
def test_key_value_tokens_per_level_at_paper_resolution(type_name, expected):
    neck = build(type_name)
    assert neck.kv_tokens([(200, 336), (100, 168), (50, 84), (25, 42)]) == expected


def test_pooling_is_the_only_difference_between_plain_and_adp():
    plain, adp = build('MSSA'), build('MSSAAdp')
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in adp.named_parameters()]
    adp.load_state_dict(plain.state_dict())


def test_mssa_is_sequential_top_down_with_refined_coarse_maps():
    """P4 must depend on the refined P5 (not the raw lateral): perturbing block 3 changes P4."""
    torch.manual_seed(0)
    neck = build('MSSAAdp', channels=[8, 16, 32, 64], out=16).eval()
    inputs = features(1, 64, 64, [8, 16, 32, 64])
    before = neck(inputs)
    with torch.no_grad():
        neck.blocks[3].attn.proj.bias.add_(1.0)
    after = neck(inputs)
    assert not torch.allclose(before[2], after[2])
    with torch.no_grad():
        neck.blocks[0].attn.proj.bias.add_(1.0)
    assert torch.allclose(after[3], neck(inputs)[3])  # P5 does not see finer levels


def test_msca_adds_the_lateral_after_the_block():
    """MSCA: P_l = L_l + CA(up(P_l+1), L_l). With the block's branches zeroed, P_l = L_l + up(P_l+1)."""
    neck = build('MSCAAdp', channels=[8, 16, 32, 64], out=16).eval()
    for block in neck.blocks:
        for linear in (block.attn.proj, block.ffn.fc2):
            torch.nn.init.zeros_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
    inputs = features(1, 64, 96, [8, 16, 32, 64])
    outs = neck(inputs)
    laterals = [conv(x) for conv, x in zip(neck.lateral_convs, inputs)]
    torch.testing.assert_close(outs[3], laterals[3])
    up = torch.nn.functional.interpolate(outs[3], size=laterals[2].shape[-2:], mode='nearest')
    torch.testing.assert_close(outs[2], laterals[2] + up)


def test_init_weights_follows_the_spec():
    neck = build('MSCA')
    neck.init_weights()
    block = neck.blocks[0]
    assert block.attn.proj.bias.abs().sum() == 0 and block.ffn.fc1.bias.abs().sum() == 0
    # trunc_normal_(std=0.02) truncates at +-2 (absolute), as PVT/timm do: in effect a plain N(0, 0.02).
    assert 0.019 < block.attn.q.weight.std().item() < 0.021
    assert abs(block.attn.q.weight.mean().item()) < 0.001
    assert torch.equal(block.norm1.weight, torch.ones(256))
    bound = (6 / (256 + 2048)) ** 0.5  # xavier-uniform of the C5 lateral
    assert neck.lateral_convs[3].weight.abs().max() <= bound
    assert neck.lateral_convs[3].bias.abs().sum() == 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(channels=[256, 512, 1024]), 'in_channels'),
    (dict(num_outs=4), 'num_outs'),
    (dict(add_extra_convs='on_input'), 'add_extra_convs'),
    (dict(out=250), 'divisible by num_heads'),
    (dict(start_level=1), 'start_level'),
    (dict(norm_cfg=dict(type='BN')), 'norm_cfg'),
    (dict(upsample_cfg=dict(scale_factor=2)), 'upsample_cfg'),
    (dict(strip_tokens=-1), 'strip_tokens'),
    (dict(strip_tokens=0.5), 'strip_tokens'),
    (dict(use_conv_products='yes'), 'use_conv_products'),  # a typo must not pick the convolutions
    (dict(no_norm_on_lateral=True), 'no_norm_on_lateral'),
    (dict(init_cfg=dict(type='Xavier', layer='Conv2d')), 'init_cfg'),
])
def test_unsupported_settings_fail_at_construction(kwargs, message):
    channels = kwargs.pop('channels', RESNET_CHANNELS)
    out = kwargs.pop('out', 256)
    num_outs = kwargs.pop('num_outs', 5)
    with pytest.raises(ValueError, match=message):
        build_neck(dict(type='MSSAAdp', in_channels=channels, out_channels=out, num_outs=num_outs, **kwargs))


def test_variant_names_fix_fusion_and_pooling():
    with pytest.raises(ValueError, match='fixes pooling'):
        build('MSSA', pooling='adp')
    neck = build('AFANeck', fusion='cross', pooling='adpms')
    assert sum(p.numel() for p in neck.parameters()) == EXPECTED_PARAMS['MSCA']


def test_custom_imports_in_a_config_registers_the_necks(tmp_path):
    from mmcv import Config
    path = tmp_path / 'neck_only.py'
    path.write_text("custom_imports = dict(imports=['afa'], allow_failed_imports=False)\n"
                    "neck = dict(type='MSCAAdp', in_channels=[256, 512, 1024, 2048], out_channels=256, "
                    "num_outs=5)\n")
    cfg = Config.fromfile(str(path))
    assert type(build_neck(cfg.neck)).__name__ == 'MSCAAdp'

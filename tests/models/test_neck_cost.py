"""The analytical cost formula (afa.models.neck_cost) against a count made on the real necks: forward hooks on every
Conv2d and Linear of the fusion stage, and on the attention (its two matmuls, from the real query and pooled
key/value token counts). The 1x1 laterals, common to every neck, are left out of both."""
import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmdet')
from mmdet.models import build_neck  # noqa: E402

import afa  # noqa: E402
from afa.layers.attention import PooledAttention  # noqa: E402
from afa.models.necks import PAPER_NECKS  # noqa: E402
from afa.models.neck_cost import fusion_macs, level_sizes  # noqa: E402

afa.register_modules()
NECKS = ('FPN',) + tuple(PAPER_NECKS)  # the paper's six, from their owner


def test_level_sizes_of_the_paper_resolution():
    assert level_sizes(800, 1344) == [(200, 336), (100, 168), (50, 84), (25, 42)]


def counted_macs(neck, height, width, channels):
    """Multiply-accumulates of one image through the neck's fusion stage, counted by forward hooks."""
    in_channels = [channels // 2, channels, channels * 2, channels * 4]
    # strip_tokens=0: the whole-map path, which calls the modules that the hooks count (the strips run the
    # same products through the modules' weights, a strip at a time)
    extra = {} if neck == 'FPN' else dict(strip_tokens=0)
    model = build_neck(dict(type=neck, in_channels=in_channels, out_channels=channels, num_outs=5,
                            **extra)).eval()
    total = [0]

    def conv(module, inputs, output):
        kh, kw = module.kernel_size
        total[0] += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    def linear(module, inputs, output):
        total[0] += output[0].numel() * module.in_features

    def attention(module, inputs, output):
        query, pooled = inputs  # (B, L, C), (B, N, C): Q K^T and A V are L x N x C each
        total[0] += 2 * query.shape[1] * pooled.shape[1] * query.shape[2]

    laterals = {id(m) for m in model.lateral_convs.modules()}
    for module in model.modules():
        if id(module) in laterals:
            continue
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(conv)
        elif isinstance(module, nn.Linear):
            module.register_forward_hook(linear)
        elif isinstance(module, PooledAttention):
            module.register_forward_hook(attention)
    inputs = [torch.zeros(1, c, h, w) for c, (h, w) in zip(in_channels, level_sizes(height, width))]
    with torch.no_grad():
        model(inputs)
    return total[0]


@pytest.mark.parametrize('neck', NECKS)
def test_fusion_macs_equal_a_count_on_the_real_neck(neck):
    # 512x640 keeps every 'ms' pool above one token per axis; 64 channels keep the test fast.
    assert fusion_macs(neck, 512, 640, channels=64) == counted_macs(neck, 512, 640, 64)


def test_adaptive_pooling_is_cheaper_than_fpn_at_the_paper_resolution():
    # The paper's claim about the Adp necks, from the formula that the count above checks.
    assert fusion_macs('MSSAAdp', 800, 1344) < fusion_macs('FPN', 800, 1344) < fusion_macs('MSSA', 800, 1344)

"""The layout-optimised AFA block and necks compute what a straightforward NCHW implementation computes.

The reference below is written from docs/necks.md with plain tensor operations on (B, C, H, W) maps and
(B, HW, C) token sequences, reading the parameters of the module under test; the weights are random, LayerNorm
included, so that every parameter shows in the output.
"""
import pytest
import torch
import torch.nn.functional as F

from afa.layers import AttentionBlock, fused_attention_available
from afa.layers.token_linear import conv_products_available
from afa.models.necks.paper_necks import PAPER_NECKS

PATHS = [False] + ([True] if fused_attention_available() else [])
# the linear layers as matrix products, and as 1x1 convolutions where this torch has them
PRODUCTS = [False] + ([True] if conv_products_available() else [])
# (use_fused, conv_products): every pair runs in make test-all; the fast set keeps as few pairs as hold each choice
# of each (with both available: the two paths, the two products, and no mixed pair), half the grid's CPU
_COVERING = {(PATHS[min(k, len(PATHS) - 1)], PRODUCTS[min(k, len(PRODUCTS) - 1)])
             for k in range(max(len(PATHS), len(PRODUCTS)))}
PATHS_AND_PRODUCTS = [pytest.param(fused, products, marks=() if (fused, products) in _COVERING else pytest.mark.slow)
                      for fused in PATHS for products in PRODUCTS]


def randomise(module, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    return module


def layer_norm(x, norm):
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


def reference_pool(x, pool):
    """(B, C, H, W) -> (B, N, C): average pools with kernel = stride, then adaptive grids, concatenated."""
    height, width = x.shape[-2:]
    maps = [F.avg_pool2d(x, (min(k, height), min(k, width))) for k in pool.kernels]
    maps += [F.adaptive_avg_pool2d(x, g) for g in pool.grids]
    return torch.cat([m.flatten(2) for m in maps], dim=2).transpose(1, 2)


def reference_attention(query, pooled, attn):
    batch, length, dim = query.shape
    heads = attn.num_heads
    q = F.linear(query, attn.q.weight).reshape(batch, length, heads, -1).transpose(1, 2)
    kv = F.linear(layer_norm(pooled, attn.kv_norm), attn.kv.weight)
    k, v = kv.reshape(batch, -1, 2, heads, dim // heads).permute(2, 0, 3, 1, 4)
    weights = torch.softmax((q * attn.scale) @ k.transpose(-2, -1), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(batch, length, dim)
    return F.linear(out, attn.proj.weight, attn.proj.bias)


def reference_ffn(tokens, hw, ffn):
    batch = tokens.shape[0]
    x = F.linear(tokens, ffn.fc1.weight, ffn.fc1.bias)
    x = x.transpose(1, 2).reshape(batch, -1, hw[0], hw[1])
    x = F.conv2d(x, ffn.dwconv.weight, ffn.dwconv.bias, padding=1, groups=x.shape[1])
    x = F.gelu(x.flatten(2).transpose(1, 2))
    return F.linear(x, ffn.fc2.weight, ffn.fc2.bias)


def reference_block(block, x, source=None):
    batch, dim, height, width = x.shape
    tokens = x.flatten(2).transpose(1, 2)
    query = layer_norm(tokens, block.norm1)
    if block.cross:
        kv = layer_norm(source.flatten(2).transpose(1, 2), block.norm_kv)
        kv_map = kv.transpose(1, 2).reshape(batch, dim, *source.shape[-2:])
    else:
        kv_map = query.transpose(1, 2).reshape(batch, dim, height, width)
    tokens = tokens + reference_attention(query, reference_pool(kv_map, block.pool), block.attn)
    tokens = tokens + reference_ffn(layer_norm(tokens, block.norm2), (height, width), block.ffn)
    return tokens.transpose(1, 2).reshape(batch, dim, height, width)


def reference_neck(neck, inputs):
    laterals = [F.conv2d(x, conv.weight, conv.bias) for conv, x in zip(neck.lateral_convs, inputs)]
    outs = [None] * 4
    coarser = None
    for level in range(3, -1, -1):
        block, lateral = neck.blocks[level], laterals[level]
        if coarser is not None:
            coarser = F.interpolate(coarser, size=lateral.shape[-2:], mode='nearest')
        if neck.fusion == 'self':
            out = reference_block(block, lateral if coarser is None else lateral + coarser)
        elif coarser is None:
            out = reference_block(block, lateral, lateral)
        else:
            out = lateral + reference_block(block, coarser, lateral)
        outs[level] = coarser = out
    return outs + [F.max_pool2d(outs[3], 1, stride=2)]


def relative_error(actual, expected):
    return ((actual - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize('use_fused, conv_products', PATHS_AND_PRODUCTS)
@pytest.mark.parametrize('pooling, ds', [('ms', 4), ('adp', None), ('adpms', None)])
@pytest.mark.parametrize('cross', [False, True])
# strips at inference: 0 the whole map; 1 token, one row per strip; 65 tokens, 2 rows of 30 (a thin last strip
# avoided: 23 rows in 12 strips of 2 and 1); 200 tokens, 6 rows
@pytest.mark.parametrize('strip_tokens', [0, 1, 65, 200])
def test_block_matches_the_reference(use_fused, pooling, ds, cross, strip_tokens, conv_products):
    torch.manual_seed(1)
    block = randomise(AttentionBlock(64, 4, 2, pooling, ds=ds, cross=cross, use_fused=use_fused,
                                     strip_tokens=strip_tokens, use_conv_products=conv_products))
    x = torch.randn(2, 64, 23, 30)
    source = torch.randn(2, 64, 17, 12) if cross else None
    with torch.no_grad():
        expected = reference_block(block, x, source)
        actual = block(x, source)
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) < 1e-5


def build_test_neck(type_name, **kwargs):
    pytest.importorskip('mmdet')
    from mmdet.models import build_neck
    import afa.models  # noqa: F401

    channels = [32, 64, 128, 256]
    neck = build_neck(dict(type=type_name, in_channels=channels, out_channels=64, num_outs=5, **kwargs))
    randomise(neck, seed=2)
    torch.manual_seed(3)
    inputs = [torch.randn(2, c, -(-100 // s), -(-136 // s)) for c, s in zip(channels, (4, 8, 16, 32))]
    return neck, inputs


NECK_TYPES = list(PAPER_NECKS)  # the paper's six, from their owner


@pytest.mark.parametrize('use_fused, conv_products', PATHS_AND_PRODUCTS)
@pytest.mark.parametrize('type_name', NECK_TYPES)
# 'grad': the whole-map path that autograd runs; 0: the same without gradients (the neck before strips);
# 100: strips of 3 rows at P2 (34 columns), 1 to 2 strips at the coarser levels; None: the default strips
@pytest.mark.parametrize('strip_tokens', ['grad', 0, 100, None])
def test_neck_matches_the_reference_and_returns_nchw_maps(use_fused, type_name, strip_tokens, conv_products):
    kwargs = {} if strip_tokens in ('grad', None) else dict(strip_tokens=strip_tokens)
    neck, inputs = build_test_neck(type_name, use_fused_attn=use_fused, use_conv_products=conv_products, **kwargs)
    with torch.no_grad():
        expected = reference_neck(neck, inputs)
    with torch.set_grad_enabled(strip_tokens == 'grad'):
        actual = neck(inputs)
    for level, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape and a.is_contiguous(), level  # mmcv's RoIAlign reads raw NCHW memory
        assert relative_error(a, e) < 1e-5, level


def training_step(type_name, dtype, **kwargs):
    """The outputs, then the gradients of the parameters and the inputs, of a randomly weighted sum of the
    outputs of a training forward."""
    neck, inputs = build_test_neck(type_name, **kwargs)
    neck.to(dtype).train()
    inputs = [x.to(dtype).requires_grad_() for x in inputs]
    weights = torch.Generator().manual_seed(8)  # a random weighting: no gradient cancels to zero
    outs = neck(inputs)
    sum((o * torch.randn(o.shape, generator=weights, dtype=o.dtype)).sum() for o in outs).backward()
    return [o.detach() for o in outs], [p.grad for p in neck.parameters()] + [x.grad for x in inputs]


KEEP_ALL = dict(recompute_cheap=False)  # the block as autograd runs it: the reference


@pytest.mark.parametrize('type_name', ['MSSAAdp', 'MSCA'])
# with_cp recomputes strips of 100 tokens (3 rows at P2): several strips per level, halos between
@pytest.mark.parametrize('recomputing', [dict(with_cp=True, strip_tokens=100), dict(recompute_cheap=True)])
def test_recomputed_activations_give_the_same_gradients(type_name, recomputing):
    """In float64, so that what differs is only the order of the sums (over strips rather than the map),
    never the mathematics; in float32 that order moves a parameter gradient by up to 1e-4 relative."""
    _, plain = training_step(type_name, torch.float64, **KEEP_ALL)
    _, recomputed = training_step(type_name, torch.float64, **recomputing)
    for a, e in zip(recomputed, plain):
        assert relative_error(a, e) < 1e-10


@pytest.mark.parametrize('use_fused, conv_products', PATHS_AND_PRODUCTS)
@pytest.mark.parametrize('type_name', NECK_TYPES)
def test_recomputed_cheap_layers_change_nothing_in_float32(use_fused, type_name, conv_products):
    """``recompute_cheap`` (the default) makes no sum in another order: outputs and gradients as autograd's,
    its products and their gradients as matrix products or as 1x1 convolutions."""
    options = dict(use_fused_attn=use_fused, use_conv_products=conv_products)
    expected_outs, expected_grads = training_step(type_name, torch.float32, **options, **KEEP_ALL)
    outs, grads = training_step(type_name, torch.float32, **options)
    for a, e in zip(outs + grads, expected_outs + expected_grads):
        assert relative_error(a, e) < 1e-5


@pytest.mark.parametrize('type_name', ['MSSA', 'MSCAAdp'])
def test_inference_never_makes_the_hidden_map_of_a_whole_level(type_name, monkeypatch):
    """In strips, the FFN's depthwise conv sees at most a strip and its two halo rows; the strips' output is
    what the test above compares with the reference."""
    neck, inputs = build_test_neck(type_name, strip_tokens=100)
    height, width = inputs[0].shape[-2:]  # P2: 25 x 34, strips of 100 // 34 = 2 rows
    seen = []  # rows of each depthwise conv input at P2
    conv2d = F.conv2d

    def recording_conv2d(x, weight, *args, **kwargs):
        if x.shape[1] == 2 * 64 and x.shape[-1] == width:
            seen.append(x.shape[-2])
        return conv2d(x, weight, *args, **kwargs)

    monkeypatch.setattr(F, 'conv2d', recording_conv2d)
    with torch.no_grad():
        neck(inputs)
    assert len(seen) == 2 * -(-height // 2)  # 2 images, 13 strips each
    assert max(seen) == 2 + 2


@pytest.mark.parametrize('pooling, ds', [('ms', 4), ('adp', None)])
def test_explicit_attention_in_query_chunks_matches_the_reference(pooling, ds, monkeypatch):
    """torch 1.9's attention path makes its (heads x L x N) map a chunk of queries at a time at inference."""
    import afa.layers.attention as attention
    monkeypatch.setattr(attention, 'EXPLICIT_ATTENTION_MAP', 4 * 49 * 7)  # 'adp': chunks of 7 queries
    torch.manual_seed(6)
    block = randomise(AttentionBlock(64, 4, 2, pooling, ds=ds, use_fused=False, strip_tokens=200), seed=7)
    x = torch.randn(2, 64, 23, 30)
    with torch.no_grad():
        assert relative_error(block(x), reference_block(block, x)) < 1e-5

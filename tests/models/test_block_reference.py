"""The layout-optimised AFA block and necks compute what a straightforward NCHW implementation computes.

The reference below is written from docs/necks.md with plain tensor operations on (B, C, H, W) maps and
(B, HW, C) token sequences, reading the parameters of the module under test; the weights are random, LayerNorm
included, so that every parameter shows in the output.
"""
import pytest
import torch
import torch.nn.functional as F

from afa.layers import AttentionBlock, fused_attention_available

PATHS = [False] + ([True] if fused_attention_available() else [])


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


@pytest.mark.parametrize('use_fused', PATHS)
@pytest.mark.parametrize('pooling, ds', [('ms', 4), ('adp', None), ('adpms', None)])
@pytest.mark.parametrize('cross', [False, True])
def test_block_matches_the_reference(use_fused, pooling, ds, cross):
    torch.manual_seed(1)
    block = randomise(AttentionBlock(64, 4, 2, pooling, ds=ds, cross=cross, use_fused=use_fused))
    x = torch.randn(2, 64, 23, 30)
    source = torch.randn(2, 64, 17, 12) if cross else None
    with torch.no_grad():
        expected = reference_block(block, x, source)
        actual = block(x, source)
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) < 1e-5


@pytest.mark.parametrize('use_fused', PATHS)
@pytest.mark.parametrize('type_name', ['MSSA', 'MSSAAdp', 'MSSAAdpMS', 'MSCA', 'MSCAAdp', 'MSCAAdpMS'])
def test_neck_matches_the_reference_and_returns_nchw_maps(use_fused, type_name):
    pytest.importorskip('mmdet')
    from mmdet.models import build_neck
    import afa.models  # noqa: F401

    channels = [32, 64, 128, 256]
    neck = build_neck(dict(type=type_name, in_channels=channels, out_channels=64, num_outs=5,
                           use_fused_attn=use_fused))
    randomise(neck, seed=2)
    torch.manual_seed(3)
    inputs = [torch.randn(2, c, -(-100 // s), -(-136 // s)) for c, s in zip(channels, (4, 8, 16, 32))]
    with torch.no_grad():
        expected = reference_neck(neck, inputs)
        actual = neck(inputs)
    for level, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape and a.is_contiguous(), level  # mmcv's RoIAlign reads raw NCHW memory
        assert relative_error(a, e) < 1e-5, level


def test_block_gradients_match_the_reference():
    torch.manual_seed(4)
    block = randomise(AttentionBlock(32, 4, 2, 'adp', cross=True, use_fused=False), seed=5)
    x = torch.randn(1, 32, 14, 9, requires_grad=True)
    source = torch.randn(1, 32, 7, 5, requires_grad=True)
    expected = torch.autograd.grad(reference_block(block, x, source).pow(2).sum(), [x, source])
    actual = torch.autograd.grad(block(x, source).pow(2).sum(), [x, source])
    for a, e in zip(actual, expected):
        assert relative_error(a, e) < 1e-5

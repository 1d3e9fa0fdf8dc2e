"""The AFA building blocks on plain torch: parameter counts, token counts, attention paths, shapes."""
import pytest
import torch

from afa.layers import AttentionBlock, ConvFFN, KVPool, PooledAttention, fused_attention_available


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('pooling', ['ms', 'adp', 'adpms'])
def test_block_parameter_counts_match_the_spec(pooling):
    assert n_params(AttentionBlock(256, 4, 2, pooling, ds=16, cross=False)) == 531968
    assert n_params(AttentionBlock(256, 4, 2, pooling, ds=16, cross=True)) == 532480


def test_block_parts_have_the_spec_bias_layout():
    block = AttentionBlock(256, cross=True)
    assert block.attn.q.bias is None and block.attn.kv.bias is None
    assert block.attn.proj.bias is not None
    assert block.attn.scale == pytest.approx(1 / 8)
    assert block.ffn.fc1.out_features == 512 and block.ffn.dwconv.groups == 512


@pytest.mark.parametrize('ds, size, expected', [
    (16, (200, 336), 12 * 21 + 25 * 42),   # P2 of an 800x1344 image
    (8, (100, 168), 12 * 21 + 25 * 42),    # P3: the same stride-64 and stride-32 grids
    (4, (50, 84), 12 * 21 + 25 * 42),
    (2, (25, 42), 12 * 21 + 25 * 42),      # P5: the second pool has kernel 1
    (16, (37, 53), 2 * 3 + 4 * 6),         # odd sizes floor
])
def test_ms_pool_token_counts(ds, size, expected):
    pool = KVPool('ms', ds)
    tokens = pool(torch.randn(1, 8, *size))
    assert tokens.shape == (1, expected, 8)
    assert pool.num_tokens(*size) == expected


@pytest.mark.parametrize('mode, expected', [('adp', 49), ('adpms', 49 + 196)])
@pytest.mark.parametrize('size', [(3, 5), (7, 7), (64, 40)])
def test_adaptive_pool_token_counts_do_not_depend_on_size(mode, expected, size):
    pool = KVPool(mode)
    assert pool(torch.randn(2, 8, *size)).shape == (2, expected, 8)
    assert pool.num_tokens(*size) == expected


def test_ms_pool_on_a_map_smaller_than_the_kernel_averages_the_whole_axis():
    x = torch.randn(1, 4, 3, 20)
    tokens = KVPool('ms', 16)(x)
    # kernel 16 -> (3, 16): 1 x 1 tokens; kernel 8 -> (3, 8): 1 x 2 tokens
    assert tokens.shape == (1, 3, 4)
    assert torch.allclose(tokens[0, 0], x[0, :, :, :16].mean(dim=(1, 2)), atol=1e-6)


def test_ms_pool_is_plain_average_pooling():
    x = torch.arange(64.).reshape(1, 1, 8, 8)
    tokens = KVPool('ms', 4)(x)
    assert tokens.shape == (1, 4 + 16, 1)
    assert tokens[0, 0, 0].item() == pytest.approx(x[0, 0, :4, :4].mean().item())
    assert tokens[0, 4, 0].item() == pytest.approx(x[0, 0, :2, :2].mean().item())


@pytest.mark.parametrize('bad', [dict(mode='max'), dict(mode='ms', ds=None), dict(mode='ms', ds=3)])
def test_pool_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match='KVPool'):
        KVPool(**bad)


@pytest.mark.skipif(not fused_attention_available(), reason='torch < 2.0 has no fused attention')
@pytest.mark.parametrize('length, tokens', [(1, 1), (37, 49), (300, 245)])
def test_fused_and_explicit_attention_agree(length, tokens):
    torch.manual_seed(0)
    fused = PooledAttention(64, 4, use_fused=True)
    explicit = PooledAttention(64, 4, use_fused=False)
    explicit.load_state_dict(fused.state_dict())
    query, pooled = torch.randn(3, length, 64), torch.randn(3, tokens, 64)
    a, b = fused(query, pooled), explicit(query, pooled)
    assert (a - b).abs().max().item() < 1e-5


def test_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match='not divisible'):
        PooledAttention(250, 4)


def test_conv_ffn_keeps_token_shape():
    ffn = ConvFFN(32, 2)
    assert ffn(torch.randn(2, 6 * 5, 32), (6, 5)).shape == (2, 30, 32)


def test_cross_block_takes_a_source_of_another_size():
    block = AttentionBlock(32, 4, 2, 'ms', ds=4, cross=True)
    out = block(torch.randn(2, 32, 12, 10), torch.randn(2, 32, 9, 17))
    assert out.shape == (2, 32, 12, 10)
    with pytest.raises(ValueError, match='source'):
        block(torch.randn(1, 32, 4, 4))


def test_block_is_a_residual_map_at_zero_projection():
    """With the attention and FFN outputs zeroed the block is the identity: the residuals are where the spec
    puts them."""
    block = AttentionBlock(16, 4, 2, 'adp')
    for linear in (block.attn.proj, block.ffn.fc2):
        torch.nn.init.zeros_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
    x = torch.randn(1, 16, 9, 11)
    assert torch.allclose(block(x), x, atol=1e-6)

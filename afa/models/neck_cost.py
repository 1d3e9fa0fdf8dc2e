"""Analytical cost of the necks' fusion stage, so that benchmarks and tests share one formula.

Counts multiply-accumulates of what replaces FPN's 3x3 output convolutions (the 1x1 laterals are common to
every neck and left out): linear layers, the two attention matmuls and the FFN's depthwise conv. For an
800x1344 image this gives the spec's figures: FPN 52.6 G, plain MSSA/MSCA 95.7 G, Adp 37.8 G, AdpMS 46.8 G.
"""
from afa.layers.kv_pool import MS_POOL_FACTORS, KVPool

STRIDES = (4, 8, 16, 32)


def level_sizes(height, width):
    """(H, W) of P2..P5 for a padded image (ResNet strides, sizes rounded up)."""
    return [(-(-height // s), -(-width // s)) for s in STRIDES]


def pooling_of(neck):
    """The key/value pooling of a registered neck name."""
    return 'adpms' if neck.endswith('AdpMS') else 'adp' if neck.endswith('Adp') else 'ms'


def fusion_macs(neck, height, width, channels=256, ffn_ratio=2):
    """Multiply-accumulates of the fusion stage of ``neck`` ('FPN', 'MSSA', 'MSCAAdp', ...) for one image."""
    c = channels
    total = 0
    for (h, w), ds in zip(level_sizes(height, width), MS_POOL_FACTORS):
        n_q = h * w
        if neck == 'FPN':
            total += n_q * 9 * c * c
            continue
        n_kv = KVPool(pooling_of(neck), ds).num_tokens(h, w)
        hidden = int(c * ffn_ratio)
        total += 2 * n_q * c * c            # q and output projections
        total += n_kv * c * 2 * c           # k and v from the pooled tokens
        total += 2 * n_q * n_kv * c         # Q K^T and A V
        total += 2 * n_q * c * hidden       # FFN linears
        total += n_q * hidden * 9           # FFN depthwise 3x3
    return total

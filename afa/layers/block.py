"""The pre-norm transformer block of AFA, in its self-attention (MSSA) and cross-attention (MSCA) forms.

Self:   t = t + Attn(LN1(t), pool(LN1(t)));            t = t + FFN(LN2(t))
Cross:  s = s + Attn(LN_q(s), pool(LN_kv(d)));         s = s + FFN(LN_f(s))
The cross form has one LayerNorm more (for the key/value source map), hence 512 more parameters.
"""
import torch.nn as nn

from afa.layers.attention import PooledAttention
from afa.layers.conv_ffn import ConvFFN
from afa.layers.kv_pool import KVPool
from afa.layers.token_map import as_channels_last, to_token_map


class AttentionBlock(nn.Module):
    """One AFA block. ``forward`` maps (B, C, H, W) to (B, C, H, W); ``forward_tokens`` works on (B, H, W, C)
    token maps (see ``token_map``), which is what the necks use to avoid layout copies.

    Args:
        dim: channels C.
        num_heads: attention heads.
        ffn_ratio: hidden size of the conv-FFN as a multiple of C.
        pooling: 'ms', 'adp' or 'adpms' (see ``KVPool``).
        ds: the 'ms' pooling factor of this level.
        cross: False for self-attention (MSSA), True for cross-attention (MSCA).
        use_fused: see ``PooledAttention``.
    """

    def __init__(self, dim, num_heads=4, ffn_ratio=2, pooling='adp', ds=None, cross=False, use_fused=None):
        super().__init__()
        self.cross = cross
        self.norm1 = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim) if cross else None
        self.pool = KVPool(pooling, ds)
        self.attn = PooledAttention(dim, num_heads, use_fused)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = ConvFFN(dim, ffn_ratio)

    def forward(self, x, source=None):
        """x: the query map; source: the key/value map (cross form only, any spatial size). Returns a
        channels-last (B, C, H, W) map."""
        tokens = self.forward_tokens(to_token_map(x), None if source is None else to_token_map(source))
        return as_channels_last(tokens)

    def forward_tokens(self, x, source=None):
        """x: (B, H, W, C) query token map; source: (B, H', W', C) key/value token map (cross form only)."""
        if self.cross and source is None:
            raise ValueError('AttentionBlock(cross=True) needs a key/value source map')
        batch, height, width, dim = x.shape
        query = self.norm1(x)
        kv_source = self.norm_kv(source) if self.cross else query
        pooled = self.pool(as_channels_last(kv_source))
        x = self.attn(query.reshape(batch, height * width, dim), pooled, residual=x)   # x + Attn(...)
        return self.ffn(self.norm2(x), (height, width), residual=x)                    # x + FFN(LN2(x))

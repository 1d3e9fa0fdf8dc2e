"""The pre-norm transformer block of AFA, in its self-attention (MSSA) and cross-attention (MSCA) forms.

Self:   t = t + Attn(LN1(t), pool(LN1(t)));            t = t + FFN(LN2(t))
Cross:  s = s + Attn(LN_q(s), pool(LN_kv(d)));         s = s + FFN(LN_f(s))
The cross form has one LayerNorm more (for the key/value source map), hence 512 more parameters.
"""
import torch.nn as nn

from .attention import PooledAttention
from .conv_ffn import ConvFFN
from .kv_pool import KVPool


class AttentionBlock(nn.Module):
    """One AFA block on 2-D maps: (B, C, H, W) in, (B, C, H, W) out.

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
        """x: the query map; source: the key/value map (cross form only, any spatial size)."""
        if self.cross and source is None:
            raise ValueError('AttentionBlock(cross=True) needs a key/value source map')
        batch, dim, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        query = self.norm1(tokens)
        if self.cross:
            kv_source = self.norm_kv(source.flatten(2).transpose(1, 2))
            kv_hw = source.shape[-2:]
        else:
            kv_source, kv_hw = query, (height, width)
        kv_map = kv_source.transpose(1, 2).reshape(batch, dim, kv_hw[0], kv_hw[1])
        tokens = tokens + self.attn(query, self.pool(kv_map))
        tokens = tokens + self.ffn(self.norm2(tokens), (height, width))
        return tokens.transpose(1, 2).reshape(batch, dim, height, width)

"""Multi-head attention of full-resolution queries over pooled key/value tokens.

Where torch offers fused scaled-dot-product attention (2.0+), it is used: the same numbers, without
materialising the (HW x N) attention map, which matters for the plain variants at P2. The explicit path is
kept for torch 1.9 (the paper's environment) and as a reference.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from afa.layers.residual_linear import ResidualLinear
from afa.layers.token_linear import TokenLinear, conv_products_for, token_linear

# Elements of the attention map that the explicit path makes at once at inference (64 MiB in fp32).
EXPLICIT_ATTENTION_MAP = 1 << 24


def fused_attention_available():
    """True when this torch has ``F.scaled_dot_product_attention`` (torch 2.0+)."""
    return hasattr(F, 'scaled_dot_product_attention')


class PooledAttention(nn.Module):
    """softmax(Q K^T / sqrt(d)) V with Q from the query tokens and K, V from LayerNorm'ed pooled tokens.

    Args:
        dim: embedding size C.
        num_heads: heads; C must be divisible by it.
        use_fused: None picks the fused kernel when available; True requires it; False forces the
            explicit path.
    """

    def __init__(self, dim, num_heads=4, use_fused=None):
        super().__init__()
        if dim % num_heads:
            raise ValueError('PooledAttention: dim %d is not divisible by num_heads %d' % (dim, num_heads))
        if use_fused and not fused_attention_available():
            raise ValueError('PooledAttention: use_fused=True needs torch>=2.0 (F.scaled_dot_product_attention)')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.use_fused = fused_attention_available() if use_fused is None else bool(use_fused)
        self.q = TokenLinear(dim, dim, bias=False)
        self.kv_norm = nn.LayerNorm(dim)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.proj = ResidualLinear(dim, dim)

    def forward(self, query, pooled, residual=None):
        """query: (B, L, C) normalised query tokens; pooled: (B, N, C) pooled (not yet normalised) tokens.
        With ``residual`` (any shape of B * L * C elements), returns ``residual + attention`` in its shape,
        the sum made inside the output projection's matrix product."""
        return self.attend(query, self.keys_values(pooled), residual)

    def keys_values(self, pooled):
        """(B, N, C) pooled tokens -> (k, v), each (B, heads, N, d): computed once per map, so that the
        queries can then be taken a strip at a time (``attend``)."""
        batch, _, dim = pooled.shape
        kv = self.kv(self.kv_norm(pooled)).reshape(batch, -1, 2, self.num_heads, self.head_dim)
        kv = kv.permute(2, 0, 3, 1, 4)
        return kv[0], kv[1]

    def attend(self, query, keys_values, residual=None):
        """``forward`` with the keys and values of ``keys_values`` already made."""
        return self.proj(self._heads(query, keys_values), residual)

    def attend_into(self, query, keys_values, residual, out):
        """Inference: writes ``residual + attention`` into ``out`` (contiguous, ``residual``'s shape; it may
        be ``residual`` itself, or the memory ``query`` is read from: the queries are projected first)."""
        length = query.shape[1]
        if self.use_fused:
            heads = self._heads(query, keys_values)
        else:  # the explicit path makes a (heads x L x N) attention map: a chunk of queries at a time
            chunk = max(1, EXPLICIT_ATTENTION_MAP // (self.num_heads * keys_values[0].shape[2]))
            heads = torch.cat([self._heads(query[:, i:i + chunk], keys_values) for i in range(0, length, chunk)],
                              dim=1) if length > chunk else self._heads(query, keys_values)
        proj = self.proj
        if conv_products_for(proj.conv_products, heads, out):
            projected = token_linear(heads, proj.weight, proj.bias).view(out.shape)
            if out.data_ptr() == residual.data_ptr():
                return out.add_(projected)
            return torch.add(residual, projected, out=out)
        if out.data_ptr() == residual.data_ptr():
            out.add_(proj.bias)
        else:
            torch.add(residual, proj.bias, out=out)
        out.view(-1, out.shape[-1]).addmm_(heads.reshape(-1, heads.shape[-1]), proj.weight.t())
        return out

    def attend_projected(self, queries, keys_values, residual=None):
        """``attend`` with the query projection already applied: ``queries`` is ``self.q(query)``."""
        return self.proj(self._projected_heads(queries, keys_values), residual)

    def _heads(self, query, keys_values):
        """The heads' outputs concatenated, (B, L, C), before the output projection."""
        return self._projected_heads(self.q(query), keys_values)

    def _projected_heads(self, queries, keys_values):
        """``_heads`` of the projected queries (B, L, C)."""
        batch, length, dim = queries.shape
        heads, head_dim = self.num_heads, self.head_dim
        k, v = keys_values
        # (B, L, heads, d) seen as (B, heads, L, d): a view; the fused kernel reads it strided.
        q = queries.view(batch, length, heads, head_dim).transpose(1, 2)
        if self.use_fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            # The scale goes on the N pooled keys rather than the L queries: less memory traffic, and for
            # head dim 64 (scale 1/8, a power of two) exactly the numbers of (q * scale) @ k^T.
            attn = q @ (k.transpose(-2, -1) * self.scale)
            out = attn.softmax(dim=-1) @ v
        # The fused kernel writes (B, L, heads, d) memory, so this is a view there (a copy on the explicit path).
        return out.transpose(1, 2).reshape(batch, length, dim)

    def extra_repr(self):
        return 'num_heads=%d, head_dim=%d, fused=%s' % (self.num_heads, self.head_dim, self.use_fused)

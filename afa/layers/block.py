"""The pre-norm transformer block of AFA, in its self-attention (MSSA) and cross-attention (MSCA) forms.

Self:   t = t + Attn(LN1(t), pool(LN1(t)));            t = t + FFN(LN2(t))
Cross:  s = s + Attn(LN_q(s), pool(LN_kv(d)));         s = s + FFN(LN_f(s))
The cross form has one LayerNorm more (for the key/value source map), hence 512 more parameters.

Two ways to compute the same numbers: the whole map at once (``forward_tokens`` under autograd, which keeps
what the backward pass reads), and, when no gradient is wanted, strips of rows (``row_strips``), which keeps
one map of C channels alive besides the input, instead of about six.
"""
import functools

import torch
import torch.nn as nn

from afa.layers.attention import PooledAttention
from afa.layers.checkpoint import checkpoint
from afa.layers.conv_ffn import ConvFFN
from afa.layers.kv_pool import KVPool
from afa.layers.recomputed_linear import layer_norm_of, linear_of_recomputed
from afa.layers.precision import autocast_active
from afa.layers.row_strips import DEFAULT_STRIP_TOKENS, row_strips
from afa.layers.shape_only_backward import shape_only_backward
from afa.layers.token_linear import TokenLinear, check_conv_products
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
        strip_tokens: tokens per strip when no gradient is wanted; 0 computes the whole map at once (the
            block as it was before strips, kept for the benchmarks' "before" rows).
        recompute_cheap: in training, keep neither the LayerNorms' outputs, nor the depthwise conv's and
            GELU's, nor the pools' inputs for the backward pass, which recomputes the cheap ones
            (``forward_recomputing``); False keeps what autograd keeps.
        use_conv_products: the token maps' linear layers as 1x1 convolutions: None where that is faster
            (float32 on CPU with torch 2, ``token_linear``), True requires a torch that has them, False
            never (matrix products, as before).
    """

    def __init__(self, dim, num_heads=4, ffn_ratio=2, pooling='adp', ds=None, cross=False, use_fused=None,
                 strip_tokens=DEFAULT_STRIP_TOKENS, recompute_cheap=True, use_conv_products=None):
        super().__init__()
        check_conv_products(use_conv_products)
        self.cross = cross
        self.strip_tokens = strip_tokens
        self.recompute_cheap = recompute_cheap
        self.mixed_precision = False  # set by ApexOptimizerHook (afa/training/hooks/apex_optimizer.py)
        self.norm1 = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim) if cross else None
        self.pool = KVPool(pooling, ds)
        self.attn = PooledAttention(dim, num_heads, use_fused)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = ConvFFN(dim, ffn_ratio)
        for layer in self.modules():
            if isinstance(layer, TokenLinear):
                layer.conv_products = use_conv_products

    def forward(self, x, source=None):
        """x: the query map; source: the key/value map (cross form only, any spatial size). Returns a
        channels-last (B, C, H, W) map."""
        tokens = self.forward_tokens(to_token_map(x), None if source is None else to_token_map(source))
        return as_channels_last(tokens)

    def single_dtype(self):
        """May the in-place (strips) and recomputing paths run? They assume one dtype throughout: not under
        autocast (mmdet's fp16 / --precision amp), and not once apex O1 patched torch's functions
        (ApexOptimizerHook sets ``mixed_precision``). Otherwise the plain layers run, as the reference block."""
        return not self.mixed_precision and not autocast_active()

    def uses_strips(self, *tensors):
        """True when this call may run in strips: strips enabled and no gradient to keep track of."""
        if not self.strip_tokens or not self.single_dtype():
            return False
        if not torch.is_grad_enabled():
            return True
        return not any(t is not None and t.requires_grad for t in tensors) and \
            not any(p.requires_grad for p in self.parameters())

    def pool_source(self, source):
        """Pooled key/value tokens (B, N, C) of the cross form's source token map, LN_kv applied."""
        return self.pool(as_channels_last(self.norm_kv(source)))

    def forward_tokens(self, x, source=None, pooled=None, out=None):
        """x: (B, H, W, C) query token map; source: (B, H', W', C) key/value token map (cross form only).

        Strips only: ``pooled`` (cross form) are ``pool_source(source)`` made beforehand, in place of
        ``source``; ``out`` (cross form) is where to write the result, ``x`` itself allowed."""
        if self.cross and source is None and pooled is None:
            raise ValueError('AttentionBlock(cross=True) needs a key/value source map')
        if self.uses_strips(x, source):
            return self._forward_strips(x, source, pooled, out)
        if pooled is not None or out is not None:
            raise ValueError('AttentionBlock: pooled= and out= are for the strip path (no gradient) only')
        return self.forward_whole(x, source)

    def forward_whole(self, x, source=None):
        """``forward_tokens`` on the whole map at once, gradient or not: what a recomputing backward pass
        (``torch.utils.checkpoint``) must see in its first forward, so that the gradients are the same."""
        if self.recompute_cheap and torch.is_grad_enabled() and self.single_dtype():
            return self.forward_recomputing(x, source)
        batch, height, width, dim = x.shape
        query = self.norm1(x)
        kv_source = self.norm_kv(source) if self.cross else query
        pooled = self.pool(as_channels_last(kv_source))
        x = self.attn(query.reshape(batch, height * width, dim), pooled, residual=x)   # x + Attn(...)
        return self.ffn(self.norm2(x), (height, width), residual=x)                    # x + FFN(LN2(x))

    def forward_recomputing(self, x, source=None):
        """``forward_whole`` for training that keeps, at each level, the input, the projected queries, the
        attention's output, x + Attn and the FFN's hidden map for the backward pass (four maps of C channels
        and one of 2C, against seven and three): the LayerNorms, the depthwise conv and GELU are recomputed
        there, and the pools keep only their input's shape. The same numbers and gradients."""
        batch, height, width, dim = x.shape
        kv_source = self.norm_kv(source) if self.cross else self.norm1(x)
        pooled = shape_only_backward(self.pool, as_channels_last(kv_source))
        del kv_source
        norm = self.norm1
        queries = linear_of_recomputed(layer_norm_of(norm), x.reshape(batch, height * width, dim),
                                       (norm.weight, norm.bias), self.attn.q)
        y = self.attn.attend_projected(queries, self.attn.keys_values(pooled), residual=x)  # x + Attn(...)
        return self.ffn.forward_recomputing(y, self.norm2)                              # y + FFN(LN2(y))

    def forward_recomputed(self, x, source=None):
        """``forward_tokens`` for training with the neck's ``with_cp``: strips of rows whose activations are
        recomputed in the backward pass, a strip at a time (``checkpoint``). Kept for the backward pass:
        LN1 of the map (the pooling's input), x + Attn and the output, instead of about fourteen maps; at
        the backward pass's peak, one strip's activations instead of the level's."""
        batch, height, width, dim = x.shape
        query = self.norm1(x)
        pooled = self.pool(as_channels_last(self.norm_kv(source) if self.cross else query))
        keys, values = self.attn.keys_values(pooled)
        strips = row_strips(height, width, self.strip_tokens or DEFAULT_STRIP_TOKENS)
        y = torch.cat([checkpoint(self._attention_rows, query[:, first:stop], x[:, first:stop], keys, values)
                       for first, stop in strips], dim=1)
        outs = []
        for first, stop in strips:
            top, bottom = int(first > 0), int(stop < height)
            outs.append(checkpoint(functools.partial(self._ffn_rows, top=top, bottom=bottom),
                                   y[:, first - top:stop + bottom]))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _attention_rows(self, query, residual, keys, values):
        """x + Attn of a strip: query (B, h, W, C) rows of LN1(x); residual the same rows of x."""
        batch, rows, width, dim = query.shape
        return self.attn.attend(query.reshape(batch, rows * width, dim), (keys, values), residual=residual)

    def _ffn_rows(self, rows, top, bottom):
        """y + FFN(LN2(y)) of a strip: rows (B, h, W, C) of y with ``top``/``bottom`` halo rows (0 or 1)."""
        height = rows.shape[1]
        hidden = self.ffn.fc1(self.norm2(rows))
        hidden = self.ffn.dwconv(as_channels_last(hidden)).permute(0, 2, 3, 1)[:, top:height - bottom]
        return self.ffn.fc2(self.ffn.act(hidden), rows[:, top:height - bottom])

    def _forward_strips(self, x, source, pooled, out):
        """``forward_tokens`` a strip of rows at a time, image by image (so that every strip is contiguous
        memory). y holds, strip by strip, x + Attn, then the block's output; the attention runs one strip
        ahead of the FFN, whose conv reads one row past its strip."""
        batch, height, width, dim = x.shape
        if self.cross:
            if pooled is None:
                pooled = self.pool_source(source)
            y = torch.empty_like(x, memory_format=torch.contiguous_format) if out is None else out
        else:
            y = self.norm1(x).contiguous()  # LN1 of the map, which the pooling needs; then overwritten
            pooled = self.pool(as_channels_last(y))
        strips = row_strips(height, width, self.strip_tokens)
        for image in range(batch):
            attention = functools.partial(self._attention_strip, x[image:image + 1], y[image:image + 1],
                                          self.attn.keys_values(pooled[image:image + 1]), strips)
            attention(0)
            self.ffn.forward_strips_(y[image:image + 1], self.norm2, strips,
                                    lambda index, attention=attention: attention(index + 1))
        return y

    def _attention_strip(self, x, y, keys_values, strips, index):
        """y <- x + Attn on strip ``index`` (none past the last) of one image's x and y (1, H, W, C); the
        queries are LN1 of x's rows (cross form) or y's rows, which hold LN1(x) until overwritten."""
        if index >= len(strips):
            return
        first, stop = strips[index]
        dim = x.shape[-1]
        residual = x[:, first:stop].reshape(1, -1, dim)
        rows = y[:, first:stop].view(1, -1, dim)
        query = self.norm1(residual) if self.cross else rows
        self.attn.attend_into(query, keys_values, residual, out=rows)

"""Parameter-free pooling of a feature map into key/value tokens.

Plain AFA (MSSA, MSCA) pools with two average pools whose kernel equals their stride (``ds`` and ``ds / 2``),
so that every level sees a stride-64 and a stride-32 grid of the image; the "-Adp" variants pool adaptively
to fixed grids (7x7, or 7x7 + 14x14 for AdpMS), so that the token count does not depend on the image size.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

POOLING_MODES = ('ms', 'adp', 'adpms')
# 'ms' pooling factor of each input level P2..P5: always a stride-64 and a stride-32 grid of the image.
MS_POOL_FACTORS = (16, 8, 4, 2)


class KVPool(nn.Module):
    """Pool a (B, C, H, W) map into (B, N, C) tokens.

    Args:
        mode: 'ms' (two average pools, kernel = stride = ``ds`` and ``ds // 2``), 'adp' (adaptive 7x7) or
            'adpms' (adaptive 7x7 and 14x14, concatenated).
        ds: the larger pooling factor for mode 'ms' (16, 8, 4, 2 for P2..P5). Ignored otherwise.

    Output sizes of the 'ms' pools are floored, as in the paper's code. A map smaller than a kernel (tiny
    images) would give zero tokens; there the kernel is clipped to the map so that the pool averages the
    whole axis. This never triggers at the sizes the paper trains on.
    """

    def __init__(self, mode='adp', ds=None):
        super().__init__()
        if mode not in POOLING_MODES:
            raise ValueError('KVPool: unknown pooling mode %r; expected one of %s' % (mode, POOLING_MODES))
        if mode == 'ms':
            if ds is None or ds < 2 or ds % 2:
                raise ValueError('KVPool: mode "ms" needs an even pooling factor ds >= 2, got %r' % (ds,))
            self.kernels = (int(ds), int(ds) // 2)
            self.grids = ()
        else:
            self.kernels = ()
            self.grids = (7,) if mode == 'adp' else (7, 14)
        self.mode = mode

    def num_tokens(self, height, width):
        """Number of key/value tokens for a ``height`` x ``width`` map."""
        n = sum(g * g for g in self.grids)
        for k in self.kernels:
            n += max(height // k, 1) * max(width // k, 1)
        return n

    def forward(self, x):
        """x: (B, C, H, W) map in either memory format -> (B, N, C) contiguous tokens."""
        batch, channels, height, width = x.shape
        pooled = []
        for k in self.kernels:
            kernel = (min(k, height), min(k, width))
            pooled.append(F.avg_pool2d(x, kernel, kernel))
        for g in self.grids:
            pooled.append(F.adaptive_avg_pool2d(x, g))
        # Token order is row-major over each pooled grid, grids concatenated; for a channels-last x the
        # permute-reshape is a view.
        tokens = [p.permute(0, 2, 3, 1).reshape(batch, -1, channels) for p in pooled]
        return tokens[0] if len(tokens) == 1 else torch.cat(tokens, dim=1)

    def extra_repr(self):
        if self.kernels:
            return 'mode=%s, kernels=%s' % (self.mode, self.kernels)
        return 'mode=%s, grids=%s' % (self.mode, self.grids)

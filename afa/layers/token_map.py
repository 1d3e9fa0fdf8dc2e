"""Token maps: (B, H, W, C) tensors, the layout in which the AFA blocks keep their features.

A token map is at once the (B, H*W, C) token sequence that LayerNorm and the linear layers want (a view) and
the channels-last (B, C, H, W) map that the depthwise conv, the pools and the upsampling want (a permuted
view). Keeping features in this one layout removes the token <-> map copies that were a quarter of the neck's
CPU time (docs/necks.md, "Why the blocks work on token maps"). Only mmdet's heads need NCHW-contiguous maps
(mmcv's RoIAlign reads raw memory as NCHW), so the neck converts once, at its outputs.
"""
import torch


def to_token_map(x):
    """(B, C, H, W) map -> (B, H, W, C) contiguous token map; a view when ``x`` is channels-last."""
    return x.permute(0, 2, 3, 1).contiguous()


def as_channels_last(tokens):
    """(B, H, W, C) token map -> the same memory seen as a channels-last (B, C, H, W) map (a view)."""
    return tokens.permute(0, 3, 1, 2)


def to_nchw(tokens):
    """(B, H, W, C) token map -> contiguous (B, C, H, W) map, the layout mmdet's heads expect. Copied one
    (H*W, C) matrix at a time: torch transposes a 2-D matrix in cache-sized blocks, a 4-D permute
    element by element (several times slower at P2)."""
    batch, height, width, channels = tokens.shape
    if batch == 1:  # a reshape, not flat[0]: the select's backward would zero a whole map first
        return tokens.reshape(height * width, channels).t().contiguous().view(1, channels, height, width)
    flat = tokens.reshape(batch, height * width, channels)
    out = tokens.new_empty((batch, channels, height * width))
    for b in range(batch):
        out[b].copy_(flat[b].t())
    return out.view(batch, channels, height, width)


def conv1x1_to_token_map(conv, x):
    """A 1x1 ``nn.Conv2d`` applied to an NCHW map, written as a token map: one matrix product that reads the
    map transposed, so that neither the input nor the output is copied into another layout."""
    batch, _, height, width = x.shape
    weight = conv.weight.reshape(conv.out_channels, conv.in_channels)
    tokens = x.reshape(batch, conv.in_channels, height * width).transpose(1, 2)
    if conv.bias is None:
        out = torch.matmul(tokens, weight.t())
    elif batch == 1:
        out = torch.addmm(conv.bias, tokens[0], weight.t())
    else:
        out = torch.baddbmm(conv.bias.expand(batch, 1, -1), tokens, weight.t().expand(batch, -1, -1))
    return out.reshape(batch, height, width, conv.out_channels)


"""The convolutional feed-forward network of PVTv2, used in every AFA block.

A depthwise 3x3 convolution between the two linear layers gives the tokens local spatial context, which is
why the AFA blocks need no positional encoding.
"""
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from afa.layers.recomputed_linear import layer_norm_of, linear_of_recomputed
from afa.layers.residual_linear import ResidualLinear
from afa.layers.token_linear import TokenLinear, conv_products_for, token_linear
from afa.layers.token_map import as_channels_last

_GELU_IN_PLACE = getattr(torch._C._nn, 'gelu_', None)  # torch 1.12+


def gelu_in_place(x):
    """Exact GELU, in place where torch has it (one hidden-size temporary less per strip)."""
    if _GELU_IN_PLACE is None:
        return F.gelu(x)
    return _GELU_IN_PLACE(x)


class ConvFFN(nn.Module):
    """Linear(C -> rC) -> depthwise 3x3 conv on the 2-D map -> GELU -> Linear(rC -> C).

    The hidden tokens stay in the (B, H, W, rC) token-map layout: the conv runs on its channels-last view, so
    no token <-> map copy is made.
    """

    def __init__(self, dim, hidden_ratio=2):
        super().__init__()
        hidden = int(dim * hidden_ratio)
        self.fc1 = TokenLinear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = ResidualLinear(hidden, dim)

    def forward(self, tokens, hw, residual=None):
        """tokens: (B, H*W, C) sequence, or a (B, H, W, C) token map; returns the same shape. With
        ``residual`` (the same shape), returns ``residual + FFN(tokens)``, summed inside the last product."""
        batch = tokens.shape[0]
        height, width = hw
        x = self.fc1(tokens).reshape(batch, height, width, -1)
        x = self.dwconv(as_channels_last(x)).permute(0, 2, 3, 1)
        x = self.act(x)
        if residual is not None:
            return self.fc2(x, residual)
        return self.fc2(x).reshape(tokens.shape)

    def forward_recomputing(self, y, norm):
        """Training: ``y + FFN(norm(y))`` for a (B, H, W, C) token map ``y``, keeping for the backward pass
        ``y`` and the first projection's output only; ``norm``'s output, the depthwise conv's and GELU's are
        recomputed there (``linear_of_recomputed``)."""
        hidden = linear_of_recomputed(layer_norm_of(norm), y, (norm.weight, norm.bias), self.fc1)
        conv = self.dwconv
        return linear_of_recomputed(functools.partial(_conv_gelu, padding=conv.padding, groups=conv.groups),
                                    hidden, (conv.weight, conv.bias), self.fc2, residual=y)

    def forward_strips_(self, y, norm, strips, prepare):
        """Inference, in place: ``y <- y + FFN(norm(y))`` for one image, y a contiguous (1, H, W, C) token
        map, a strip of rows at a time (``strips``: (first, stop) ranges). ``prepare(i)`` is called before
        strip i is read; y's rows from strip i up to the first row of strip i + 1 must then be ready.

        The hidden rows of a strip and the one row above and below it, which the 3x3 conv reads, are kept
        in one buffer: the two rows at a strip's bottom are the next strip's top, carried over rather than
        made again; zero rows above the first row and below the last are the conv's padding."""
        _, height, width, dim = y.shape
        hidden = self.fc1.out_features
        rows = max(stop - first for first, stop in strips)
        buffer = y.new_zeros((1, rows + 2, width, hidden))
        flat_y = y.view(height * width, dim)
        flat_buffer = buffer.view(-1, hidden)
        fc1, fc2 = self.fc1, self.fc2
        conv = conv_products_for(fc1.conv_products, y)
        for index, (first, stop) in enumerate(strips):
            prepare(index)
            size = stop - first
            made = first + 1 if index else first  # rows first - 1 and first come from the last strip
            last = min(stop + 1, height)
            tokens = norm(flat_y[made * width:last * width])
            start = (made - first + 1) * width
            made_rows = flat_buffer[start:start + (last - made) * width]
            if conv:  # a convolution cannot write into the buffer: its output is copied there
                made_rows.copy_(token_linear(tokens, fc1.weight, fc1.bias))
            else:
                torch.addmm(fc1.bias, tokens, fc1.weight.t(), out=made_rows)
            if last == height:  # the conv's zero padding below the map
                buffer[:, last - first + 1:size + 2].zero_()
            x = F.conv2d(as_channels_last(buffer[:, :size + 2]), self.dwconv.weight, self.dwconv.bias,
                         padding=(0, 1), groups=hidden)
            x = gelu_in_place(x.permute(0, 2, 3, 1)).reshape(size * width, hidden)
            out = flat_y[first * width:stop * width]
            if conv:
                out.add_(token_linear(x, fc2.weight, fc2.bias))
            else:
                out.add_(fc2.bias).addmm_(x, fc2.weight.t())
            if stop < height:  # a strip of one row overlaps its carry: copied through a temporary then
                buffer[:, :2] = buffer[:, size:size + 2] if size > 1 else buffer[:, size:size + 2].clone()
        return y


def _conv_gelu(hidden, weight, bias, padding, groups):
    """GELU of the depthwise conv of a (B, H, W, rC) hidden token map, as a token map."""
    x = F.conv2d(as_channels_last(hidden), weight, bias, padding=padding, groups=groups)
    return F.gelu(x.permute(0, 2, 3, 1))

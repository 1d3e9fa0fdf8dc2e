"""The convolutional feed-forward network of PVTv2, used in every AFA block.

A depthwise 3x3 convolution between the two linear layers gives the tokens local spatial context, which is
why the AFA blocks need no positional encoding.
"""
import torch.nn as nn

from afa.layers.residual_linear import ResidualLinear
from afa.layers.token_map import as_channels_last


class ConvFFN(nn.Module):
    """Linear(C -> rC) -> depthwise 3x3 conv on the 2-D map -> GELU -> Linear(rC -> C).

    The hidden tokens stay in the (B, H, W, rC) token-map layout: the conv runs on its channels-last view, so
    no token <-> map copy is made.
    """

    def __init__(self, dim, hidden_ratio=2):
        super().__init__()
        hidden = int(dim * hidden_ratio)
        self.fc1 = nn.Linear(dim, hidden)
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

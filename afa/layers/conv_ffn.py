"""The convolutional feed-forward network of PVTv2, used in every AFA block.

A depthwise 3x3 convolution between the two linear layers gives the tokens local spatial context, which is
why the AFA blocks need no positional encoding.
"""
import torch.nn as nn


class ConvFFN(nn.Module):
    """Linear(C -> rC) -> depthwise 3x3 conv on the 2-D map -> GELU -> Linear(rC -> C) on (B, HW, C) tokens."""

    def __init__(self, dim, hidden_ratio=2):
        super().__init__()
        hidden = int(dim * hidden_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, tokens, hw):
        batch, _, _ = tokens.shape
        height, width = hw
        x = self.fc1(tokens)
        x = x.transpose(1, 2).reshape(batch, -1, height, width)
        x = self.dwconv(x).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))

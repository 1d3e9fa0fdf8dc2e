"""A Linear layer that can add its output to a residual inside its matrix product.

``residual + linear(x)`` is computed as one product accumulated in place into ``residual + bias``: no
separate bias copy (what ``F.linear`` does before its product on CPU) and no separate residual add, two passes
over the tokens fewer. Same parameters as ``nn.Linear`` (and a Linear for hooks and init code). Where the
product runs as a 1x1 convolution (``token_linear``), which cannot accumulate, the residual is added to its
output in place: one pass more, on a product 1.5 times as fast.

The in-place product needs one dtype: under mixed precision (autocast, which leaves in-place products alone, or
apex O1, which makes some inputs fp16) it is ``residual + linear(x)`` unfused, as the reference block computes it.
"""
import torch

from afa.layers.precision import one_dtype
from afa.layers.token_linear import TokenLinear, conv_products_for, token_linear


class ResidualLinear(TokenLinear):
    """``forward(x)`` is ``nn.Linear``'s; ``forward(x, residual)`` returns ``residual + linear(x)`` in the
    residual's shape (``x`` and ``residual`` share their leading elements: B * L tokens)."""

    def forward(self, x, residual=None):
        if residual is None:
            return super(ResidualLinear, self).forward(x)
        if not one_dtype(x, residual, self.weight, self.bias):
            return residual + super(ResidualLinear, self).forward(x).reshape(residual.shape)
        if conv_products_for(self.conv_products, x, residual, self.weight):
            return token_linear(x, self.weight, self.bias, residual).reshape(residual.shape)
        flat_x = x.reshape(-1, x.shape[-1])
        if self.bias is None:
            out = torch.addmm(residual.reshape(-1, residual.shape[-1]), flat_x, self.weight.t())
            return out.view(residual.shape)
        out = residual + self.bias  # a new tensor, ours to accumulate into
        out.view(-1, out.shape[-1]).addmm_(flat_x, self.weight.t())
        return out

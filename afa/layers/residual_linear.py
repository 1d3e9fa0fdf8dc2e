"""A Linear layer that can add its output to a residual inside its matrix product.

``residual + linear(x)`` is computed as one product accumulated in place into ``residual + bias``: no
separate bias copy (what ``F.linear`` does before its product on CPU) and no separate residual add, two passes
over the tokens fewer. Same parameters as ``nn.Linear`` (and a Linear for hooks and init code).

The in-place product needs one dtype: under mixed precision (autocast, which leaves in-place products alone, or
apex O1, which makes some inputs fp16) it is ``residual + linear(x)`` unfused, as the reference block computes it.
"""
import torch
import torch.nn as nn


def autocast_active():
    """Is autocast on (CUDA's, or the CPU's where torch has it)? The fused and recomputing paths of the blocks
    assume one dtype throughout; under autocast the plain layers are used."""
    if torch.is_autocast_enabled():  # CUDA's, on every torch
        return True
    try:
        return torch.is_autocast_enabled('cpu')  # torch >= 2.4
    except TypeError:
        cpu = getattr(torch, 'is_autocast_cpu_enabled', None)  # torch 1.10 to 2.3; torch 1.9 has none
        return bool(cpu is not None and cpu())


def one_dtype(*tensors):
    """Do all ``tensors`` (None ignored) share one dtype, with no autocast to change it inside a product?"""
    dtypes = set(t.dtype for t in tensors if t is not None)
    return len(dtypes) == 1 and not autocast_active()


class ResidualLinear(nn.Linear):
    """``forward(x)`` is ``nn.Linear``'s; ``forward(x, residual)`` returns ``residual + linear(x)`` in the
    residual's shape (``x`` and ``residual`` share their leading elements: B * L tokens)."""

    def forward(self, x, residual=None):
        if residual is None:
            return super(ResidualLinear, self).forward(x)
        if not one_dtype(x, residual, self.weight, self.bias):
            return residual + super(ResidualLinear, self).forward(x).reshape(residual.shape)
        flat_x = x.reshape(-1, x.shape[-1])
        if self.bias is None:
            out = torch.addmm(residual.reshape(-1, residual.shape[-1]), flat_x, self.weight.t())
            return out.view(residual.shape)
        out = residual + self.bias  # a new tensor, ours to accumulate into
        out.view(-1, out.shape[-1]).addmm_(flat_x, self.weight.t())
        return out

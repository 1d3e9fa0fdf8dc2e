"""Linear maps (the key/value pools) whose backward pass reads only the shape of their input.

Autograd's average pools keep their input for the backward pass though the gradient does not depend on its
values: in the AFA block that input is a LayerNorm'ed copy of the whole level. ``shape_only_backward`` runs
such a map without keeping it, and in the backward pass applies torch's own backward to a zero tensor of the
input's shape and strides: the same gradient, a temporary instead of a kept map.
"""
import torch


def shape_only_backward(linear_map, x):
    """``linear_map(x)``, keeping only ``x``'s shape and strides for the backward pass; ``linear_map`` must be
    linear in ``x`` with a backward that does not read ``x``'s values (average pools, concatenations)."""
    return _ShapeOnlyBackward.apply(linear_map, x)


class _ShapeOnlyBackward(torch.autograd.Function):

    @staticmethod
    def forward(ctx, linear_map, x):
        ctx.linear_map = linear_map
        ctx.shape, ctx.stride = x.shape, x.stride()
        return linear_map(x)

    @staticmethod
    def backward(ctx, grad):
        with torch.enable_grad():
            zeros = torch.empty_strided(ctx.shape, ctx.stride, dtype=grad.dtype, device=grad.device)
            zeros = zeros.zero_().requires_grad_()
            out = ctx.linear_map(zeros)
        return None, torch.autograd.grad(out, zeros, grad)[0]

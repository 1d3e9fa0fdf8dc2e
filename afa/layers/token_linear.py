"""The blocks' linear layers on token maps, computed as 1x1 convolutions where the CPU runs those faster.

A linear layer on (..., C) tokens is a 1x1 convolution of the same tokens seen as a channels-last map. On CPU,
torch 2's oneDNN runs that convolution at 1.4 to 1.9 times the speed of MKL's matrix product of the same
numbers, forward and backward (docs/necks.md, "Why the linear layers run as convolutions on CPU"); torch 1.9's
oneDNN returns such a convolution in NCHW and is no faster, and on CUDA the matrix product (cuBLAS) is kept.
``conv_products_available`` tells which torch this is, once, by running one; the tokens are never copied
into another layout, and the numbers are the linear layer's (another summation order: 1e-6 relative).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from afa.layers.precision import autocast_active

_AVAILABLE = []  # [bool] once probed


def conv_products_available():
    """Does this torch run a 1x1 convolution of a channels-last float32 CPU map with oneDNN and return it
    channels-last, with ``convolution_backward`` for its gradients and ``untyped_storage`` to let memory go
    (torch 2: yes; torch 1.9: no)?"""
    if not _AVAILABLE:
        _AVAILABLE.append(_probe())
    return _AVAILABLE[0]


def _probe():
    # the recomputing backward lets memory go with Tensor.untyped_storage (torch 2.0)
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.Tensor, 'untyped_storage'):
        return False
    tokens, kernel = torch.zeros(1, 4, 1, 8).permute(0, 3, 1, 2), torch.zeros(8, 8, 1, 1)
    try:  # the weight's gradient, as token_linear_grad_weight asks for it (torch 1.11+; 1.9 raises RuntimeError)
        torch.ops.aten.convolution_backward(tokens, tokens, kernel, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                                            [False, True, False])
    except (AttributeError, RuntimeError):
        return False
    return F.conv2d(tokens, kernel).is_contiguous(memory_format=torch.channels_last)


def check_conv_products(choice):
    """Refuse ``use_conv_products=True`` on a torch without the convolution products (at construction)."""
    if choice and not conv_products_available():
        raise ValueError('use_conv_products=True needs a torch whose oneDNN convolutions keep channels-last maps '
                         '(torch 2); this is torch %s: leave it None' % torch.__version__)


def conv_products_for(choice, *tensors):
    """Should the products of ``tensors`` (None ignored) run as 1x1 convolutions? ``choice``: None picks
    them where they are faster (float32 on CPU, no autocast, a torch that has them); True the same, but
    failing loudly where they are not available; False never."""
    if choice is False:
        return False
    if not conv_products_available():
        check_conv_products(choice)
        return False
    return all(t.device.type == 'cpu' and t.dtype == torch.float32 for t in tensors if t is not None) and \
        not autocast_active()


def _as_map(tokens):
    """(..., C) tokens -> a (1, C, M, 1) channels-last map of the same memory (copied only if the tokens
    are not M contiguous rows, e.g. a transposed view)."""
    flat = tokens.reshape(-1, tokens.shape[-1]).contiguous()
    return flat.view(1, -1, 1, flat.shape[-1]).permute(0, 3, 1, 2)


def _as_tokens(out, leading):
    """The (1, C', M, 1) channels-last result -> (*leading, C') tokens (a view)."""
    return out.permute(0, 2, 3, 1).reshape(tuple(leading) + (out.shape[1],))


def token_linear(tokens, weight, bias=None, residual=None):
    """``F.linear(tokens, weight, bias)`` as a 1x1 convolution: tokens (..., C), weight (C', C). With
    ``weight.t()``, the gradient of a linear layer's input. With ``residual`` (as many tokens of C'), returns
    ``residual + linear``, the sum made in place in the convolution's own output (not in a view of it, whose
    in-place change autograd would undo in the backward pass with a zeroed copy of the whole map)."""
    if not tokens.numel():  # no tokens: a convolution refuses an empty map
        out = F.linear(tokens, weight, bias)
        return out if residual is None else out + residual.reshape(out.shape)
    out = F.conv2d(_as_map(tokens), weight.contiguous()[:, :, None, None], bias)
    if residual is not None:
        out.add_(_as_map(residual))
    return _as_tokens(out, tokens.shape[:-1])


def token_linear_grad_weight(grad, inputs, weight):
    """The weight's gradient (C', C) of ``token_linear(inputs, weight)`` for its output's gradient ``grad``
    (..., C'): aten's ``convolution_backward`` asked for the weight alone (asked for the input's gradient too,
    it is slower than two calls; the input's is ``token_linear(grad, weight.t())``)."""
    if not inputs.numel():
        return weight.new_zeros(weight.shape)
    kernel = weight.contiguous()[:, :, None, None]
    grad_weight = torch.ops.aten.convolution_backward(_as_map(grad), _as_map(inputs), kernel, None, [1, 1], [0, 0],
                                                      [1, 1], False, [0, 0], 1, [False, True, False])[1]
    return grad_weight.reshape(weight.shape)


class TokenLinear(nn.Linear):
    """``nn.Linear`` (same parameters, a Linear for hooks and init code) whose product runs as a 1x1
    convolution where that is faster (``conv_products``: None, True or False, see ``conv_products_for``;
    set by the block that owns the layer)."""

    conv_products = None

    def forward(self, x):
        if conv_products_for(self.conv_products, x, self.weight, self.bias):
            return token_linear(x, self.weight, self.bias)
        return super(TokenLinear, self).forward(x)

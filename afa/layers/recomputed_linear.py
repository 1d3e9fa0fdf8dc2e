"""A linear layer whose input is made by cheap layers that the backward pass recomputes instead of keeping.

In a training step autograd keeps every layer's input for the backward pass. In the AFA block three of those
inputs are the outputs of cheap layers (LayerNorm before the query projection and before the FFN, the
depthwise conv and GELU before the FFN's last projection): keeping them costs three maps of C channels and
two of 2C at each level, recomputing them costs a pass over memory. ``linear_of_recomputed`` keeps only the
cheap layers' input, and in the backward pass remakes their output for the weight gradient and backpropagates
through them; the matrix products are not recomputed, and the gradients are autograd's.
"""
import functools

import torch
import torch.nn.functional as F

from afa.layers.token_linear import conv_products_for, token_linear, token_linear_grad_weight


def layer_norm_of(norm):
    """``norm`` (an ``nn.LayerNorm`` over the last dimension) as a function of (x, weight, bias)."""
    return functools.partial(_layer_norm, eps=norm.eps)


def _layer_norm(x, weight, bias, eps):
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def linear_of_recomputed(make_input, x, params, linear, residual=None):
    """``residual + linear(make_input(x, *params))`` (``residual`` optional, in its shape; otherwise the
    output has ``x``'s leading dimensions), keeping ``x`` but not ``make_input``'s output for the backward
    pass. ``make_input`` is a pure function of ``x`` and the tensors ``params`` (its layers' weights, passed
    explicitly so that they get their gradients); ``linear`` an ``nn.Linear``, its product a 1x1 convolution
    where its ``conv_products`` choose that (``token_linear``)."""
    conv = conv_products_for(getattr(linear, 'conv_products', False), x, linear.weight, residual)
    return _LinearOfRecomputed.apply(make_input, residual is not None, conv, x, linear.weight, linear.bias,
                                     residual, *params)


def _product(inputs, weight, bias, residual, conv):
    """residual + bias + inputs @ weight^T, with the rows of ``inputs`` flattened; returned flat (rows, out)."""
    flat = inputs.reshape(-1, inputs.shape[-1])
    if conv:
        return token_linear(flat, weight, bias, residual)
    if residual is not None:
        out = residual.reshape(-1, weight.shape[0]) + (0 if bias is None else bias)
        return out.addmm_(flat, weight.t())
    if bias is None:
        return flat.mm(weight.t())
    return torch.addmm(bias, flat, weight.t())


class _LinearOfRecomputed(torch.autograd.Function):

    @staticmethod
    def forward(ctx, make_input, has_residual, conv, x, weight, bias, residual, *params):
        ctx.make_input = make_input
        ctx.conv = conv
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight, *params)
        inputs = make_input(x, *params)  # autograd is off here: a temporary, freed on return
        out = _product(inputs, weight, bias, residual if has_residual else None, conv)
        shape = residual.shape if has_residual else inputs.shape[:-1] + (weight.shape[0],)
        return out.view(shape)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors[:2]
        params = ctx.saved_tensors[2:]
        needs = ctx.needs_input_grad  # make_input, has_residual, conv, x, weight, bias, residual, *params
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(need) for t, need in zip((x,) + tuple(params),
                                                                         (needs[3],) + needs[7:])]
            inputs = ctx.make_input(*leaves)
        flat_grad = grad.reshape(-1, weight.shape[0])
        flat_inputs = inputs.detach().reshape(-1, weight.shape[1])
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        grad_bias = flat_grad.sum(0) if ctx.has_bias and needs[5] else None
        grad_residual = grad if needs[6] else None
        if ctx.conv:
            grad_weight = token_linear_grad_weight(flat_grad, flat_inputs, weight) if needs[4] else None
            grad_inputs = None
            if wanted:
                # A convolution cannot write into the remade inputs' memory, as the product below does; read
                # for the last time above, it is let go before their gradient is made: one map fewer at once.
                _release_storage(inputs, keep=(x,) + tuple(params))
                grad_inputs = token_linear(flat_grad, weight.t())
        else:
            grad_weight = flat_grad.t().mm(flat_inputs) if needs[4] else None
            # The remade inputs' memory, read for the last time above, takes their gradient: one map fewer at
            # once. (Their own backward does not read them: LayerNorm and GELU keep their inputs, not their
            # outputs; a ``make_input`` that kept its output would fail autograd's in-place check here.)
            if not wanted:
                grad_inputs = None
            elif flat_inputs.data_ptr() == inputs.data_ptr():
                grad_inputs = torch.mm(flat_grad, weight, out=flat_inputs)
            else:
                grad_inputs = flat_grad.mm(weight)
        del flat_inputs
        head = (None, None, None)
        if not wanted:
            return head + (None, grad_weight, grad_bias, grad_residual) + (None,) * len(params)
        found = iter(torch.autograd.grad(inputs, wanted, grad_inputs.view(inputs.shape)))
        grad_leaves = [next(found) if leaf.requires_grad else None for leaf in leaves]
        return head + (grad_leaves[0], grad_weight, grad_bias, grad_residual) + tuple(grad_leaves[1:])


def _release_storage(tensor, keep):
    """Free ``tensor``'s memory while autograd still holds the tensor as the output of its graph (it reads
    its shape, not its values: LayerNorm and GELU keep their inputs, not their outputs), unless the memory
    is shared with a tensor of ``keep``. torch 2 only (the convolution path's)."""
    storage = tensor.untyped_storage()
    if any(t is not None and t.untyped_storage().data_ptr() == storage.data_ptr() for t in keep):
        return
    storage.resize_(0)

"""The blocks' linear layers as 1x1 convolutions: the linear layer's numbers and gradients, on the torch
that has them (torch 2's oneDNN), and the matrix products elsewhere."""
import pytest
import torch
import torch.nn.functional as F

from afa.layers import AttentionBlock
from afa.layers.recomputed_linear import layer_norm_of, linear_of_recomputed
from afa.layers.residual_linear import ResidualLinear
from afa.layers.token_linear import (TokenLinear, conv_products_available, conv_products_for, token_linear,
                                     token_linear_grad_weight)

needs_conv = pytest.mark.skipif(not conv_products_available(), reason='this torch keeps the matrix products')
TORCH_2 = int(torch.__version__.split('.')[0]) >= 2


def relative_error(actual, expected):
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def token_inputs():
    """Token tensors as the blocks hand them over: a (B, H, W, C) map, a (B, L, C) sequence, the rows of a
    strip (a view into a larger map), a transposed view (not evenly strided rows: copied)."""
    torch.manual_seed(0)
    base = torch.randn(2, 9, 7, 16)
    return [base, base.reshape(2, 63, 16), base[1:, 3:6], torch.randn(16, 30).t()]


def test_the_project_stacks_choose_as_measured():
    """torch 2's oneDNN convolution keeps a channels-last map and is faster than MKL's product; torch 1.9's
    returns NCHW and is not (docs/necks.md): the probe must say so on each stack."""
    assert conv_products_available() is TORCH_2
    x = torch.randn(3, 4)
    assert conv_products_for(False, x) is False
    assert conv_products_for(None, x.double()) is False  # float32 only
    assert conv_products_for(None, x) is TORCH_2


@pytest.mark.skipif(TORCH_2, reason='torch 2 has the convolution products')
def test_requiring_conv_products_without_them_names_the_option():
    with pytest.raises(ValueError, match='use_conv_products=True needs'):
        AttentionBlock(64, use_conv_products=True)


@needs_conv
@pytest.mark.parametrize('with_bias', [True, False])
def test_token_linear_is_the_linear_layer(with_bias):
    weight, bias = torch.randn(24, 16), (torch.randn(24) if with_bias else None)
    for tokens in token_inputs():
        out = token_linear(tokens, weight, bias)
        expected = F.linear(tokens, weight, bias)
        assert out.shape == expected.shape and out.is_contiguous()
        assert relative_error(out, expected) < 1e-5
    assert token_linear(torch.randn(0, 16), weight, bias).shape == (0, 24)


@needs_conv
def test_token_linear_gradients_are_autograds():
    """The input's gradient is token_linear with the transposed weight, the weight's convolution_backward's."""
    weight = torch.randn(24, 16, requires_grad=True)
    for tokens in token_inputs():
        tokens = tokens.detach().requires_grad_()
        grad = torch.randn(tokens.shape[:-1] + (24,))
        F.linear(tokens, weight).backward(grad)
        grad_tokens = token_linear(grad, weight.detach().t())
        assert grad_tokens.shape == tokens.shape
        assert relative_error(grad_tokens, tokens.grad) < 1e-5
        assert relative_error(token_linear_grad_weight(grad, tokens.detach(), weight.detach()), weight.grad) < 1e-5
        weight.grad = None
    assert torch.equal(token_linear_grad_weight(torch.randn(0, 24), torch.randn(0, 16), weight), torch.zeros(24, 16))


@needs_conv
@pytest.mark.parametrize('with_residual', [False, True])
def test_recomputed_linear_as_convolution_has_autograds_gradients(with_residual):
    """linear_of_recomputed with a TokenLinear: forward and backward run as convolutions (the float64 test of
    test_recomputation.py checks the matrix products)."""
    torch.manual_seed(1)
    norm, linear = torch.nn.LayerNorm(16), TokenLinear(16, 24)
    x = torch.randn(2, 5, 7, 16, requires_grad=True)
    residual = torch.randn(2, 5, 7, 24, requires_grad=True) if with_residual else None
    tensors = [x, norm.weight, norm.bias, linear.weight, linear.bias] + ([residual] if with_residual else [])
    grad = torch.randn(2, 5, 7, 24)
    results = []
    for conv in (False, None):
        linear.conv_products = conv
        out = linear_of_recomputed(layer_norm_of(norm), x, (norm.weight, norm.bias), linear, residual)
        results.append([out.detach()] + list(torch.autograd.grad(out, tensors, grad)))
    for actual, expected in zip(*results[::-1]):
        assert relative_error(actual, expected) < 1e-5


@needs_conv
def test_residual_linear_adds_the_residual_to_the_convolution():
    layer = ResidualLinear(16, 8)
    x, residual = torch.randn(3, 5, 16), torch.randn(3, 5, 8)
    expected = residual + F.linear(x, layer.weight, layer.bias)
    assert relative_error(layer(x, residual), expected) < 1e-5
    layer.conv_products = False
    assert relative_error(layer(x, residual), expected) < 1e-5

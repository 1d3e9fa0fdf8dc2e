"""Training without keeping the cheap layers' outputs: the same gradients, fewer maps kept."""
import pytest
import torch
import torch.nn.functional as F

from afa.layers import AttentionBlock
from afa.layers.recomputed_linear import layer_norm_of, linear_of_recomputed
from afa.layers.shape_only_backward import shape_only_backward


def gradients(fn, tensors):
    generator = torch.Generator().manual_seed(5)
    out = fn()
    (out * torch.randn(out.shape, generator=generator, dtype=out.dtype)).sum().backward()
    grads = [t.grad.clone() for t in tensors]
    for t in tensors:
        t.grad = None
    return out.detach(), grads


@pytest.mark.parametrize('with_residual', [False, True])
def test_linear_of_recomputed_has_autograd_gradients(with_residual):
    torch.manual_seed(0)
    norm, linear = torch.nn.LayerNorm(6).double(), torch.nn.Linear(6, 4).double()
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    residual = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True) if with_residual else None
    tensors = [x, norm.weight, norm.bias, linear.weight, linear.bias] + ([residual] if with_residual else [])

    def plain():
        out = linear(norm(x))
        return out + residual if with_residual else out

    def recomputed():
        return linear_of_recomputed(layer_norm_of(norm), x, (norm.weight, norm.bias), linear, residual)

    expected, expected_grads = gradients(plain, tensors)
    actual, actual_grads = gradients(recomputed, tensors)
    assert actual.shape == expected.shape and torch.allclose(actual, expected, rtol=1e-12, atol=1e-12)
    for a, e in zip(actual_grads, expected_grads):
        assert torch.allclose(a, e, rtol=1e-12, atol=1e-12)


def test_shape_only_backward_of_a_channels_last_pool():
    x = torch.randn(2, 5, 9, 8, dtype=torch.float64).permute(0, 3, 1, 2).detach().requires_grad_()  # (B, C, H, W)

    def pool(t):
        return torch.cat([F.adaptive_avg_pool2d(t, 3).flatten(2), F.avg_pool2d(t, 2).flatten(2)], dim=2)

    _, expected = gradients(lambda: pool(x), [x])
    _, actual = gradients(lambda: shape_only_backward(pool, x), [x])
    assert actual[0].stride() == expected[0].stride() and torch.equal(actual[0], expected[0])


@pytest.mark.skipif(not hasattr(getattr(torch.autograd, 'graph', None), 'saved_tensors_hooks'),
                    reason='torch < 1.10 cannot list what autograd keeps')
@pytest.mark.parametrize('cross', [False, True])
def test_training_keeps_four_maps_and_one_hidden_map(cross):
    """What a training forward of a block keeps for the backward pass, in maps of C channels (the input
    included): x, the queries, the attention's output, x + Attn, and the FFN's 2C hidden map, against
    twelve with every activation kept."""
    def kept_maps(recompute_cheap):
        torch.manual_seed(0)
        block = AttentionBlock(32, 4, 2, 'adp', cross=cross, recompute_cheap=recompute_cheap)
        x = torch.randn(1, 24, 30, 32, requires_grad=True)  # a token map
        source = torch.randn(1, 12, 15, 32, requires_grad=True) if cross else None
        storages = {}

        def pack(t):
            storage = t.untyped_storage() if hasattr(t, 'untyped_storage') else t.storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            block.forward_tokens(x, source)
        big = [n for n in storages.values() if n >= x.numel() * x.element_size()]
        return sum(big) / (x.numel() * x.element_size())

    assert kept_maps(True) == 6
    assert kept_maps(False) == 12

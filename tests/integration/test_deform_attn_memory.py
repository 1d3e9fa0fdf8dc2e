"""Deformable-DETR's CPU attention under recomputation (afa/integration/deform_attn_memory.py): the same outputs and
gradients, bit for bit, as mmcv's plain fallback, without its intermediates kept for the backward pass."""
import pytest
import torch

from afa.integration import compat, deform_attn_memory


def plain_fallback():
    from mmcv.ops import multi_scale_deform_attn as msda
    function = msda.multi_scale_deformable_attn_pytorch
    while getattr(function, deform_attn_memory.MARK, False):
        function = function.__wrapped__
    return function


def inputs(seed=0):
    """A small encoder case: 2 images, 2 heads of 4 channels, 2 levels, 2 points, every one of the 39 tokens a query."""
    generator = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[6, 5], [3, 3]])
    value = torch.rand(2, 39, 2, 4, generator=generator).requires_grad_()
    locations = torch.rand(2, 39, 2, 2, 2, 2, generator=generator).requires_grad_()
    weights = torch.rand(2, 39, 2, 2, 2, generator=generator).softmax(-1).detach().requires_grad_()
    return value, shapes, locations, weights


def outputs_and_gradients(function):
    value, shapes, locations, weights = inputs()
    out = function(value, shapes, locations, weights)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), value.grad, locations.grad, weights.grad


def test_recomputed_fallback_gives_the_plain_fallbacks_outputs_and_gradients_bit_for_bit():
    plain = plain_fallback()
    expected = outputs_and_gradients(plain)
    found = outputs_and_gradients(deform_attn_memory.recomputing(plain))
    for a, b in zip(expected, found):
        assert a.abs().sum() > 0 and torch.equal(a, b)


@pytest.mark.skipif(not hasattr(torch.autograd, 'graph') or not hasattr(torch.autograd.graph, 'saved_tensors_hooks'),
                    reason='torch 1.9 cannot list what autograd saves')
def test_recomputed_fallback_keeps_no_intermediates_for_the_backward_pass():
    def saved_bytes(function):
        saved = []

        def pack(tensor):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        value, shapes, locations, weights = inputs()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            function(value, shapes, locations, weights)
        return sum(saved)

    plain = plain_fallback()
    given = sum(t.numel() * t.element_size() for t in inputs())
    assert saved_bytes(plain) > given  # more than its inputs (twice here; many times at the recipe's size)
    recomputed = saved_bytes(deform_attn_memory.recomputing(plain))
    assert recomputed <= given, (recomputed, given)


def test_compat_wraps_mmcvs_fallback_once_and_inference_takes_the_plain_path():
    compat.apply()
    compat.apply()
    from mmcv.ops import multi_scale_deform_attn as msda
    wrapped = msda.multi_scale_deformable_attn_pytorch
    assert getattr(wrapped, deform_attn_memory.MARK) and not deform_attn_memory.keeps_intermediates()
    assert not getattr(wrapped.__wrapped__, deform_attn_memory.MARK, False)  # not wrapped twice
    value, shapes, locations, weights = inputs()
    with torch.no_grad():
        assert torch.equal(wrapped(value, shapes, locations, weights), plain_fallback()(value, shapes, locations,
                                                                                         weights))

"""Deformable-DETR's attention on CPU in less memory, with the same numbers.

Without CUDA, mmcv's MultiScaleDeformableAttention runs its PyTorch fallback (``grid_sample`` per level), and
autograd keeps every level's sampled values, their stack and their weighting for the backward pass: at the
recipe's image size (1333 x 800, 2 images, about 17,000 to 22,000 tokens over 4 levels) that is hundreds of MiB per
encoder layer (one rehearsal step of the Deformable-DETR row on CPU: 12.3 GiB peak, 9.4 with this alone,
benchmarks/cpu_training_memory.py). Here the fallback runs under activation
recomputation: its inputs are kept and its forward is run again in the backward pass, the same operations in the
same order, so outputs and gradients are bitwise the ones of the plain fallback (tests/integration/
test_deform_attn_memory.py). The CUDA op is untouched; so is inference (no gradient, nothing is kept anyway).
"""
import functools

import torch

from afa.layers.checkpoint import checkpoint

MARK = 'afa_recomputes_in_backward'


def keeps_intermediates():
    """Does mmcv's CPU fallback keep its intermediates for the backward pass (not yet wrapped here)?"""
    try:
        from mmcv.ops import multi_scale_deform_attn as msda
    except ImportError:
        return False
    return not getattr(msda.multi_scale_deformable_attn_pytorch, MARK, False)


def recomputing(function):
    """``function`` (the fallback, or a wrapper of it) recomputed in the backward pass where gradients flow."""
    @functools.wraps(function)
    def fallback(value, *rest):
        if torch.is_grad_enabled() and value.requires_grad:
            return checkpoint(function, value, *rest)
        return function(value, *rest)

    setattr(fallback, MARK, True)
    return fallback


def fix():
    from mmcv.ops import multi_scale_deform_attn as msda
    msda.multi_scale_deformable_attn_pytorch = recomputing(msda.multi_scale_deformable_attn_pytorch)

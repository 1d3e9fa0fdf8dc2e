"""The AFA necks under mixed precision: autocast (mmdet's fp16, `--precision amp`) and apex O1.

The blocks' in-place products (the residual summed inside the projection, the inference strips) and their
recomputing backward assume one dtype. Under autocast, or once apex marked the blocks, the plain layers run,
as the reference block does; before that, the first autocast step failed ("mat1 and mat2 must have the same
dtype"). CPU autocast (bfloat16) stands in for CUDA's here: the same dispatcher rules.
"""
import pytest
import torch

pytest.importorskip('mmdet')
from test_necks import NECKS, build, features  # noqa: E402

CPU_AUTOCAST = hasattr(torch, 'autocast')


def _blocks(neck):
    return [m for m in neck.modules() if hasattr(m, 'mixed_precision')]


@pytest.mark.skipif(not CPU_AUTOCAST, reason='CPU autocast needs torch >= 1.10 (the paper stack has 1.9)')
@pytest.mark.parametrize('type_name', NECKS)
def test_a_training_step_and_inference_run_under_autocast_near_fp32(type_name):
    torch.manual_seed(0)
    neck = build(type_name).train()
    inputs = features(1, 96, 128)
    reference = [o.detach() for o in neck(inputs)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = neck(inputs)
    sum(o.float().sum() for o in outs).backward()
    grads = [p.grad for p in neck.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    for out, ref in zip(outs, reference):
        assert (out.float() - ref).abs().max() <= 0.05 * ref.abs().max() + 1e-3
    neck.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        evaluated = neck(inputs)
    for out, ref in zip(evaluated, reference):
        assert (out.float() - ref).abs().max() <= 0.05 * ref.abs().max() + 1e-3


@pytest.mark.parametrize('type_name', NECKS)
def test_blocks_marked_by_apex_run_the_plain_layers_with_the_same_outputs(type_name):
    torch.manual_seed(0)
    neck = build(type_name).eval()
    inputs = features(1, 96, 128)
    blocks = _blocks(neck)
    assert blocks and all(b.single_dtype() for b in blocks)
    with torch.no_grad():
        fused = neck(inputs)
    for block in blocks:  # what ApexOptimizerHook.before_run does
        block.mixed_precision = True
    assert not any(b.single_dtype() or b.uses_strips() for b in blocks)
    with torch.no_grad():
        plain = neck(inputs)
    for a, b in zip(fused, plain):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)

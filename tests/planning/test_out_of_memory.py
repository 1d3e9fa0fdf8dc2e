"""A row that does not fit its GPU is told which option makes it fit and what layout that gives: the next fewer
images per GPU, the rest of the recipe's 16 images as accumulation steps."""
import re

import pytest

from afa.planning import batch, out_of_memory
from afa.planning.plan import plan_batch

TORCH_19 = ('CUDA out of memory. Tried to allocate 1.53 GiB (GPU 0; 39.59 GiB total capacity; 36.12 GiB already '
            'allocated; 1.02 GiB free; 36.80 GiB reserved in total by PyTorch)')


@pytest.mark.parametrize('gpus, nodes, imgs, fewer, layout', [
    (1, 1, 16, 8, '1 GPU x 8 images x 2 accumulation steps'),
    (1, 1, 2, 1, '1 GPU x 1 image x 16 accumulation steps'),
    (8, 1, 2, 1, '8 GPUs x 1 image x 2 accumulation steps'),
    (4, 1, 4, 2, '4 GPUs x 2 images x 2 accumulation steps'),
])
def test_the_advice_names_the_option_and_the_layout_it_plans(gpus, nodes, imgs, fewer, layout):
    stopped = batch.split(16, gpus, nodes, imgs)
    text = out_of_memory.advice('cmrcn_x101_mssa_1x', stopped, RuntimeError(TORCH_19 + '\nmore lines'))
    assert text.startswith('cmrcn_x101_mssa_1x ran out of GPU memory with %d image' % imgs)
    assert '--max-imgs-per-gpu %d (workflow: --config max_imgs_per_gpu=%d)' % (fewer, fewer) in text
    assert layout in text and 'the same 16 images per optimizer step' in text
    assert text.endswith('[torch: %s]' % TORCH_19)  # torch's first line, for the bytes it could not get
    # what `afa plan`/`afa train` make of the advised option is the layout the advice names
    advised = int(re.search(r'--max-imgs-per-gpu (\d+)', text).group(1))
    assert plan_batch(16, gpus, nodes, max_imgs_per_gpu=advised).describe() == layout


def test_at_one_image_per_gpu_the_advice_is_a_larger_gpu():
    text = out_of_memory.advice('ddetr_r50_3x', batch.split(16, 8, 2))
    assert 'no smaller split exists; it needs GPUs with more memory' in text
    assert '--max-imgs-per-gpu' not in text and '[torch' not in text


def test_only_the_gpus_out_of_memory_error_is_recognised():
    torch = pytest.importorskip('torch')
    assert out_of_memory.is_gpu_out_of_memory(RuntimeError(TORCH_19))  # torch 1.9 raises a plain RuntimeError
    if hasattr(torch.cuda, 'OutOfMemoryError'):  # later torch: its own subclass, the same words
        assert out_of_memory.is_gpu_out_of_memory(torch.cuda.OutOfMemoryError(TORCH_19))
    assert not out_of_memory.is_gpu_out_of_memory(RuntimeError('shape mismatch: [2, 256] and [4, 256]'))
    assert not out_of_memory.is_gpu_out_of_memory(MemoryError())  # the host's: not fixed by fewer images per GPU

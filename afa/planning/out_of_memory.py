"""What to do when a row does not fit its GPU: fewer images per GPU, the rest of the batch as gradient
accumulation (the same 16 images per optimizer step, the same run id). One GPU takes all 16 images by default,
which only the largest cards hold; torch's own error names the bytes, not the way out.

Standard library only: imported by `afa train` and `afa plan --probe` before they touch torch.
"""
from afa.planning.batch import split


def is_gpu_out_of_memory(exc):
    """True for the GPU's out-of-memory error: a RuntimeError saying so under torch 1.9, its subclass
    torch.cuda.OutOfMemoryError under later torch (the same words)."""
    return isinstance(exc, RuntimeError) and 'CUDA out of memory' in str(exc)


def advice(run_id, batch, exc=None):
    """One paragraph for a run that ran out of GPU memory under ``batch`` (a BatchPlan): the layout with the next
    fewer images per GPU and the options that choose it, or, at one image per GPU, that it needs a larger GPU."""
    where = '%s ran out of GPU memory with %d image%s per GPU (%s)' % (
        run_id, batch.imgs_per_device, 's' if batch.imgs_per_device > 1 else '', batch.describe())
    torch_says = ' [torch: %s]' % str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ''
    if batch.imgs_per_device == 1:
        return ('%s: no smaller split exists; it needs GPUs with more memory (docs/usage.md, "GPUs, nodes and the '
                'batch", gives what each layout needs)%s' % (where, torch_says))
    fewer = batch.imgs_per_device // min(d for d in range(2, batch.imgs_per_device + 1)
                                         if batch.imgs_per_device % d == 0)
    smaller = split(batch.effective_batch, batch.devices, batch.nodes, fewer)
    return ('%s: run it again with --max-imgs-per-gpu %d (workflow: --config max_imgs_per_gpu=%d), i.e. %s: the '
            'same %d images per optimizer step and the same run; docs/usage.md, "GPUs, nodes and the batch", '
            'gives what each layout needs%s' % (where, fewer, fewer, smaller.describe(), smaller.effective_batch,
                                                torch_says))

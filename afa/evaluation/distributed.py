"""`afa test` over several processes (GPUs, or CPU processes with gloo): each process infers its share of the
dataset, and the shares are gathered in dataset order on every process; rank 0 alone evaluates and writes.

mmdet's multi_gpu_test collects through a CUDA tensor (collect_results_cpu) or NCCL (gpu_collect), neither of
which runs on CPU processes; torch.distributed.all_gather_object runs on gloo and NCCL alike (torch >= 1.8).
"""

def join(launcher, use_cuda, dist_params=None):
    """Join the process group started by torch.distributed.run; returns this process's rank."""
    import torch.distributed as dist
    if not dist.is_initialized():
        if use_cuda:
            from mmcv.runner import init_dist
            init_dist(launcher, **(dist_params or {}))
        else:
            dist.init_process_group(backend='gloo')
    return dist.get_rank()


def infer(model, loader):
    """This process's outputs (mmdet's test-mode call, masks RLE-encoded as mmdet's test loops do)."""
    import torch
    from mmdet.core import encode_mask_results
    model.eval()
    results = []
    for data in loader:
        with torch.no_grad():
            result = model(return_loss=False, rescale=True, **data)
        if isinstance(result[0], tuple):
            result = [(bbox, encode_mask_results(mask)) for bbox, mask in result]
        results.extend(result)
    return results


def collect_in_order(part, size):
    """Every process's outputs in dataset order: the distributed sampler (no shuffle) gives rank r the samples
    r, r + W, r + 2W, ... padded at the end, so the parts interleave and the padding is cut."""
    import torch.distributed as dist
    parts = [None] * dist.get_world_size()
    dist.all_gather_object(parts, part)
    ordered = []
    for group in zip(*parts):
        ordered.extend(group)
    if len(ordered) < size:
        raise RuntimeError('collected %d results for %d images (rank %d)' % (len(ordered), size, dist.get_rank()))
    return ordered[:size]

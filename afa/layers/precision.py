"""Is one dtype used throughout? The fused, in-place and convolution paths of the blocks assume it; under
mixed precision (autocast, apex O1) the plain layers run, as the reference block computes them."""
import torch


def autocast_active():
    """Is autocast on (CUDA's, or the CPU's where torch has it)? The fused and recomputing paths of the blocks
    assume one dtype throughout; under autocast the plain layers are used."""
    if torch.is_autocast_enabled():  # CUDA's, on every torch
        return True
    try:
        return torch.is_autocast_enabled('cpu')  # torch >= 2.4
    except TypeError:
        cpu = getattr(torch, 'is_autocast_cpu_enabled', None)  # torch 1.10 to 2.3; torch 1.9 has none
        return bool(cpu is not None and cpu())


def one_dtype(*tensors):
    """Do all ``tensors`` (None ignored) share one dtype, with no autocast to change it inside a product?"""
    dtypes = set(t.dtype for t in tensors if t is not None)
    return len(dtypes) == 1 and not autocast_active()

"""Freed tensor memory goes back to the operating system at once, for runs on CPU.

glibc serves a large allocation with a mapping of its own, returned when freed; but after the first such free it
raises that size threshold (up to 32 MiB), so a training step's many tensors of a few MiB then come from the heap,
whose freed blocks the process keeps: its resident set grows well past what its tensors need. One rehearsal step
of Deformable-DETR on CPU (its attention recomputed) peaked at 9.4 GiB of resident memory, 7.4 GiB with the
threshold held at glibc's default (128 KiB), and took no longer (benchmarks/cpu_training_memory.py). On CPU,
where the tensors live in this memory, `afa train`, `afa test` and the probe hold it there. The numbers computed
are unchanged; a GPU's memory is not concerned. A threshold the user set (MALLOC_MMAP_THRESHOLD_) is left as it is.
"""
import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
THRESHOLD_BYTES = 128 * 1024


def return_freed_memory():
    """Hold glibc's mmap threshold at 128 KiB; False where nothing was done (another C library, or the user's
    own MALLOC_MMAP_THRESHOLD_)."""
    if 'MALLOC_MMAP_THRESHOLD_' in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES) == 1

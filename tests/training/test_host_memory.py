"""On CPU, freed tensors go back to the operating system at once (afa/utils/host_memory.py): a process that has
freed its tensors keeps no heap of them, whatever sizes glibc's own threshold would have moved to the heap."""
import os
import subprocess
import sys

from conftest import REPO

# One tensor of 16 MiB freed (glibc then serves blocks up to its size from the heap), then 40 tensors of 8 MiB
# filled, all but the last freed: with the heap, the freed ones under the last stay resident.
CHILD = '''
import sys
import torch
from afa.utils import host_memory
if sys.argv[1] == 'held':
    assert host_memory.return_freed_memory()
big = torch.ones(4 << 20)
del big
tensors = [torch.ones(2 << 20) for _ in range(40)]
last = tensors[-1]
del tensors
with open('/proc/self/status') as f:
    print([int(line.split()[1]) // 1024 for line in f if line.startswith('VmRSS')][0])
'''


def resident_mib_after_freeing(variant):
    env = {k: v for k, v in os.environ.items() if k != 'MALLOC_MMAP_THRESHOLD_'}
    result = subprocess.run([sys.executable, '-c', CHILD, variant], capture_output=True, text=True, timeout=120,
                            cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.split()[-1])


def test_freed_tensors_leave_the_resident_set_on_cpu():
    kept = resident_mib_after_freeing('default')
    held = resident_mib_after_freeing('held')
    assert kept - held > 250, (kept, held)  # 39 freed tensors of 8 MiB: 312 MiB kept by the heap without it

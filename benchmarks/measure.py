"""What the cost benchmarks share: timing with models alternated, peak memory of a fresh child process, and
the markdown table of figures with their ratios to a reference row.

Alternating matters on a shared machine: one repeat times every model once, in turn, so that a burst of
load from another process lands on all of them rather than on whichever model was running at the time.
"""
import json
import logging
import os
import statistics
import subprocess
import sys
import time


# Variants of a neck name, NECK[option,...], so that "before" and "after" rows run in one process.
VARIANTS = {
    # the block as it was before strips (every level whole), before the cheap layers were recomputed and
    # before its linear layers ran as 1x1 convolutions
    'before': dict(strip_tokens=0, recompute_cheap=False, use_conv_products=False),
    'gemm': dict(use_conv_products=False),  # the linear layers as matrix products (torch 1.9's, CUDA's)
    'explicit': dict(use_fused_attn=False),  # torch 1.9's attention path
    'cp': dict(with_cp=True),              # activations recomputed in the backward pass
}


def neck_variant(name):
    """'MSSAAdp[before,cp]' -> ('MSSAAdp', {config keys of the options}); FPN takes no option. An option
    KEY=INT sets that config key (e.g. strip_tokens=8192)."""
    base, _, options = name.partition('[')
    cfg = {}
    for option in filter(None, options.rstrip(']').split(',')):
        key, equals, value = option.partition('=')
        if equals and value.isdigit():
            cfg[key] = int(value)
        elif option not in VARIANTS:
            raise SystemExit('unknown neck option %r in %r; known: %s, KEY=INT' % (option, name,
                                                                                 ', '.join(VARIANTS)))
        else:
            cfg.update(VARIANTS[option])
    return base, cfg


def machine_line():
    """The load this run shares the machine with: CPU count and load averages (1, 5, 15 min)."""
    try:
        load = '%.1f %.1f %.1f' % os.getloadavg()
    except OSError:
        load = 'unknown'
    return '%d CPUs, load average %s, OMP_NUM_THREADS=%s' % (os.cpu_count() or 0, load,
                                                            os.environ.get('OMP_NUM_THREADS', 'unset'))


def quiet_mmcv():
    """Silence mmcv's per-parameter init log (thousands of lines per detector)."""
    from mmcv.utils import get_logger
    get_logger('mmcv', log_level=logging.ERROR)


def synchronize(device):
    if str(device).startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def time_alternating(fns, repeat, device='cpu', progress=None):
    """Median seconds of each callable in ``fns`` (name -> fn); each is run once to warm up, then ``repeat``
    rounds run every fn once, in turn."""
    times = {name: [] for name in fns}
    for round_ in range(repeat + 1):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if round_:
                times[name].append(time.perf_counter() - start)
            if progress:
                progress('%s %s %.2f s' % ('round %d' % round_ if round_ else 'warm-up', name,
                                           time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def reset_peak_rss():
    """Make the kernel's peak resident set (VmHWM) start afresh from the current resident set; False where
    /proc/self/clear_refs is not writable (then the peak counts from the process start)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def rss_bytes(field='VmHWM'):
    """Resident set of this process from /proc (VmHWM: the peak, VmRSS: now). /proc's counters start afresh
    at exec, unlike ru_maxrss, which a child inherits from the parent it was forked from."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_growth(fn):
    """Bytes by which running ``fn`` raises this process's peak resident set above its resident set now."""
    reset_peak_rss()
    before = rss_bytes('VmRSS')
    fn()
    return max(rss_bytes('VmHWM') - before, 0)


def allocated_peak_growth(fn):
    """Bytes of tensor memory ``fn()`` holds at its peak above what was allocated before it, from the
    profiler's allocation events (torch 2): on CPU what CUDA's ``max_memory_allocated`` counts on a GPU (and
    what the paper's memory figures are), without the heap fragmentation that the resident set also holds.
    None where torch does not report the events (torch 1.9)."""
    try:
        from torch._C._profiler import _EventType
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    allocations, nodes = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children)
        if node.tag == _EventType.Allocation and node.typed[1].device.type == 'cpu':
            allocations.append((node.start_time_ns, node.typed[1].alloc_size))
    held = peak = 0
    for _, size in sorted(allocations):  # frees of blocks made before the profiler started are not reported
        held += size
        peak = max(peak, held)
    return peak


def child_memory(fn):
    """What a memory child reports of ``fn``: the growth of the peak resident set in this fresh process
    ('peak'), then, in a second run, the peak of allocated tensor memory ('allocated', None on torch 1.9)."""
    peak = peak_growth(fn)
    return dict(peak=peak, allocated=allocated_peak_growth(fn))


def cuda_memory(fn):
    """``child_memory``'s figures on CUDA: the caching allocator's peak reserved ('peak') and allocated
    ('allocated') bytes during ``fn()`` above what was reserved and allocated before it."""
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    reserved, allocated = torch.cuda.memory_reserved(), torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return dict(peak=torch.cuda.max_memory_reserved() - reserved,
                allocated=torch.cuda.max_memory_allocated() - allocated)


def run_child(script, args):
    """Run ``script --child ARGS`` in a fresh interpreter; returns the JSON object its last line prints."""
    out = subprocess.run([sys.executable, script, '--child'] + [str(a) for a in args], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_ratio_table(title, header, rows, scales, formats):
    """Markdown table: ``rows`` are (name, figure...); each figure is shown scaled, with its ratio to the
    first row's."""
    print('\n%s (ratios to %s)' % (title, rows[0][0]))
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    reference = rows[0][1:]
    for row in rows:
        cells = []
        for value, ref, scale, fmt in zip(row[1:], reference, scales, formats):
            if value is None:  # a figure this torch does not give
                cells.append('-')
                continue
            ratio = value / ref if ref else float('nan')
            cells.append('%s (x%.2f)' % (fmt % (value * scale), ratio))
        print('| %s | %s |' % (row[0], ' | '.join(cells)))
    sys.stdout.flush()

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
    'before': dict(strip_tokens=0),        # every level whole: the block as it was before strips
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


def cuda_peak_growth(fn):
    """Bytes of CUDA memory ``fn()`` allocates at its peak above what was allocated before it ran."""
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


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
            ratio = value / ref if ref else float('nan')
            cells.append('%s (x%.2f)' % (fmt % (value * scale), ratio))
        print('| %s | %s |' % (row[0], ' | '.join(cells)))
    sys.stdout.flush()

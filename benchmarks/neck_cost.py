"""Cost of FPN and every AFA neck: parameters, analytical MACs, forward and forward+backward time, peak memory.

    .venv/bin/python benchmarks/neck_cost.py [--sizes 800x1344,512x512] [--device cpu|cuda] [--repeat 3]
                                             [--explicit-too]

Inputs are random ResNet-50 feature maps (256/512/1024/2048 channels, strides 4..32) of one image of each
size. Time is the median over --repeat runs after one warm-up. Peak memory: on CUDA the allocator's peak
above the inputs; on CPU the growth of the peak resident set (VmHWM) of a fresh child process over a
baseline child that builds the same neck and inputs without running it (temporaries and autograd state
included).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from afa.neck_cost import fusion_macs, level_sizes  # noqa: E402

NECKS = ['FPN', 'MSSA', 'MSSAAdp', 'MSSAAdpMS', 'MSCA', 'MSCAAdp', 'MSCAAdpMS']
CHANNELS = [256, 512, 1024, 2048]


def build(name, device):
    """``name`` is a registered neck, or NECK[explicit] for its explicit (non-fused) attention path."""
    import afa.models  # noqa: F401  (registers the necks)
    from mmdet.models import build_neck
    cfg = dict(type=name.split('[')[0], in_channels=CHANNELS, out_channels=256, num_outs=5)
    if name.endswith('[explicit]'):
        cfg['use_fused_attn'] = False
    neck = build_neck(cfg).to(device)
    neck.init_weights()
    return neck


def inputs_for(height, width, device, batch=1):
    return [torch.randn(batch, c, h, w, device=device) for c, (h, w) in zip(CHANNELS, level_sizes(height, width))]


def timed(fn, device, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_times(name, height, width, device, repeat):
    neck = build(name, device)
    x = inputs_for(height, width, device)

    def forward():
        with torch.no_grad():
            neck(x)

    def forward_backward():
        neck.zero_grad(set_to_none=True)
        sum(o.float().mean() for o in neck(x)).backward()

    return timed(forward, device, repeat), timed(forward_backward, device, repeat)


def rss_child(name, height, width, mode):
    """Peak resident set (bytes) of a child that builds the neck and runs ``mode`` ('none', 'fwd', 'fwdbwd')."""
    out = subprocess.run([sys.executable, __file__, '--child', name, '%dx%d' % (height, width), mode],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])['maxrss']


def child(name, size, mode):
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    height, width = map(int, size.split('x'))
    neck = build(name, 'cpu')
    x = inputs_for(height, width, 'cpu')
    if mode == 'fwd':
        with torch.no_grad():
            neck(x)
    elif mode == 'fwdbwd':
        sum(o.mean() for o in neck(x)).backward()
    print(json.dumps({'maxrss': peak_rss_bytes()}))


def peak_rss_bytes():
    """Peak resident set of this process image. /proc's VmHWM starts afresh at exec; ru_maxrss would carry
    the parent's size over from the fork (the benchmark's own 1.5 GB), hiding the neck's memory."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_memory(name, height, width, device):
    if device == 'cuda':
        neck = build(name, device)
        x = inputs_for(height, width, device)
        results = []
        for backward in (False, True):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            if backward:
                sum(o.mean() for o in neck(x)).backward()
            else:
                with torch.no_grad():
                    neck(x)
            torch.cuda.synchronize()
            results.append(torch.cuda.max_memory_allocated() - base)
        return results
    base = rss_child(name, height, width, 'none')
    return [max(rss_child(name, height, width, m) - base, 0) for m in ('fwd', 'fwdbwd')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='800x1344,512x512', help='image sizes HxW, comma-separated')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--necks', default=','.join(NECKS))
    parser.add_argument('--explicit-too', action='store_true',
                        help='also the plain necks on the explicit attention path (what torch 1.9 runs)')
    parser.add_argument('--child', nargs=3, metavar=('NECK', 'SIZE', 'MODE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    necks = args.necks.split(',')
    if args.explicit_too:
        necks += ['%s[explicit]' % n for n in necks if n in ('MSSA', 'MSCA')]
    print('device: %s (%s), torch %s, threads %d' % (
        args.device, torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU', torch.__version__,
        torch.get_num_threads()))
    for size in args.sizes.split(','):
        height, width = map(int, size.split('x'))
        rows = []
        for name in necks:
            neck = build(name, 'cpu')
            params = sum(p.numel() for p in neck.parameters())
            del neck
            macs = fusion_macs(name.split('[')[0], height, width)
            fwd, fwdbwd = measure_times(name, height, width, args.device, args.repeat)
            mem_fwd, mem_fwdbwd = peak_memory(name, height, width, args.device)
            rows.append((name, params, macs, fwd, fwdbwd, mem_fwd, mem_fwdbwd))
            print('  measured %-10s %s' % (name, size), file=sys.stderr, flush=True)
        print_table(size, rows)


def print_table(size, rows):
    """Markdown table; each figure followed by its ratio to the first row (FPN)."""
    print('\nimage %s, batch 1 (ratios to %s)' % (size, rows[0][0]))
    header = ('neck', 'params', 'fusion GMACs', 'fwd ms', 'fwd+bwd ms', 'peak MiB fwd', 'peak MiB fwd+bwd')
    scales = (1, 1e-9, 1e3, 1e3, 2 ** -20, 2 ** -20)
    formats = ('%d', '%.1f', '%.0f', '%.0f', '%.0f', '%.0f')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    reference = rows[0][1:]
    for name, *figures in rows:
        cells = ['%s (x%.2f)' % (fmt % (value * scale), value / ref if ref else float('nan'))
                 for value, ref, scale, fmt in zip(figures, reference, scales, formats)]
        print('| %s | %s |' % (name, ' | '.join(cells)))

if __name__ == '__main__':
    main()

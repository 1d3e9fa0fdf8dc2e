"""Where a neck's forward time goes: self CPU (or CUDA) time by kind of operator, from torch's profiler.

    .venv/bin/python benchmarks/neck_profile.py [--necks FPN,MSSAAdp] [--size 800x1344] [--device cpu|cuda]

The MAC bound of neck_cost.py assumes every multiply-add runs at the FPN's speed; this says why a neck is
slower than that: its matrix products run at another throughput (GMAC/s printed beside them), or its time is
in passes the MAC count leaves out (copies, LayerNorms, GELU, softmax, upsampling, additions).
"""
import argparse
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
from neck_cost import build, inputs_for  # noqa: E402
from afa.models.neck_cost import fusion_macs  # noqa: E402

MATRIX = ('addmm', 'mm', 'bmm', 'matmul', 'linear', 'scaled_dot_product', 'convolution')


def kind(op):
    """'matrix products' (GEMMs, attention, convolutions) or 'other passes'."""
    return 'matrix products' if any(word in op for word in MATRIX) else 'other passes'


def profile_forward(neck, x, device):
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    with torch.no_grad():
        neck(x)  # warm-up
        with profile(activities=activities) as prof:
            neck(x)
            if device == 'cuda':
                torch.cuda.synchronize()
    attr = 'self_cuda_time_total' if device == 'cuda' else 'self_cpu_time_total'
    return {e.key: getattr(e, attr) / 1000.0 for e in prof.key_averages() if getattr(e, attr) > 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--necks', default='FPN,MSSAAdp')
    parser.add_argument('--size', default='800x1344')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split('x'))
    print('neck forward, image %s, batch 1, %s, torch %s; %s' % (args.size, args.device, torch.__version__,
                                                                  measure.machine_line()))
    print('| neck | total ms | matrix products ms | GMACs | GMAC/s | other passes ms | largest operators (ms) |')
    print('|---|---|---|---|---|---|---|')
    for name in args.necks.split(','):
        times = profile_forward(build(name, args.device).eval(), inputs_for(height, width, args.device), args.device)
        by_kind = collections.Counter()
        for op, ms in times.items():
            by_kind[kind(op)] += ms
        total = sum(times.values())
        base = name.split('[')[0]
        gmacs = fusion_macs(base, height, width) / 1e9
        top = sorted(times.items(), key=lambda kv: -kv[1])[:5]
        print('| %s | %.0f | %.0f (%.0f%%) | %.1f | %.0f | %.0f (%.0f%%) | %s |' % (
            name, total, by_kind['matrix products'], 100 * by_kind['matrix products'] / total, gmacs,
            gmacs / (by_kind['matrix products'] / 1000.0), by_kind['other passes'],
            100 * by_kind['other passes'] / total, ', '.join('%s %.0f' % kv for kv in top)))


if __name__ == '__main__':
    main()

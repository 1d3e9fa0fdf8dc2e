"""Cost of FPN and every AFA neck: parameters, analytical MACs, forward and forward+backward time, peak memory.

    .venv/bin/python benchmarks/neck_cost.py [--sizes 800x1344,512x512] [--device cpu|cuda] [--repeat 3]
                                             [--necks FPN,MSSAAdp,...] [--explicit-too] [--no-memory] [--quick]

A neck name may carry options, NECK[before], NECK[gemm], NECK[cp], NECK[explicit] (``measure.VARIANTS``); by
default each AFA neck has a "before" row (every level computed whole, as before the strips, every activation
kept for the backward pass, as before ``recompute_cheap``, and the linear layers as matrix products, as before
``use_conv_products``) beside its row as it is now, and a [cp] row
(``with_cp=True``) for the training-step figures.
"MAC bound ms" is the reference row's time scaled by the fusion stage's multiply-adds: the time the neck
would take if it ran its arithmetic at the FPN's speed (laterals and outputs counted as in the FPN).

Inputs are random ResNet-50 feature maps (256/512/1024/2048 channels, strides 4..32) of one image of each
size. Time is the median over --repeat rounds after a warm-up round, each round running every neck once in
turn (``measure.time_alternating``). Memory: on CUDA the caching allocator's peak reserved ("peak") and
allocated bytes above the inputs; on CPU, in a fresh child process that has built the same neck and inputs,
how far one run raises the peak resident set (VmHWM; temporaries, autograd state and what the C heap keeps of
freed blocks) and the peak of the tensors held during a second run ("allocated", torch 2's profiler; the
figure a GPU reports).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
from afa.models.neck_cost import fusion_macs, level_sizes  # noqa: E402
from afa.models.necks import PAPER_NECKS  # noqa: E402

NECKS = ['FPN'] + list(PAPER_NECKS)
QUICK = dict(sizes='800x1344', necks='FPN,MSSAAdp[before],MSSAAdp,MSCAAdp[before],MSCAAdp', repeat=3)
CHANNELS = [256, 512, 1024, 2048]


def build(name, device):
    """``name`` is a registered neck, with options in brackets (``measure.neck_variant``)."""
    import afa.models  # noqa: F401  (registers the necks)
    from mmdet.models import build_neck
    measure.quiet_mmcv()
    neck_type, options = measure.neck_variant(name)
    cfg = dict(type=neck_type, in_channels=CHANNELS, out_channels=256, num_outs=5, **options)
    neck = build_neck(cfg).to(device)
    neck.init_weights()
    return neck


def inputs_for(height, width, device, batch=1):
    return [torch.randn(batch, c, h, w, device=device) for c, (h, w) in zip(CHANNELS, level_sizes(height, width))]


def runner(neck, x, mode):
    """A callable running the neck forward ('fwd', no autograd) or forward and backward ('fwdbwd')."""

    def forward():
        with torch.no_grad():
            neck(x)

    def forward_backward():
        neck.train()
        neck.zero_grad(set_to_none=True)
        sum(o.float().mean() for o in neck(x)).backward()

    return forward if mode == 'fwd' else forward_backward


def child(name, size, mode):
    """Peak-memory child: build one neck and its inputs, run ``mode``, print ``measure.child_memory``'s figures."""
    import json
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    height, width = map(int, size.split('x'))
    fn = runner(build(name, 'cpu'), inputs_for(height, width, 'cpu'), mode)
    print(json.dumps(measure.child_memory(fn)))


def peak_memory(name, height, width, mode, device):
    """(peak resident set or reserved, peak allocated) bytes of one run above what was there before it."""
    if device == 'cuda':
        figures = measure.cuda_memory(runner(build(name, device), inputs_for(height, width, device), mode))
    else:
        figures = measure.run_child(os.path.abspath(__file__), [name, '%dx%d' % (height, width), mode])
    return [figures['peak'], figures['allocated']]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='800x1344,512x512', help='image sizes HxW, comma-separated')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--necks', default=','.join(NECKS), help='the first is the reference row')
    parser.add_argument('--explicit-too', action='store_true',
                        help='also the plain necks on the explicit attention path (what torch 1.9 runs)')
    parser.add_argument('--no-memory', action='store_true', help='time only (memory needs a child per run)')
    parser.add_argument('--quick', action='store_true', help='the paper size, FPN and the Adp necks before and '
                        'after: %s' % QUICK)
    parser.add_argument('--child', nargs=3, metavar=('NECK', 'SIZE', 'MODE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    necks = args.necks.split(',')
    if args.necks == ','.join(NECKS):
        necks = [NECKS[0]] + [n + v for n in NECKS[1:] for v in ('[before]', '', '[cp]')]
    if args.explicit_too:
        necks += ['%s[explicit]' % n for n in necks if n in ('MSSA', 'MSCA')]
    print('device: %s (%s), torch %s, threads %d; %s' % (
        args.device, torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU', torch.__version__,
        torch.get_num_threads(), measure.machine_line()))

    def progress(message):
        print('  ' + message, file=sys.stderr, flush=True)

    modules = {name: build(name, args.device) for name in necks}
    for size in args.sizes.split(','):
        height, width = map(int, size.split('x'))
        x = inputs_for(height, width, args.device)
        times = {mode: measure.time_alternating({n: runner(m, x, mode) for n, m in modules.items()},
                                                args.repeat, args.device, progress)
                 for mode in ('fwd', 'fwdbwd')}
        rows = []
        for name in necks:
            macs = fusion_macs(name.split('[')[0], height, width)
            bound = times['fwd'][necks[0]] * macs / fusion_macs(necks[0].split('[')[0], height, width)
            row = [name, sum(p.numel() for p in modules[name].parameters()), macs, bound, times['fwd'][name],
                   times['fwdbwd'][name]]
            if not args.no_memory:
                for mode in ('fwd', 'fwdbwd'):
                    row += peak_memory(name, height, width, mode, args.device)
                progress('memory %s %s' % (name, size))
            rows.append(row)
        header = ['neck', 'params', 'fusion GMACs', 'MAC bound ms', 'fwd ms', 'fwd+bwd ms']
        scales, formats = [1, 1e-9, 1e3, 1e3, 1e3], ['%d', '%.1f', '%.0f', '%.0f', '%.0f']
        if not args.no_memory:
            header += ['peak MiB fwd', 'allocated MiB fwd', 'peak MiB fwd+bwd', 'allocated MiB fwd+bwd']
            scales, formats = scales + [2 ** -20] * 4, formats + ['%.0f'] * 4
        measure.print_ratio_table('image %s, batch 1, %d rounds; at the end: %s' % (
            size, args.repeat, measure.machine_line()), header, rows, scales, formats)


if __name__ == '__main__':
    main()

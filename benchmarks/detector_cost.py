"""Whole-detector cost of each neck: Cascade Mask R-CNN R-50 with Sum-Up (mmdet's FPN) against every AFA neck,
inference and one training step, time and peak memory, all in one process with the models alternated.

    .venv/bin/python benchmarks/detector_cost.py [--sizes 800x1344,512x672] [--necks FPN,MSSAAdp,...]
                                                 [--repeat 3] [--modes infer,train] [--no-memory] [--quick]

Only the neck differs between the models: they are built from mmdet's cascade_mask_rcnn_r50_fpn_1x_coco
config (the repository's copy), and every non-neck weight is copied from the Sum-Up model. The weights are
random, so at the config's score threshold (0.05) almost nothing reaches the mask heads: the strict setting,
where the neck's share of the time is largest. ``--score-thr 0`` sends every model's top 100 detections
through the three mask heads, as a trained model does on a busy image. One image per batch, two boxes with
masks for the training step (forward, losses, backward).

Rows: each AFA neck "before" (NECK[before]: every level computed whole, every activation kept for the
backward pass and the linear layers as matrix products, as the neck was before the strips, ``recompute_cheap``
and ``use_conv_products``; NECK[gemm] keeps only the matrix products), as it is now, and, for the training
step, NECK[cp] (activations recomputed in the backward pass, the ``with_cp`` option); options of a name:
``measure.neck_variant``. In the inference table NECK[cp] is NECK, so those rows are left out. "MAC bound s":
Sum-Up's time scaled by the model's multiply-adds (convolutions and linear layers counted on the Sum-Up model
by hooks, its FPN's fusion stage replaced by the neck's, ``afa.models.neck_cost``): the time if the neck ran at
the FPN's speed.

Time: median over --repeat rounds after a warm-up round; each round runs every model once in turn (see
``measure.time_alternating``). Memory (CPU), in a fresh child process that has built the same model: "peak
MiB", how far one run raises the peak resident set (VmHWM), i.e. activations, temporaries and, for training,
the gradients, plus what the C heap keeps of freed blocks; "allocated MiB", the peak of the tensors held
during a second run (the profiler's allocation events, torch 2 only): the figure a GPU's allocator reports,
and the paper's. The weights themselves are left out of both (listed as "weights MiB"). On CUDA: the caching
allocator's peak reserved and allocated bytes above those before the run.
"""
import argparse
import os
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
from afa.models.necks import PAPER_NECKS  # noqa: E402

CONFIG = os.path.join(REPO, 'configs', 'mmdet', 'cascade_rcnn', 'cascade_mask_rcnn_r50_fpn_1x_coco.py')
NECKS = ['FPN'] + ['%s%s' % (neck, option) for neck in PAPER_NECKS for option in ('[before]', '', '[cp]')]
MODES = ('infer', 'train')
SKIPPED = dict(infer='[cp]', train=None)  # the rows that equal another row in that mode
QUICK = dict(sizes='384x640', repeat=1,
             necks='FPN,MSSAAdp[before],MSSAAdp,MSSAAdp[cp],MSCAAdp[before],MSCAAdp,MSCAAdp[cp]')


def build(neck, device, reference=None, score_thr=None):
    """The detector with ``neck``; non-neck weights copied from ``reference`` (a built detector) if given."""
    import afa.models  # noqa: F401  (registers the necks)
    from mmcv import Config
    from mmdet.models import build_detector
    measure.quiet_mmcv()
    cfg = Config.fromfile(CONFIG)
    cfg.model.neck.type, options = measure.neck_variant(neck)
    cfg.model.neck.update(options)
    cfg.model.backbone.init_cfg = None  # random weights: no download
    if score_thr is not None:
        cfg.model.test_cfg.rcnn.score_thr = score_thr
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    if reference is not None:
        shared = {k: v for k, v in reference.state_dict().items() if not k.startswith('neck.')}
        model.load_state_dict(shared, strict=False)
    return model.to(device)


def batch_for(height, width, device):
    """One image with two boxes and their masks, in mmdet 2.x's forward_train / forward_test format."""
    from mmdet.core import BitmapMasks
    generator = torch.Generator().manual_seed(0)
    img = torch.randn(1, 3, height, width, generator=generator).to(device)
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.5, 0.2, 0.9, 0.8]]) * torch.tensor([width, height] * 2)
    masks = np.zeros((2, height, width), dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
        masks[i, y0:y1, x0:x1] = 1
    meta = dict(img_shape=(height, width, 3), ori_shape=(height, width, 3), pad_shape=(height, width, 3),
                scale_factor=np.ones(4, dtype=np.float32), flip=False, batch_input_shape=(height, width))
    return dict(img=img, metas=[meta], boxes=[boxes.to(device)], labels=[torch.tensor([0, 3], device=device)],
                masks=[BitmapMasks(masks, height, width)])


def runner(model, batch, mode):
    """A callable that runs one inference or one training step (forward, losses, backward)."""

    def infer():
        model.eval()
        with torch.no_grad():
            model([batch['img']], [batch['metas']], return_loss=False, rescale=True)

    def train():
        model.train()
        model.zero_grad(set_to_none=True)
        losses = model(batch['img'], batch['metas'], gt_bboxes=batch['boxes'], gt_labels=batch['labels'],
                       gt_masks=batch['masks'], return_loss=True)
        loss, _ = model._parse_losses(losses)
        loss.backward()

    return infer if mode == 'infer' else train


def counted_macs(model, batch):
    """Multiply-adds of the convolutions and linear layers in one inference of ``model`` (forward hooks)."""
    import torch.nn as nn
    total = [0]

    def conv(module, inputs, output):
        total[0] += output.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * \
            module.kernel_size[1]

    def linear(module, inputs, output):
        total[0] += output.numel() * module.in_features

    handles = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
               for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        runner(model, batch, 'infer')()
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def mac_bounds(models, batch, height, width):
    """name -> the model's multiply-adds over the first (Sum-Up) model's, its neck's fusion stage swapped."""
    from afa.models.neck_cost import fusion_macs
    names = list(models)
    reference = counted_macs(models[names[0]], batch)
    base = fusion_macs(names[0].split('[')[0], height, width)
    return {n: (reference - base + fusion_macs(n.split('[')[0], height, width)) / reference for n in names}


def child(neck, size, mode, score_thr):
    """Peak-memory child: build one detector, run ``mode``, print ``measure.child_memory``'s figures."""
    import json
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    height, width = map(int, size.split('x'))
    model = build(neck, 'cpu', score_thr=None if score_thr == 'config' else float(score_thr))
    fn = runner(model, batch_for(height, width, 'cpu'), mode)
    print(json.dumps(measure.child_memory(fn)))


def peak_memory(neck, height, width, mode, device, score_thr, model=None, batch=None):
    """(peak resident set or reserved, peak allocated) bytes of one run above what was there before it."""
    if device == 'cuda':
        figures = measure.cuda_memory(runner(model, batch, mode))
    else:
        figures = measure.run_child(os.path.abspath(__file__), [neck, '%dx%d' % (height, width), mode,
                                                                'config' if score_thr is None else score_thr])
    return [figures['peak'], figures['allocated']]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='800x1344,512x672', help='image sizes HxW, comma-separated')
    parser.add_argument('--necks', default=','.join(NECKS), help='the first is the reference row')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--modes', default=','.join(MODES), help='infer, train or both')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--score-thr', type=float, default=None,
                        help="test-time score threshold (default: the config's 0.05); 0 fills the mask heads")
    parser.add_argument('--no-memory', action='store_true', help='time only (memory needs a child per run)')
    parser.add_argument('--quick', action='store_true',
                        help='one small size, FPN and the two Adp necks, one round: %s' % QUICK)
    parser.add_argument('--child', nargs=4, metavar=('NECK', 'SIZE', 'MODE', 'SCORE_THR'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    necks, modes = args.necks.split(','), args.modes.split(',')
    print('device: %s (%s), torch %s, threads %d; Cascade Mask R-CNN R-50, batch 1, test score_thr %s; %s' % (
        args.device, torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU', torch.__version__,
        torch.get_num_threads(), 'of the config' if args.score_thr is None else args.score_thr,
        measure.machine_line()))

    def progress(message):
        print('  ' + message, file=sys.stderr, flush=True)

    models = {}
    for neck in necks:
        models[neck] = build(neck, args.device, models.get(necks[0]), args.score_thr)
    weights = {n: sum(p.numel() * p.element_size() for p in m.parameters()) for n, m in models.items()}
    for size in args.sizes.split(','):
        height, width = map(int, size.split('x'))
        batch = batch_for(height, width, args.device)
        bounds = mac_bounds(models, batch, height, width)
        for mode in modes:
            rows_of = [n for n in necks if n == necks[0] or not SKIPPED[mode] or SKIPPED[mode] not in n]
            times = measure.time_alternating({n: runner(models[n], batch, mode) for n in rows_of},
                                             args.repeat, args.device, progress)
            rows = []
            for neck in rows_of:
                row = [neck, times[necks[0]] * bounds[neck], times[neck]]
                if not args.no_memory:
                    row += peak_memory(neck, height, width, mode, args.device, args.score_thr, models[neck], batch)
                    progress('memory %s %s %s' % (neck, size, mode))
                rows.append(row + [weights[neck]])
            header = ['neck', 'MAC bound s', '%s s' % mode] + \
                ([] if args.no_memory else ['peak MiB', 'allocated MiB']) + ['weights MiB']
            scales = [1, 1] + ([] if args.no_memory else [2 ** -20] * 2) + [2 ** -20]
            formats = ['%.2f', '%.2f'] + ([] if args.no_memory else ['%.0f'] * 2) + ['%.0f']
            title = 'detector %s, image %s, %d rounds; at the end: %s' % (
                'inference' if mode == 'infer' else 'training step', size, args.repeat, measure.machine_line())
            measure.print_ratio_table(title, header, rows, scales, formats)


if __name__ == '__main__':
    main()

"""The smoke scale: a row's recipe shrunk until it trains in minutes on a 2-core CPU.

What changes: a half-width ResNet-18 from scratch instead of the pretrained backbone, 32-channel neck and
heads, few proposals and sampled RoIs, images scaled by ``IMAGE_SCALE`` (an 800-pixel short side becomes 64,
keeping each row's single- or multi-scale augmentation), a few epochs, the synthetic dataset's 3 classes.
Gradients are clipped at norm 10. AdamW's learning rate is raised (``LR_SCALE``): the recipes' 1e-4 and 2e-4
are set for a pretrained backbone and learn next to nothing from scratch in a hundred iterations. What stays:
the model family, the neck type, the optimizer type and the learning-rate policy. Smoke runs write to their own
folders and are labelled ``scale: smoke`` in every file they produce, so they can never pass for real results.

``BOX_AP_FLOORS``: the box AP on the synthetic val set that every row of a model family reaches with the
workflow's smoke settings (.test/config/config.yaml); the smoke-DAG test asserts them, so that a broken evaluation
or label mapping (AP near 0) cannot pass for a working pipeline. Measured: benchmarks/smoke_learns.py.
"""
import copy

from afa.utils.cfg_walk import walk_dicts

IMAGE_SCALE = 0.08
CHANNELS = 32
BACKBONE_BASE = 32         # ResNet-18's stem and first-stage width; the stages double it
RCNN_SAMPLES = 32          # sampled RoIs per image and cascade stage
LR_SCALE = {'AdamW': 10.0}  # the recipe's learning rate times this, per optimizer type (others: 1)
BOX_AP_FLOORS = {'CMRCN': 10.0, 'Deformable-DETR': 1.0}  # by the model column of configs/zoo.yaml
LOG_INTERVAL = 2           # iterations between loss log lines: a short run still draws a curve
# The synthetic dataset's classes (afa/data/synthetic.py draws them), the smoke scale's classes.
CATEGORIES = [
    {'id': 1, 'name': 'square', 'supercategory': 'shape'},
    {'id': 2, 'name': 'disc', 'supercategory': 'shape'},
    {'id': 3, 'name': 'triangle', 'supercategory': 'shape'},
]
NUM_CLASSES = len(CATEGORIES)
BATCH = 2                  # images per optimizer step at this scale (the smoke recipe's effective batch)


def _scale_sizes(value):
    """Scale an img_scale / crop_size entry: a (w, h) pair or a list of pairs."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return [_scale_sizes(v) for v in value]
    return tuple(max(16, int(round(v * IMAGE_SCALE))) for v in value)


def _shrink_pipeline_step(step):
    for key in ('img_scale', 'crop_size'):
        if key in step and step[key] is not None:
            step[key] = _scale_sizes(step[key])


def _shrink_backbone(model):
    backbone = model['backbone']
    backbone.update(type='ResNet', depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None,
                    base_channels=BACKBONE_BASE, norm_cfg=dict(type='BN', requires_grad=True))
    for key in ('groups', 'base_width'):
        backbone.pop(key, None)
    indices = backbone.get('out_indices', (0, 1, 2, 3))
    return [BACKBONE_BASE * 2 ** i for i in indices]


def _shrink_cascade(model):
    model['neck'].update(in_channels=_shrink_backbone(model), out_channels=CHANNELS)
    model['rpn_head'].update(in_channels=CHANNELS, feat_channels=CHANNELS)
    roi = model['roi_head']
    roi['bbox_roi_extractor']['out_channels'] = CHANNELS
    roi['mask_roi_extractor']['out_channels'] = CHANNELS
    for head in roi['bbox_head']:
        head.update(in_channels=CHANNELS, fc_out_channels=128, num_classes=NUM_CLASSES)
    roi['mask_head'].update(in_channels=CHANNELS, conv_out_channels=CHANNELS, num_classes=NUM_CLASSES)
    train, test = model['train_cfg'], model['test_cfg']
    train['rpn_proposal'].update(nms_pre=200, max_per_img=100)
    for stage in train['rcnn']:
        stage['sampler']['num'] = RCNN_SAMPLES
    test['rpn'].update(nms_pre=200, max_per_img=100)
    test['rcnn']['max_per_img'] = 50


def _shrink_deformable_detr(model):
    model['neck'].update(in_channels=_shrink_backbone(model), out_channels=CHANNELS,
                         norm_cfg=dict(type='GN', num_groups=16))
    head = model['bbox_head']
    head.update(num_query=50, num_classes=NUM_CLASSES, in_channels=CHANNELS)
    head['positional_encoding']['num_feats'] = CHANNELS // 2
    transformer = head['transformer']
    for part in ('encoder', 'decoder'):
        transformer[part]['num_layers'] = 2
        layer = transformer[part]['transformerlayers']
        layer['feedforward_channels'] = 2 * CHANNELS
        if _mmcv_has_ffn_cfgs():
            # mmcv >= 1.3.17 builds the FFN from ffn_cfgs, whose default is 256 channels: follow the shrunken
            # embedding (older mmcv, the paper's 1.3.11, sizes it from embed_dims itself)
            layer['ffn_cfgs'] = dict(type='FFN', embed_dims=CHANNELS, feedforward_channels=2 * CHANNELS,
                                     num_fcs=2, ffn_drop=layer.get('ffn_dropout', 0.0),
                                     act_cfg=dict(type='ReLU', inplace=True))

    def set_dims(node):
        if 'embed_dims' in node:
            node['embed_dims'] = CHANNELS
        if node.get('type') == 'MultiheadAttention':
            node['num_heads'] = 4
    walk_dicts(transformer, set_dims)


def _mmcv_has_ffn_cfgs():
    import inspect
    from mmcv.cnn.bricks.transformer import BaseTransformerLayer
    return 'ffn_cfgs' in inspect.signature(BaseTransformerLayer.__init__).parameters


def shrink(cfg_dict, epochs=2, samples_per_gpu=BATCH):
    """Return a smoke-scale copy of a row's config (as a plain nested dict)."""
    cfg = copy.deepcopy(cfg_dict)
    model = cfg['model']
    if 'roi_head' in model:
        _shrink_cascade(model)
    elif model.get('type') == 'DeformableDETR':
        _shrink_deformable_detr(model)
    else:
        raise ValueError('no smoke scale defined for model type %r' % model.get('type'))
    data = cfg['data']
    walk_dicts([cfg.get('train_pipeline'), cfg.get('test_pipeline'), data], _shrink_pipeline_step)

    def no_repeat(node):  # the 3x recipe's RepeatDataset x3 would triple a smoke epoch
        if node.get('type') == 'RepeatDataset':
            node['times'] = 1
    walk_dicts(data, no_repeat)
    data.update(samples_per_gpu=samples_per_gpu, workers_per_gpu=0)
    _set_epochs(cfg, epochs)
    # From scratch at batch 2, the recipes' learning rates (set for batch 16 on a pretrained backbone) can blow
    # up in the first iterations: clip gradients, as many mmdet configs do.
    optimizer_config = dict(cfg.get('optimizer_config') or {})
    optimizer_config['grad_clip'] = dict(max_norm=10, norm_type=2)
    cfg['optimizer_config'] = optimizer_config
    cfg['optimizer']['lr'] = cfg['optimizer']['lr'] * LR_SCALE.get(cfg['optimizer']['type'], 1.0)
    cfg['log_config']['interval'] = LOG_INTERVAL
    cfg['checkpoint_config'] = dict(interval=1, max_keep_ckpts=2)
    cfg['evaluation'] = dict(interval=epochs + 1, metric=cfg.get('evaluation', {}).get('metric', 'bbox'))
    return cfg


def _set_epochs(cfg, epochs):
    """Shrink the schedule, keeping where the lr steps fall relative to its length."""
    old = cfg['runner']['max_epochs']
    cfg['runner']['max_epochs'] = epochs
    lr = cfg['lr_config']
    if 'step' in lr:
        steps = lr['step'] if isinstance(lr['step'], (list, tuple)) else [lr['step']]
        lr['step'] = sorted({max(1, int(round(s * epochs / float(old)))) for s in steps})
    if lr.get('warmup'):
        lr['warmup_iters'] = 20

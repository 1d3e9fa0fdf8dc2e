"""Attention-based Feature Aggregation necks (CVPR 2022) for mmdet 2.x.

One implementation, parameterised by the fusion (self- or cross-attention) and the key/value pooling; the six
paper names (``paper_necks.py``) fix those two choices. The constructor mirrors mmdet's ``FPN`` so that a
config only changes ``type``; FPN options the paper never uses are refused at construction.

Between the lateral convs and the outputs, every map is a (B, H, W, C) token map (``afa.layers.token_map``):
the blocks read it as tokens and as a channels-last map without copies; the outputs are converted once to
the contiguous NCHW maps mmdet's heads expect.

Memory: when no gradient is wanted the blocks run in strips of rows (``afa.layers.row_strips``) and the neck
makes each level's lateral only when it reaches that level and sums in place, so that at P2 two maps of C
channels are alive besides the backbone's outputs (the FPN has its laterals and outputs). In training, the
blocks keep six maps of C channels per level for the backward pass rather than twelve (``recompute_cheap``,
the default), and ``with_cp`` recomputes each block's activations in the backward pass instead of keeping them.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.runner import BaseModule
from mmdet.models.builder import NECKS

from afa.layers import AttentionBlock
from afa.layers.kv_pool import MS_POOL_FACTORS, POOLING_MODES
from afa.layers.row_strips import DEFAULT_STRIP_TOKENS
from afa.layers.token_map import as_channels_last, conv1x1_to_token_map, to_nchw, to_token_map

FUSIONS = ('self', 'cross')


@NECKS.register_module()
class AFANeck(BaseModule):
    """Top-down feature pyramid whose fusion is a transformer block per level.

    Args:
        in_channels (list[int]): channels of the 4 backbone maps C2..C5.
        out_channels (int): channels of every output map (256 in the paper).
        num_outs (int): must be 5 (P2..P6; P6 is a stride-2 max-pool of P5, as FPN without extra convs).
        fusion (str): 'self' (MSSA) or 'cross' (MSCA).
        pooling (str): key/value pooling: 'ms' (plain), 'adp' (7x7) or 'adpms' (7x7 + 14x14).
        num_heads (int): attention heads (4); out_channels must be divisible by it.
        ffn_ratio (float): conv-FFN hidden ratio (2).
        use_fused_attn (bool | None): None uses torch's fused attention when available.
        use_conv_products (bool | None): None runs the blocks' linear layers as 1x1 convolutions where that
            is faster (float32 on CPU with torch 2: oneDNN, 1.5 times MKL's matrix products); False keeps
            the matrix products; True requires the convolutions. The same numbers to 1e-6.
        strip_tokens (int): tokens per strip of the blocks when no gradient is wanted (inference); 0 runs
            every level whole, as the neck did before strips (the same numbers, several times the memory).
        with_cp (bool): in training, recompute each block's activations in the backward pass, a strip of
            rows at a time, instead of keeping them (mmdet's name, as in its ResNet); the same gradients.
            Off by default: it costs a second forward of the blocks' matrix products, and ``recompute_cheap``
            already brings a detector's training step within x1.25 of Sum-Up's memory (docs/necks.md, "Memory
            of a training step").
        recompute_cheap (bool): in training, the blocks keep for the backward pass neither their LayerNorms'
            outputs, nor the depthwise conv's and GELU's, nor the pools' inputs, and recompute those cheap
            layers there (``AttentionBlock.forward_recomputing``); the same gradients, no matrix product
            made twice. False keeps everything autograd keeps.
        start_level, end_level, add_extra_convs, upsample_cfg, ...: FPN's surface; only FPN's defaults of the
            paper (0, -1, False, nearest) are accepted.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 num_outs,
                 fusion='self',
                 pooling='adp',
                 num_heads=4,
                 ffn_ratio=2,
                 use_fused_attn=None,
                 use_conv_products=None,
                 strip_tokens=DEFAULT_STRIP_TOKENS,
                 with_cp=False,
                 recompute_cheap=True,
                 start_level=0,
                 end_level=-1,
                 add_extra_convs=False,
                 relu_before_extra_convs=False,
                 no_norm_on_lateral=False,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=None,
                 upsample_cfg=None,
                 init_cfg=None):
        super().__init__(None)
        name = type(self).__name__
        _check_config(name, in_channels, out_channels, num_outs, fusion, pooling, num_heads, start_level,
                      end_level, add_extra_convs, relu_before_extra_convs, conv_cfg, norm_cfg, act_cfg,
                      upsample_cfg, strip_tokens, no_norm_on_lateral, init_cfg, use_conv_products)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.fusion = fusion
        self.pooling = pooling
        self.with_cp = bool(with_cp)
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.blocks = nn.ModuleList(
            AttentionBlock(out_channels, num_heads, ffn_ratio, pooling, ds, fusion == 'cross', use_fused_attn,
                           strip_tokens, recompute_cheap, use_conv_products)
            for ds in MS_POOL_FACTORS)

    def kv_tokens(self, sizes):
        """Key/value token count of each level's block for the given (H, W) of each input level."""
        return [block.pool.num_tokens(h, w) for block, (h, w) in zip(self.blocks, sizes)]

    def init_weights(self):
        """Conv2d xavier-uniform, Linear truncated-normal(std 0.02, cut at +-2), biases 0, LayerNorm (1, 0)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _block(self, block, *args):
        """``block.forward_tokens(*args)``, its activations recomputed in the backward pass with ``with_cp``."""
        if self.with_cp and self.training and torch.is_grad_enabled():
            return block.forward_recomputed(*args)
        return block.forward_tokens(*args)

    def _fuse(self, level, lateral, coarser):
        """One top-down step on token maps: the refined coarser output (None at the top) meets this level's
        lateral."""
        block = self.blocks[level]
        if coarser is not None:
            size = lateral.shape[1:3]
            coarser = to_token_map(F.interpolate(as_channels_last(coarser), size=size, mode='nearest'))
        if self.fusion == 'self':
            x = lateral if coarser is None else lateral + coarser
            del lateral, coarser  # at inference, only the block's input stays alive
            return self._block(block, x)
        if coarser is None:
            return self._block(block, lateral, lateral)
        return lateral + self._block(block, coarser, lateral)

    def forward(self, inputs):
        if len(inputs) != self.num_ins:
            raise ValueError('%s expects %d input maps, got %d' % (type(self).__name__, self.num_ins, len(inputs)))
        if self.blocks[0].uses_strips(*inputs):
            return self._forward_strips(inputs)
        laterals = [conv1x1_to_token_map(conv, x) for conv, x in zip(self.lateral_convs, inputs)]
        outs = [None] * len(laterals)
        coarser = None
        for i in range(len(laterals) - 1, -1, -1):
            refined = self._fuse(i, laterals.pop(), coarser)  # popped: at inference each map goes once used
            if coarser is not None:
                outs[i + 1] = to_nchw(coarser)
            coarser = refined
        outs[0] = to_nchw(coarser)
        outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)

    def _forward_strips(self, inputs):
        """``forward`` when no gradient is wanted: the blocks in strips; each lateral made when its level
        comes; the coarser output converted and let go before the finer block runs; sums in place."""
        outs = [None] * self.num_ins
        coarser = None
        for level in range(self.num_ins - 1, -1, -1):
            block = self.blocks[level]
            lateral = conv1x1_to_token_map(self.lateral_convs[level], inputs[level])
            if coarser is None:
                coarser = block.forward_tokens(lateral, lateral if self.fusion == 'cross' else None)
                continue
            pooled = block.pool_source(lateral) if self.fusion == 'cross' else None
            upsampled = to_token_map(F.interpolate(as_channels_last(coarser), size=lateral.shape[1:3],
                                                   mode='nearest'))
            outs[level + 1] = to_nchw(coarser)
            del coarser
            if self.fusion == 'self':
                upsampled += lateral
                lateral = None
                coarser = block.forward_tokens(upsampled)
            else:
                coarser = block.forward_tokens(upsampled, pooled=pooled, out=upsampled)
                coarser += lateral
            del upsampled, lateral
        outs[0] = to_nchw(coarser)
        outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)


def _check_config(name, in_channels, out_channels, num_outs, fusion, pooling, num_heads, start_level, end_level,
                  add_extra_convs, relu_before_extra_convs, conv_cfg, norm_cfg, act_cfg, upsample_cfg,
                  strip_tokens=DEFAULT_STRIP_TOKENS, no_norm_on_lateral=False, init_cfg=None,
                  use_conv_products=None):
    """Refuse, with the field named, every setting the paper's necks do not implement."""
    problems = []
    if not isinstance(in_channels, (list, tuple)) or len(in_channels) != len(MS_POOL_FACTORS):
        problems.append('in_channels must list the 4 backbone levels C2..C5 (e.g. [256, 512, 1024, 2048]), '
                        'got %r' % (in_channels,))
    if num_outs != len(MS_POOL_FACTORS) + 1:
        problems.append('num_outs must be 5 (P2..P6), got %r' % (num_outs,))
    if fusion not in FUSIONS:
        problems.append('fusion must be one of %s, got %r' % (FUSIONS, fusion))
    if pooling not in POOLING_MODES:
        problems.append('pooling must be one of %s, got %r' % (POOLING_MODES, pooling))
    if not isinstance(num_heads, int) or num_heads < 1 or out_channels % num_heads:
        problems.append('out_channels (%r) must be divisible by num_heads (%r)' % (out_channels, num_heads))
    if start_level != 0 or end_level not in (-1, len(MS_POOL_FACTORS) - 1):
        problems.append('start_level=0 and end_level=-1 are the only supported levels, got %r, %r'
                        % (start_level, end_level))
    if add_extra_convs or relu_before_extra_convs:
        problems.append('add_extra_convs is not supported (P6 is a max-pool of P5); set it to False')
    if conv_cfg is not None or norm_cfg is not None or act_cfg is not None:
        problems.append('conv_cfg, norm_cfg and act_cfg are not supported (plain 1x1 laterals); leave them None')
    if no_norm_on_lateral:
        problems.append('no_norm_on_lateral is not supported (the laterals have no norm to leave out); set it to '
                        'False')
    if init_cfg is not None:
        problems.append('init_cfg is not supported (the neck initialises its weights as the paper did, '
                        'init_weights); leave it None')
    if upsample_cfg is not None and dict(upsample_cfg) != dict(mode='nearest'):
        problems.append('upsample_cfg must be dict(mode="nearest"), got %r' % (upsample_cfg,))
    if isinstance(strip_tokens, bool) or not isinstance(strip_tokens, int) or strip_tokens < 0:
        problems.append('strip_tokens must be a whole number of tokens >= 0 (0: no strips), got %r'
                        % (strip_tokens,))
    if use_conv_products not in (None, True, False):
        problems.append('use_conv_products must be None (where faster), True or False, got %r' % (use_conv_products,))
    if problems:
        raise ValueError('%s: unsupported configuration:\n  - %s' % (name, '\n  - '.join(problems)))

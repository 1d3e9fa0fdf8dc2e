"""Gradient accumulation on mmcv's own runner (real EpochBasedRunner, real lr hooks, real DDP over gloo): the
same parameters from one process with the whole batch, from accumulated micro-batches, and from 2 processes;
the same lr curve over optimizer steps as the recipe's layout; checkpoints only at group boundaries."""
import logging
import os
import socket

import pytest
import torch
import torch.nn as nn

import afa  # noqa: F401  (registers the hooks)
from afa.training.hooks.accumulation import at_accumulation_boundary

IMAGES = 8            # per epoch
BATCH = 4             # images per optimizer step
EPOCHS = 2
LR_CONFIG = dict(policy='step', step=[1], warmup='linear', warmup_iters=3, warmup_ratio=0.1)


class Toy(nn.Module):
    """A model whose loss is the mean over its images, as mmdet's detectors average over a GPU's images."""

    def __init__(self):
        super(Toy, self).__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3, 2)

    def train_step(self, data, optimizer):
        x, y = data
        loss = ((self.fc(x) - y) ** 2).sum(dim=1).mean()
        return dict(loss=loss, log_vars={'loss': float(loss.detach())}, num_samples=len(x))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(IMAGES, 3, generator=g) * 3, torch.randn(IMAGES, 2, generator=g)


def _loader(imgs, rank=0, world=1):
    """Batches of ``imgs`` images: optimizer step k takes images [k*BATCH, (k+1)*BATCH) in every layout, rank r
    the r-th share of them, micro-batches in order."""
    x, y = _data()
    batches = []
    for step in range(IMAGES // BATCH):
        share = range(step * BATCH + rank * BATCH // world, step * BATCH + (rank + 1) * BATCH // world)
        for start in range(share.start, share.stop, imgs):
            batches.append((x[start:start + imgs], y[start:start + imgs]))
    return batches


def _train(imgs, accumulation, work_dir, rank=0, world=1, lr_steps=None, checkpoint=None, micro_batches=None,
           hook='AccumulatingOptimizerHook', **hook_args):
    from mmcv.runner import EpochBasedRunner
    model = Toy()
    if world > 1:
        from mmcv.parallel import MMDistributedDataParallel
        model = MMDistributedDataParallel(model, broadcast_buffers=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.05)
    runner = EpochBasedRunner(model, optimizer=optimizer, work_dir=str(work_dir),
                              logger=logging.getLogger('afa-test'), max_epochs=EPOCHS, meta={})
    optimizer_config = dict(type=hook, grad_clip=dict(max_norm=1.0, norm_type=2),  # active: norms are above 1
                            **hook_args)
    if hook.startswith('Accumulating'):
        optimizer_config['accumulation'] = accumulation
    runner.register_training_hooks(dict(LR_CONFIG), optimizer_config, checkpoint)
    if lr_steps is not None:
        step = optimizer.step

        def recording_step(*args, **kwargs):
            lr_steps.append(optimizer.param_groups[0]['lr'])
            return step(*args, **kwargs)
        optimizer.step = recording_step
    loader = micro_batches if micro_batches is not None else _loader(imgs, rank, world)
    runner.run([loader], [('train', EPOCHS)])
    return {k: v.detach().clone() for k, v in getattr(model, 'module', model).state_dict().items()}


def _distributed_worker(rank, world, port, imgs, accumulation, out):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method='tcp://127.0.0.1:%d' % port, rank=rank, world_size=world)
    try:
        params = _train(imgs, accumulation, os.path.join(out, 'rank%d' % rank), rank, world)
        if rank == 0:
            torch.save(params, os.path.join(out, 'params.pth'))
    finally:
        dist.destroy_process_group()


def _distributed(imgs, accumulation, tmp_path):
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_distributed_worker, args=(2, port, imgs, accumulation, str(tmp_path)), nprocs=2)
    return torch.load(os.path.join(str(tmp_path), 'params.pth'))


def _largest_relative_difference(a, b):
    return max(float((a[k] - b[k]).norm() / b[k].norm()) for k in b)


@pytest.mark.slow  # two training processes (gloo) beside the whole batch and accumulation: 18 s of CPU
def test_whole_batch_accumulation_and_two_processes_give_the_same_parameters(tmp_path):
    whole = _train(BATCH, 1, tmp_path / 'whole')
    initial = Toy().state_dict()
    assert _largest_relative_difference(whole, initial) > 0.1  # training moved the weights
    layouts = {
        '1 process x 1 image x 4 steps': _train(1, 4, tmp_path / 'accumulated'),
        '1 process x 2 images x 2 steps': _train(2, 2, tmp_path / 'accumulated2'),
        '2 processes x 2 images (gloo)': _distributed(2, 1, tmp_path / 'ddp'),
        '2 processes x 1 image x 2 steps (gloo, no_sync)': _distributed(1, 2, tmp_path / 'ddp_acc'),
    }
    for name, params in layouts.items():
        assert _largest_relative_difference(params, whole) < 1e-5, name


def test_native_amp_hook_accumulates_like_mmcvs_own(tmp_path):
    """The wiring of the native-AMP hook (on CPU torch's GradScaler is inactive; the scaling itself needs CUDA):
    accumulated micro-batches end where mmcv's Fp16OptimizerHook does with the whole batch."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # GradScaler: CUDA is not available, disabling
        whole = _train(BATCH, 1, tmp_path / 'whole', hook='Fp16OptimizerHook', loss_scale='dynamic',
                       distributed=False)
        accumulated = _train(1, 4, tmp_path / 'acc', hook='AccumulatingFp16OptimizerHook', loss_scale='dynamic',
                             distributed=False)
    assert _largest_relative_difference(accumulated, whole) < 1e-5


def test_lr_curve_over_optimizer_steps_equals_the_recipe_layout(tmp_path):
    recipe, accumulated = [], []
    _train(BATCH, 1, tmp_path / 'recipe', lr_steps=recipe)
    _train(1, 4, tmp_path / 'accumulated', lr_steps=accumulated)
    assert len(recipe) == EPOCHS * IMAGES // BATCH
    assert accumulated == recipe
    assert recipe[0] < recipe[1] < 0.1 and recipe[-1] == pytest.approx(0.01)  # warm-up, then the epoch step


def test_an_epochs_short_last_group_is_stepped_at_the_epochs_end(tmp_path):
    x, y = _data()
    micro = [(x[i:i + 1], y[i:i + 1]) for i in range(7)]  # 7 micro-batches, accumulation 4: groups of 4 and 3
    steps = []
    _train(1, 4, tmp_path / 'short', lr_steps=steps, micro_batches=micro)
    assert len(steps) == 2 * EPOCHS


def test_iteration_checkpoints_wait_for_the_groups_optimizer_step(tmp_path):
    """The hook's timing (its save itself is tested in tests/training): an iteration checkpoint due inside a
    group is written after the group's optimizer step, never with half a gradient pending."""
    from mmcv.runner import HOOKS
    from afa.training.hooks.atomic_checkpoint import AtomicCheckpointHook
    saves = []

    @HOOKS.register_module(force=True)
    class RecordingCheckpointHook(AtomicCheckpointHook):
        def _save_checkpoint(self, runner):
            saves.append((runner.iter + 1, at_accumulation_boundary(runner)))

    _train(1, 2, tmp_path, checkpoint=dict(type='RecordingCheckpointHook', by_epoch=False, interval=3))
    # due after counter iterations 3, 6, 9, 12, 15 (of 16): written after the groups ending at 4, 6, 10, 12, 16
    assert saves == [(4, True), (6, True), (10, True), (12, True), (16, True)]


def test_a_non_finite_accumulated_gradient_stops_before_the_step(tmp_path):
    """A NaN in the first micro-batch of a group is found on the accumulated gradient at the group's end (its
    second micro-batch), and the run stops there without an optimizer step."""
    from afa.training.hooks.nan_guard import NonFiniteLossError
    x, y = _data()
    x[0, 0] = float('nan')
    micro = [(x[i:i + 1], y[i:i + 1]) for i in range(IMAGES)]
    steps = []
    with pytest.raises(NonFiniteLossError) as raised:
        _train(1, 2, tmp_path / 'nan', lr_steps=steps, micro_batches=micro)
    assert 'the accumulated gradient is nan at epoch 1, iteration 2' in str(raised.value)
    assert steps == []  # no optimizer step took the NaN

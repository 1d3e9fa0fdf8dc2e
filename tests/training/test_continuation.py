"""Exact continuation: a run stopped by a signal at any iteration, mid-epoch included, and continued ends with the
same weights, bit for bit, as the run that never stopped (smoke scale, CPU, --deterministic, both stacks), with
one process and with two (torch.distributed, gloo).

Before the continuation checkpoint, loader and random-state restore existed, the same run stopped twice by
SIGTERM mid-epoch ended 53-164% away from the uninterrupted weights (mmcv restarts the epoch, the global numpy
generator shuffles it differently and the RoI sampler draws other numbers). The stops here go the real route:
the training process sends itself SIGUSR2 (``AFA_STOP_AFTER_ITER``) and exits with the continue code.
With two processes, before each rank's random state was kept (rank 0's alone was, and every rank put it back),
the run stopped twice ended with 246 of the detector's 266 tensors different (rank 1's RPN and RoI samplers drew
other samples after each continuation); and under torch 1.9 torchrun restarted the workers at once after the
first stop (its default --max_restarts 3), which then hung.
"""
import re
import json
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from afa.training.continuation.hook import check_world_size, gather_random_states, random_state_of
from afa.runs import layout
from afa.runs import segments
from afa.training.continuation import rng
from afa.runs.checkpoints import numbered_checkpoints, progress
from afa.training.continuation.resumable_loader import ContinuableSampler
from afa.utils.errors import AfaError

ROW = 'cmrcn_r50_msca_adp_1x'


# --- the pieces ---------------------------------------------------------------------------------------------

def test_checkpoint_progress_orders_mid_epoch_checkpoints_between_epochs(tmp_path):
    for name in ('epoch_1.pth', 'epoch_2_iter_3.pth', 'epoch_2.pth', 'epoch_3_iter_1.pth', 'epoch_1_iter_4.pth'):
        (tmp_path / name).write_bytes(b'x')
    order = [os.path.basename(p) for _, p in numbered_checkpoints(str(tmp_path))]
    # epoch_1.pth (1 epoch done) comes after epoch_1_iter_4.pth (its last iteration, before the epoch's end hooks)
    assert order == ['epoch_3_iter_1.pth', 'epoch_2.pth', 'epoch_2_iter_3.pth', 'epoch_1.pth', 'epoch_1_iter_4.pth']
    assert progress(layout.continuation_checkpoint(2, 3)) == (1, 3) and progress(layout.LATEST_CHECKPOINT) is None


class _Groups(object):
    """A dataset as mmdet's samplers see it: two aspect-ratio groups of odd sizes (padding happens)."""
    flag = np.array([0] * 7 + [1] * 4, dtype=np.uint8)

    def __len__(self):
        return len(self.flag)


def _group_sampler():
    from mmdet.datasets.samplers import GroupSampler
    return GroupSampler(_Groups(), samples_per_gpu=2)


def test_sampler_order_depends_on_seed_and_epoch_only_and_starts_anywhere():
    sampler = ContinuableSampler(_group_sampler(), seed=3)
    sampler.set_epoch(1)
    full = list(sampler)
    np.random.seed(123)  # the global generator (what mmdet's GroupSampler shuffles with) does not matter
    before = np.random.get_state()[1].copy()
    again = ContinuableSampler(_group_sampler(), seed=3)
    again.set_epoch(1)
    again.start = 4
    assert list(again) == full[4:]
    assert (np.random.get_state()[1] == before).all()  # nor is it disturbed
    assert len(again) == len(full) == 12  # the full epoch's length, whatever the start
    flags = [_Groups.flag[i] for _, _, i in full]
    assert all(flags[k] == flags[k + 1] for k in range(0, 12, 2))  # each batch stays within one group
    sampler.set_epoch(2)
    assert [i for _, _, i in sampler] != [i for _, _, i in full]


def test_distributed_group_sampler_split_is_kept():
    from mmdet.datasets.samplers import DistributedGroupSampler
    ranks = []
    for rank in (0, 1):
        sampler = ContinuableSampler(DistributedGroupSampler(_Groups(), 2, num_replicas=2, rank=rank, seed=5), 5,
                                     rank)
        sampler.set_epoch(4)
        ranks.append([i for _, _, i in sampler])
    reference = DistributedGroupSampler(_Groups(), 2, num_replicas=2, rank=1, seed=5)
    reference.set_epoch(4)
    assert ranks[1] == list(reference) and ranks[0] != ranks[1]


def test_random_state_round_trip_survives_a_checkpoint_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = rng.capture()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    path = str(tmp_path / 'state.pth')
    torch.save(dict(meta=dict(rng=state)), path)
    load = dict(weights_only=True) if 'weights_only' in torch.load.__code__.co_varnames else {}
    loaded = torch.load(path, **load)['meta']['rng']  # plain values: loads where numpy arrays are refused
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    rng.restore(loaded)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    pickle.dumps(state)


def test_each_rank_puts_back_its_own_random_state_and_older_checkpoints_still_read(tmp_path):
    torch.manual_seed(4)
    mine = gather_random_states(1)  # one process: no process group needed
    assert len(mine) == 1 and torch.equal(mine[0]['torch'], torch.get_rng_state())
    rank0, rank1 = dict(torch=torch.tensor([0])), dict(torch=torch.tensor([1]))
    path = str(tmp_path / 'meta.pth')
    torch.save(dict(rng=rank0, rngs=[rank0, rank1], world_size=2), path)  # rng: the same object as rngs[0]
    load = dict(weights_only=True) if 'weights_only' in torch.load.__code__.co_varnames else {}
    pending = torch.load(path, **load)
    assert [int(random_state_of(pending, r)['torch']) for r in (0, 1)] == [0, 1]
    older = dict(epoch=0, position=3, rng=rank0)  # a checkpoint from before the per-rank states
    assert random_state_of(older, 1) is rank0
    check_world_size(older, 2, 0)  # its number of processes is unknown: not refused


def test_continuing_with_another_number_of_processes_is_refused_with_the_way_out():
    pending = dict(epoch=1, position=3, world_size=2)
    check_world_size(pending, 2, 1)
    with pytest.raises(AfaError) as refused:
        check_world_size(pending, 1, 1)
    message = str(refused.value)
    assert 'epoch_2_iter_3.pth was written by 2 training processes, this run has 1' in message
    assert '--procs 2' in message and 'epoch_1.pth' in message
    with pytest.raises(AfaError, match='start over from the start of the run'):
        check_world_size(dict(pending, epoch=0), 4, 0)


def test_seeded_block_leaves_the_outer_stream_alone():
    torch.manual_seed(0)
    np.random.seed(0)
    expected = (np.random.rand(), torch.rand(1).item())
    torch.manual_seed(0)
    np.random.seed(0)
    with rng.seeded(42):
        inside = (np.random.rand(), torch.rand(1).item())
    assert (np.random.rand(), torch.rand(1).item()) == expected
    with rng.seeded(42):
        assert (np.random.rand(), torch.rand(1).item()) == inside


def test_segments_are_recorded_and_bounded(tmp_path, monkeypatch):
    run = str(tmp_path)
    monkeypatch.setenv('SLURM_JOB_ID', '77')
    assert segments.begin(run, 'r', None, max_segments=2) == 1
    segments.end(run, 'continue', signal='SIGUSR2')
    assert segments.begin(run, 'r', os.path.join(run, 'epoch_1_iter_3.pth'), max_segments=2) == 2
    records = segments.read(run)
    assert records[0]['outcome'] == 'continue' and records[0]['slurm_job_id'] == '77'
    assert records[1]['resumed_from'] == 'epoch_1_iter_3.pth' and 'outcome' not in records[1]
    with pytest.raises(AfaError, match='2 job segments.*--max-segments'):
        segments.begin(run, 'r', None, max_segments=2)


# --- the whole run ------------------------------------------------------------------------------------------

def _train(runs_root, data_root, stop_after=None, stop_signal='SIGUSR2', extra=()):
    env = dict(os.environ, OMP_NUM_THREADS='1', AFA_STOP_SIGNAL=stop_signal)
    env.pop('AFA_STOP_AFTER_ITER', None)
    if stop_after:
        env['AFA_STOP_AFTER_ITER'] = stop_after
    return subprocess.run([sys.executable, '-m', 'afa.cli', 'train', ROW, '--smoke', '--data-root', data_root,
                           '--runs-root', runs_root, '--gpus', '0', '--deterministic'] + list(extra),
                          capture_output=True, text=True, env=env)


def _weights(run_folder):
    done = json.load(open(layout.done_path(run_folder)))
    load = dict(weights_only=False) if 'weights_only' in torch.load.__code__.co_varnames else {}
    state = torch.load(done['checkpoint'], map_location='cpu', **load)
    return state['state_dict'], state['optimizer']['state']


def _stopped_twice_and_continued(tmp_path, data_root, extra=()):
    """The uninterrupted run and the same run stopped twice and continued: their run folders, and the continued
    run's exit codes and outputs. 8 training images at 2 per optimizer step: 4 iterations per epoch, 2 epochs;
    stops after iterations 3 (the warning before a time limit, SIGUSR2) and 6 (a preemption, SIGTERM)."""
    reference = _train(str(tmp_path / 'reference'), data_root, extra=extra)
    assert reference.returncode == 0, reference.stderr[-3000:]
    runs = str(tmp_path / 'continued')
    codes, logs = [], []
    for signal_name in ('SIGUSR2', 'SIGTERM', 'SIGUSR2'):
        result = _train(runs, data_root, stop_after='3,6', stop_signal=signal_name, extra=extra)
        codes.append(result.returncode)
        logs.append(result.stdout + result.stderr)
    assert codes == [layout.CONTINUE_EXIT_CODE, layout.CONTINUE_EXIT_CODE, 0], logs[-1][-3000:]
    assert 'continuing epoch 1 at iteration 3/4' in logs[1] and 'continuing epoch 2 at iteration 2/4' in logs[2]
    folder = layout.run_dir(runs, 'smoke', ROW)
    records = segments.read(folder)
    assert [r['outcome'] for r in records] == ['continue', 'continue', 'finished']
    assert [r.get('checkpoint') for r in records[:2]] == ['epoch_1_iter_3.pth', 'epoch_2_iter_2.pth']
    assert [r.get('signal') for r in records[:2]] == ['SIGUSR2', 'SIGTERM']
    return layout.run_dir(str(tmp_path / 'reference'), 'smoke', ROW), folder, logs


def _assert_same_weights(reference_folder, folder):
    expected, expected_optimizer = _weights(reference_folder)
    weights, optimizer = _weights(folder)
    assert sorted(weights) == sorted(expected)
    differ = [k for k in expected if not torch.equal(expected[k], weights[k])]
    assert differ == [], 'continued run differs from the uninterrupted one in %d of %d tensors: %s' % (
        len(differ), len(expected), ', '.join(differ[:5]))
    assert all(torch.equal(expected_optimizer[p][k], optimizer[p][k]) for p in expected_optimizer
               for k in expected_optimizer[p] if torch.is_tensor(expected_optimizer[p][k]))


@pytest.mark.slow
def test_run_stopped_twice_mid_epoch_ends_with_the_uninterrupted_weights(synthetic_root, tmp_path):
    _assert_same_weights(*_stopped_twice_and_continued(tmp_path, synthetic_root)[:2])


def _worker_exit_codes(output):
    """{rank: exit code} from torchrun's failure report (torch 1.9 and 2.x word it alike)."""
    found = re.findall(r'rank\s*:\s*(\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)', output)
    return {int(rank): int(code) for rank, code in found}


@pytest.mark.slow
def test_two_processes_stopped_twice_mid_epoch_end_with_the_uninterrupted_weights(synthetic_root, tmp_path):
    """Each rank draws its own RoI samples: each one's random state is kept and put back. Every rank ends a
    stopped segment with the continue code (torch 2.x's torchrun reports every rank, having stopped the others
    once one exited; torch 1.9's the ranks that had exited when it looked), and the launcher with it."""
    reference, folder, logs = _stopped_twice_and_continued(tmp_path, synthetic_root, extra=['--procs', '2'])
    for log in logs[:2]:
        codes = _worker_exit_codes(log)
        assert codes and set(codes.values()) == {layout.CONTINUE_EXIT_CODE}, (codes, log[-3000:])
        if torch.__version__ >= '2':
            assert sorted(codes) == [0, 1], log[-3000:]
    assert 'afa: launching 2 processes' in logs[-1]
    done = json.load(open(layout.done_path(folder)))
    assert (done['processes'], done['effective_batch']) == (2, 2)
    _assert_same_weights(reference, folder)


@pytest.mark.slow
def test_continuing_under_another_batch_layout_is_refused_before_anything_is_written(synthetic_root, tmp_path):
    """A mid-epoch stop (1 process x 2 images) continued with --max-imgs-per-gpu 1 was accepted and logged as
    "same order ... as without the stop" while one image was trained twice (the position is counted in the new
    micro-batches), and run.json then recorded only the new layout; with --procs 2 the refusal was buried in
    torchrun's output, run.json rewritten to the refused layout and a failed segment counted. Both are refused in
    one line before run.json, a segment or a worker; the same layout then continues."""
    runs = str(tmp_path / 'runs')
    stopped = _train(runs, synthetic_root, stop_after='3')
    assert stopped.returncode == layout.CONTINUE_EXIT_CODE, stopped.stderr[-3000:]
    folder = layout.run_dir(runs, 'smoke', ROW)
    run_json = open(os.path.join(folder, layout.RUN_FILE)).read()
    records = segments.read(folder)
    assert (records[-1]['processes'], records[-1]['imgs_per_gpu']) == (1, 2)
    for extra, now in ((['--max-imgs-per-gpu', '1'], '1 x 1'), (['--procs', '2'], '2 x 1')):
        refused = _train(runs, synthetic_root, extra=extra)
        assert refused.returncode == 2, refused.stderr[-3000:]
        errors = [line for line in refused.stderr.splitlines() if 'error' in line.lower()]
        assert len(errors) == 1 and errors[0].startswith('afa train: error: epoch_1_iter_3.pth stopped mid-epoch '
                                                         'on 1 process x 2 images; this start has %s' % now), errors
        assert '--procs 1 and --max-imgs-per-gpu 2' in errors[0] and 'launching' not in refused.stderr
        assert 'Traceback' not in refused.stderr
        assert open(os.path.join(folder, layout.RUN_FILE)).read() == run_json
        assert segments.read(folder) == records
    done = _train(runs, synthetic_root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'continuing epoch 1 at iteration 3/4' in done.stdout + done.stderr

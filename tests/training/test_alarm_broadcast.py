"""The alarm's stop decision reaches every rank of a distributed run (the evaluation results live on rank 0 only):
two real processes over torch.distributed's gloo backend."""
import multiprocessing
import os

import pytest


def _rank(rank, init_file, flags, results):
    import torch.distributed as dist
    from afa.training.alarm.hook import _broadcast_flag
    dist.init_process_group('gloo', init_method='file://' + init_file, rank=rank, world_size=2)
    try:
        results[rank] = _broadcast_flag(flags[rank])
    finally:
        dist.destroy_process_group()


def _run(tmp_path, flags):
    context = multiprocessing.get_context('spawn')
    results = context.Manager().dict()
    init_file = str(tmp_path / ('init-%s' % '-'.join(map(str, flags))))
    procs = [context.Process(target=_rank, args=(rank, init_file, flags, results)) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    return [results[r] for r in range(2)]


@pytest.mark.slow  # two spawned processes import mmcv: about a minute on 2 cores
def test_rank_zeros_decision_is_every_ranks(tmp_path):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    assert _run(tmp_path, [True, False]) == [True, True]
    assert _run(tmp_path, [False, True]) == [False, False]


def test_without_a_process_group_the_flag_is_returned():
    from afa.training.alarm.hook import _broadcast_flag
    assert _broadcast_flag(True) is True and _broadcast_flag(False) is False

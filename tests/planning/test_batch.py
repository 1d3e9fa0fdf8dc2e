"""The recipe's 16 images per optimizer step on any layout that can make them; the others refused with the
nearest layouts that can."""
import pytest

from afa.planning import batch
from afa.runs.folder import BATCH_RECORD_FIELDS
from afa.utils.errors import AfaError


@pytest.mark.parametrize('nodes, gpus, cap, expected', [
    (1, 1, None, (16, 1)),
    (1, 2, None, (8, 1)),
    (1, 4, None, (4, 1)),
    (1, 8, None, (2, 1)),
    (2, 8, None, (1, 1)),
    (1, 1, 2, (2, 8)),
    (1, 2, 2, (2, 4)),
    (1, 4, 1, (1, 4)),
    (2, 4, 3, (2, 1)),   # the cap need not divide the share: the largest divisor under it
])
def test_every_layout_keeps_sixteen_images_per_step(nodes, gpus, cap, expected):
    layout = batch.split(16, gpus, nodes, cap)
    assert (layout.imgs_per_device, layout.accumulation) == expected
    assert layout.nodes * layout.devices * layout.imgs_per_device * layout.accumulation == 16
    assert layout.effective_batch == 16


def test_three_gpus_are_refused_naming_the_nearest_layouts():
    with pytest.raises(AfaError) as err:
        batch.split(16, 3)
    message = str(err.value)
    assert '3 GPUs cannot make' in message and '\n' not in message
    assert '--gpus 2 (2 GPUs x 8 images)' in message and '--gpus 4 (4 GPUs x 4 images)' in message
    assert '--batch 15 or --batch 18' in message


def test_two_nodes_of_three_gpus_are_refused_per_node():
    with pytest.raises(AfaError, match=r'2 nodes x 3 GPUs cannot.*--gpus 2 \(2 nodes x 2 GPUs x 4 images\)'):
        batch.split(16, 3, nodes=2)


def test_the_record_names_the_layout_fields():
    record = batch.split(16, 1, max_imgs_per_device=2).as_record('cuda')
    assert tuple(record) == BATCH_RECORD_FIELDS  # the run folder owns the records' fields
    assert record['accumulation'] == 8 and record['gpus_per_node'] == 1
    assert batch.split(2, 2, device_word='process').as_record('cpu')['gpus_per_node'] == 0
    assert batch.split(2, 2).describe('process') == '2 processes x 1 image'


@pytest.mark.parametrize('args', [(0, 1), (16, 0), (16, 1, 0)])
def test_nonsense_counts_are_refused(args):
    with pytest.raises(AfaError, match='must be 1 or more'):
        batch.split(*args)


def test_suggestions_name_real_options_and_never_nothing():
    """`--procs 3` suggested `--processs 2` (no such option); `--gpus 8 --nodes 3` suggested nothing at all."""
    from afa.planning.batch import refusal, split
    from afa.utils.errors import AfaError
    cpu = refusal(16, 3, 1, 'process')
    assert '--procs 2 (2 processes x 8 images) or --procs 4' in cpu and '--processs' not in cpu
    nodes = refusal(16, 8, 3, 'GPU')
    assert 'nearest layouts that can: --nodes 2 --gpus 8 (2 nodes x 8 GPUs x 1 image) or --nodes 4 --gpus 4' in nodes
    with pytest.raises(AfaError, match='^--procs must be 1 or more, got 0$'):
        split(16, 0, 1, None, 'process')

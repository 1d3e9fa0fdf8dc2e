"""The paper-stack corrections (afa/integration/compat.py): active where the defect is, inert where it is not.

These tests run under both environments: the modern one (CI's .venv) and the paper one (.venv-paper, make
test-paper), where the probes must find every defect and the corrected paths must run on CPU.
"""
import mmcv
import torch

from afa.integration import compat

PAPER_MMCV = mmcv.__version__ == '1.3.11'


def test_probes_match_the_stack():
    found = {'scatter': compat.scatter_adds_a_dimension(),
             'deform_attn': compat.deform_attn_fallback_miscalled(),
             'train_detector': compat.train_detector_needs_cuda()}
    if PAPER_MMCV:
        assert found == {'scatter': True, 'deform_attn': True, 'train_detector': True}
    else:  # mmcv 1.7.2 / mmdet 2.28: nothing to correct
        assert found == {'scatter': False, 'deform_attn': False, 'train_detector': False}


def test_apply_is_idempotent_and_reports_what_it_fixed():
    first = compat.apply()
    assert compat.apply() == first
    assert set(first) == {'cpu_scatter', 'deform_attn_cpu_fallback', 'tensorboard_distutils_import',
                          'empty_detections_metrics', 'deform_attn_cpu_memory'}
    assert first['cpu_scatter'] == first['deform_attn_cpu_fallback'] == PAPER_MMCV
    assert not compat.scatter_adds_a_dimension()  # corrected (or never broken)


def test_cpu_scatter_keeps_a_batch_four_dimensional():
    from mmcv.parallel import DataContainer, scatter_kwargs
    compat.apply()
    batch = DataContainer([torch.rand(2, 3, 32, 32)], stack=True)
    meta = DataContainer([[{'id': 0}, {'id': 1}]], cpu_only=True)
    inputs, kwargs = scatter_kwargs((), dict(img=batch, img_metas=meta), [-1])
    assert kwargs[0]['img'].shape == (2, 3, 32, 32)
    assert kwargs[0]['img_metas'] == [{'id': 0}, {'id': 1}]


def test_deformable_attention_runs_on_cpu():
    from mmcv.ops import MultiScaleDeformableAttention
    compat.apply()
    attn = MultiScaleDeformableAttention(embed_dims=16, num_heads=2, num_levels=2, num_points=2)
    shapes = torch.tensor([[4, 4], [2, 2]])
    starts = torch.tensor([0, 16])
    value = torch.rand(20, 1, 16)
    query = torch.rand(3, 1, 16)
    reference = torch.rand(1, 3, 2, 2)
    out = attn(query, value=value, reference_points=reference, spatial_shapes=shapes, level_start_index=starts)
    assert out.shape == (3, 1, 16) and torch.isfinite(out).all()


def test_cpu_training_makes_cuda_a_no_op_only_where_needed():
    model = torch.nn.Linear(2, 2)
    with compat.cpu_training(model, on_cpu=True) as patched:
        assert patched == PAPER_MMCV
        if patched:
            assert model.cuda(0) is model
    assert 'cuda' not in vars(model)  # the class's own method again
    with compat.cpu_training(model, on_cpu=False) as patched:
        assert not patched


def test_tensorboard_writer_works_after_apply(tmp_path):
    """mmcv's TensorBoard logger imports torch.utils.tensorboard: under torch 1.9 with a recent setuptools that
    import fails unless corrected; after apply() an event file is written on either stack."""
    compat.apply()
    assert not compat.tensorboard_import_needs_distutils_version()
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar('train/loss', 1.5, 1)
    writer.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('events.out.tfevents')]

"""Every row at the smoke scale: one real training step on CPU on the synthetic dataset."""
import pytest
import torch

pytest.importorskip('mmdet')
from mmcv.parallel import MMDataParallel  # noqa: E402
from mmdet.datasets import build_dataloader, build_dataset  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

import afa  # noqa: E402
from afa.integration import compat  # noqa: E402
from afa.runs import zoo as zoo_mod  # noqa: E402
from afa.runs.spec import RunSpec  # noqa: E402
from afa.runs.smoke import IMAGE_SCALE  # noqa: E402

afa.register_modules()
ZOO = zoo_mod.load()


def rows_fast_first():
    """Every row; the first of each model and module in the fast set, the others (other backbones, schedules and
    optimizers: at the smoke scale the same network, ResNet-18 inside) in the slow set (make test-all)."""
    seen, params = set(), []
    for row in ZOO:
        kind = (row['model'], row['module'])
        params.append(pytest.param(row.id, marks=() if kind not in seen else pytest.mark.slow))
        seen.add(kind)
    return params


@pytest.fixture
def corrected_stack(monkeypatch):
    """The paper stack's corrections (afa/integration/compat.py: mmcv 1.3.11's CPU scatter, the deformable
    attention's CPU fallback), as training applies them, for this test alone: what they replace is put back
    afterwards, so that no later test of the process meets a stack this test changed."""
    from mmcv.ops import multi_scale_deform_attn as msda
    from mmcv.parallel import _functions
    monkeypatch.setattr(compat, '_applied', {})
    monkeypatch.setattr(_functions, 'scatter', _functions.scatter)
    monkeypatch.setattr(msda, 'multi_scale_deformable_attn_pytorch', msda.multi_scale_deformable_attn_pytorch)
    compat.apply()


@pytest.mark.parametrize('row_id', rows_fast_first())
def test_row_trains_one_step_at_smoke_scale(row_id, synthetic_root, tmp_path, corrected_stack):
    spec = RunSpec(row_id, zoo=ZOO, scale='smoke', data_root=synthetic_root, runs_root=str(tmp_path))
    cfg = spec.build_config()
    assert cfg.work_dir.startswith(str(tmp_path / 'smoke'))
    assert cfg.model.backbone.depth == 18 and cfg.model.backbone.init_cfg is None
    dataset = build_dataset(cfg.data.train)
    assert dataset.CLASSES == ('square', 'disc', 'triangle')
    loader = build_dataloader(dataset, 2, 0, num_gpus=1, dist=False, seed=0)
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    model.init_weights()
    if 'sumup' not in row_id and row_id.startswith('cmrcn'):
        assert type(model.neck).__name__ == ZOO.row(row_id)['module'].replace('-', '')
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = next(iter(loader))
    outputs = MMDataParallel(model, device_ids=None).train_step(batch, optimizer)
    assert torch.isfinite(outputs['loss'])
    optimizer.zero_grad()
    outputs['loss'].backward()
    optimizer.step()


def test_smoke_keeps_multi_scale_and_repeat_semantics(synthetic_root):
    cfg = RunSpec('cmrcn_r50_sumup_3x', zoo=ZOO, scale='smoke', data_root=synthetic_root).build_config()
    resize = [s for s in cfg.data.train.dataset.pipeline if s['type'] == 'Resize'][0]
    # The recipe's range (1333, 640)..(1333, 800), scaled like every other size of the smoke scale.
    expected = [tuple(int(round(v * IMAGE_SCALE)) for v in size) for size in ((1333, 640), (1333, 800))]
    assert resize['multiscale_mode'] == 'range' and resize['img_scale'] == expected
    assert cfg.data.train.times == 1 and cfg.runner.max_epochs == 2
    assert cfg.optimizer.type == 'SGD'  # the recipe's optimizer is kept


def test_smoke_and_paper_runs_live_apart(synthetic_root):
    smoke = RunSpec('cmrcn_r50_sumup_1x', zoo=ZOO, scale='smoke', data_root=synthetic_root)
    paper = RunSpec('cmrcn_r50_sumup_1x', zoo=ZOO)
    assert smoke.folder.path != paper.folder.path and '/smoke/' in smoke.folder.path + '/'

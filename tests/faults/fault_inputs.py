"""Inputs the fault tests share: metrics files as `afa test` writes them, a small release-named checkpoint."""
import json
import os

from afa.evaluation.coco_eval import STAT_NAMES
from afa.runs import layout
from afa.runs.spec import RunSpec
from afa.utils import provenance


def _stats(ap):
    return {name: ap for name in STAT_NAMES}


def metrics(run_id, box, mask=None, scale='paper'):
    """The metrics file `afa test` writes for ``run_id`` with these box (and mask) APs."""
    run = layout.parse_run_id(run_id)
    spec = RunSpec(run.target, scale=scale, precision=run.precision, seed=run.seed)
    return dict(spec.describe(), config_sha256='0' * 64, checkpoint='epoch_12.pth', checkpoint_sha256='1' * 64,
                unit='percent', bbox=_stats(box), segm=_stats(mask) if mask is not None else None,
                dataset={'root': spec.data_root, 'ann_file': spec.data_root + 'annotations/instances_val2017.json',
                         'images': 5000}, provenance=provenance.record())


def write_run(runs, payload):
    folder = os.path.join(str(runs), payload['run_id'])
    os.makedirs(folder, exist_ok=True)
    with open(layout.metrics_path(folder), 'w') as f:
        json.dump(payload, f)
    return folder


def release_checkpoint(path):
    """A small checkpoint in the release's names (a real AFA neck's keys, random values)."""
    import torch
    from mmdet.models import build_neck
    import afa.models  # noqa: F401 (registers the necks)
    from afa.release import names as release
    neck = build_neck(dict(type='MSSAAdp', in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5))
    state = {'neck.' + k: torch.randn(v.shape) for k, v in neck.state_dict().items()}
    state['backbone.conv1.weight'] = torch.randn(4, 3, 7, 7)
    torch.save({'meta': {'epoch': 12}, 'state_dict': release.release_state_dict(state), 'optimizer': {}}, path)
    return path

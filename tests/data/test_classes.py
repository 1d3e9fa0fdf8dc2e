"""An 80-class COCO config meeting a dataset of other categories stops before any work with one line naming the
file and the fix (mmdet would raise a KeyError in a data-loader worker); a matching set passes."""
import pytest

from afa.runs.spec import RunSpec
from afa.data.checks import check_inputs
from afa.utils.errors import AfaError

pytest.importorskip('mmdet')


def test_an_80_class_config_on_the_shapes_set_is_refused_with_the_file_named(synthetic_root, tmp_path):
    weights = tmp_path / 'resnet50-0676ba61.pth'
    weights.write_bytes(b'present: the class check comes first')
    spec = RunSpec('cmrcn_r50_sumup_1x', data_root=synthetic_root, pretrained_dir=str(tmp_path))
    with pytest.raises(AfaError) as error:
        check_inputs(spec.build_config(), spec.scale)
    message = str(error.value)
    assert 'instances_train2017.json has no category named' in message and "'person'" in message
    assert '80 classes' in message and '3 categories' in message and '--smoke' in message


def test_heads_of_another_class_count_are_refused(synthetic_root):
    spec = RunSpec('cmrcn_r50_sumup_1x', scale='smoke', data_root=synthetic_root)
    cfg = spec.build_config()
    cfg.model.roi_head.mask_head.num_classes = 80
    with pytest.raises(AfaError, match='heads predict 3/80 classes but the dataset config has 3'):
        check_inputs(cfg, spec.scale)
    check_inputs(spec.build_config(), spec.scale)  # the smoke scale's own config passes

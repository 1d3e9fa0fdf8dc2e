"""Training curves from mmdet's JSON logs: resumed runs (several log files), a half-written last line, every
kind of run id drawn in its table's panel."""
import json
import os

from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.reporting.curves import draw_curves, plot_curves, read_curves, read_losses
from figure_panels import assert_no_empty_panel


def write_log(folder, name, entries, tail='', validated=True):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), 'w') as f:
        f.write('{"env_info": "...", "seed": 0}\n')
        for epoch, it, loss in entries:
            f.write(json.dumps({'mode': 'train', 'epoch': epoch, 'iter': it, 'lr': 0.02, 'loss': loss}) + '\n')
        if validated:
            f.write(json.dumps({'mode': 'val', 'epoch': 1, 'iter': 12, 'bbox_mAP': 0.1}) + '\n')
        f.write(tail)


def test_a_resumed_run_reads_as_one_curve(tmp_path):
    folder = str(tmp_path / 'cmrcn_r50_sumup_1x')
    write_log(folder, '20261125_100000.log.json', [(1, 2, 3.0), (1, 4, 2.5)])
    write_log(folder, '20261125_110000.log.json', [(2, 2, 2.0), (2, 4, 1.5)], tail='{"mode": "tra')
    assert read_losses(folder) == [(2, 3.0), (4, 2.5), (6, 2.0), (8, 1.5)]


def test_every_kind_of_run_is_drawn(tmp_path):
    zoo = zoo_mod.load()
    runs = ['cmrcn_r50_sumup_1x', layout.run_id('cmrcn_r50_sumup_1x', seed=1),
            layout.run_id('cmrcn_r50_mssa_adp_3x+release_steps', 'amp'), 'ddetr_r50_3x', 'my_config_file']
    for i, run in enumerate(runs):
        write_log(str(tmp_path / run), 'a.log.json', [(1, it, 3.0 - 0.1 * it - i * 0.05) for it in range(2, 24, 2)])
    os.makedirs(str(tmp_path / 'not_started'))
    out = str(tmp_path / 'curves.png')
    assert plot_curves(str(tmp_path), out, zoo=zoo) == len(runs)
    assert os.path.getsize(out) > 20000


def test_validation_ap_per_epoch_is_read_and_drawn(tmp_path):
    from afa.reporting.curves import read_val_ap
    folder = str(tmp_path / 'cmrcn_r50_mssa_adp_1x')
    write_log(folder, '20261125_100000.log.json', [(1, 2, 3.0)])
    with open(os.path.join(folder, '20261125_110000.log.json'), 'w') as f:  # a resumed start: epoch 2 validated
        f.write(json.dumps({'mode': 'val', 'epoch': 2, 'iter': 12, 'bbox_mAP': 0.25}) + '\n')
    assert read_val_ap(folder) == [(1, 10.0), (2, 25.0)]
    validation_only = str(tmp_path / 'cmrcn_r50_sumup_1x')
    os.makedirs(validation_only)
    with open(os.path.join(validation_only, 'x.log.json'), 'w') as f:
        f.write(json.dumps({'mode': 'val', 'epoch': 1, 'iter': 12, 'bbox_mAP': 0.2}) + '\n')
    out = str(tmp_path / 'curves.png')
    assert plot_curves(str(tmp_path), out) == 2  # a run with validations and no loss line yet is drawn too
    assert os.path.getsize(out) > 20000


def test_no_panel_is_empty(tmp_path):
    """Runs that never validated: no AP column at all. A table whose runs did not validate while another's did:
    its AP panel says why in one line."""
    import matplotlib.pyplot as plt
    zoo = zoo_mod.load()
    losses = [(1, it, 3.0 - 0.1 * it) for it in range(2, 12, 2)]
    write_log(str(tmp_path / 'cmrcn_r50_sumup_1x'), 'a.log.json', losses, validated=False)
    fig, drawn = draw_curves(read_curves(str(tmp_path), zoo), zoo)
    assert drawn == 1 and len(fig.axes) == 1
    assert_no_empty_panel(fig)
    plt.close(fig)
    write_log(str(tmp_path / 'cmrcn_r50_sumup_3x'), 'a.log.json', losses)
    fig, drawn = draw_curves(read_curves(str(tmp_path), zoo), zoo)
    assert drawn == 2 and len(fig.axes) == 4
    assert_no_empty_panel(fig)
    plt.close(fig)

"""Fault class: numbers taken on trust (issue 30). A NaN in a reference curve or as --reference-offset would turn
the early alarm off while every epoch logs "within nan"; a record with a bare NaN is not JSON; a metrics file
whose AP is "NaN" would be a traceback (or a number shown as right). Each is refused in one line naming the file
and the field, and nothing non-finite is written."""
import json
import os

import pytest

from afa.cli import main
from afa.runs import layout
from afa.training.alarm import reference
from afa.runs.spec import RunSpec
from afa.runs import zoo as zoo_mod
from afa.utils import atomic
from afa.utils.errors import AfaError
from fault_inputs import metrics, write_run

ROW = 'cmrcn_r50_sumup_1x'


def _log(path, aps):
    with open(path, 'w') as f:
        f.write('{"env_info": "", "seed": 0}\n')
        for epoch, ap in enumerate(aps, 1):
            f.write('{"mode": "val", "epoch": %d, "iter": 10, "bbox_mAP": %s}\n' % (epoch, ap))
    return path


def test_a_nan_in_a_reference_curve_is_refused_naming_the_epoch(tmp_path):
    path = _log(str(tmp_path / 'ref.log.json'), ['0.30', 'NaN', '0.35'])
    with pytest.raises(AfaError, match=r'ref.log.json: the box AP of epoch 2 is nan, not a number from 0 to 1'):
        reference.read_curve(path)
    spec = RunSpec(ROW)
    with pytest.raises(AfaError, match='epoch 2 is nan'):
        reference.resolve(path, spec, zoo_mod.load())


@pytest.mark.parametrize('offset', ['nan', 'inf', '-inf'])
def test_a_non_finite_reference_offset_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys, offset):
    monkeypatch.chdir(str(tmp_path))
    assert main(['train', ROW, '--smoke', '--gpus', '0', '--reference-offset=' + offset]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['afa train: error: --reference-offset must be a finite number, got %s' % float(offset)]
    assert os.listdir(str(tmp_path)) == []
    with pytest.raises(AfaError, match='--reference-offset must be a finite number of AP points'):
        reference.resolve('none', RunSpec(ROW), zoo_mod.load(), offset=float(offset))


def test_a_nan_validation_ap_is_outside_the_band_and_recorded_as_json():
    verdict = reference.check({1: 30.0}, 1, float('nan'), 12)
    assert verdict['outside'] and verdict['ap'] is None
    json.dumps(verdict, allow_nan=False)


def test_a_reference_run_s_nan_epoch_compares_nothing(tmp_path):
    folder = str(tmp_path / 'run')
    os.makedirs(folder)
    _log(os.path.join(folder, '20261201_100000' + layout.LOG_JSON_SUFFIX), ['0.30', 'NaN'])
    assert reference.run_curve(folder) == {1: 30.0}


def test_records_are_strict_json_and_a_non_finite_one_is_not_written(tmp_path):
    path = layout.alarm_path(str(tmp_path))
    atomic.write_json(path, dict(expected=30.0))
    with pytest.raises(AfaError, match='refusing to write .*%s.*nothing was written' % layout.ALARM_FILE):
        atomic.write_json(path, dict(expected=float('nan')))
    with open(path) as f:
        assert json.load(f) == dict(expected=30.0)
    assert os.listdir(str(tmp_path)) == [layout.ALARM_FILE]


@pytest.mark.parametrize('value', ['"NaN"', 'NaN', '1e999', '-5', '"41.2"', 'null'])
def test_a_metrics_file_whose_ap_is_not_a_number_is_one_line(tmp_path, capsys, value):
    runs = tmp_path / 'runs'
    folder = write_run(runs, metrics(ROW, 41.0, 36.0))
    path = layout.metrics_path(folder)
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace('"AP": 41.0', '"AP": %s' % value, 1))
    out = tmp_path / 'results'
    assert main(['tables', '--scale', 'paper', '--runs', str(runs), '--out', str(out), '--no-figure']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path in err[0] and 'bbox.AP is' in err[0] and 'rerun its evaluation' in err[0], err
    assert not out.exists()
    from afa.reporting import status
    _log(os.path.join(folder, '20261201_100000' + layout.LOG_JSON_SUFFIX), ['0.41'])
    atomic.write_json(layout.done_path(folder), {})
    found = status.run_status(folder)  # trained, its evaluation to be redone: not done with a number
    assert found['state'] == status.TRAINED and found['box_ap'] is None and 'bbox.AP is' in found['note']


def test_status_shows_no_nan_from_a_broken_validation(tmp_path, capsys):
    """A run's own log with a NaN validation AP: `afa status` shows the last epoch with an AP, and its --json is
    strict JSON."""
    from afa.reporting import status
    folder = layout.run_dir(str(tmp_path), 'paper', ROW)
    os.makedirs(folder)
    _log(os.path.join(folder, '20261201_100000' + layout.LOG_JSON_SUFFIX), ['0.30', 'NaN'])
    found = status.run_status(folder)
    assert (found['val_epoch'], found['val_ap']) == (1, 30.0)
    assert main(['status', '--scale', 'paper', '--runs-root', str(tmp_path), '--rows', ROW, '--json']) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail('bare %s in --json' % name))

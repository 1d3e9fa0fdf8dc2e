"""The early alarm's reference curve and band (afa/training/alarm/reference.py), and `afa reference fetch` against a
loopback HTTP server serving a log made here in mmdetection's format."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from afa.runs import layout
from afa.training.alarm import reference
from afa.runs import zoo as zoo_mod
from afa.runs.spec import RunSpec
from conftest import FIXTURES
from http_faults import FaultyServer

ZOO = zoo_mod.load()
LOG = os.path.join(FIXTURES, 'mmdet_style_cmrcn_r50_1x.log.json')


def test_band_narrows_from_the_first_to_the_last_epoch():
    assert reference.band(1, 12) == pytest.approx(reference.FIRST_BAND)
    assert reference.band(12, 12) == pytest.approx(reference.FINAL_BAND)
    assert reference.FINAL_BAND < reference.band(6, 12) < reference.FIRST_BAND
    assert reference.FINAL_BAND >= 2 * 0.2  # wider than mmdetection's reported rerun spread at the end


def test_check_fires_outside_the_band_and_only_from_below_when_asked():
    curve = {1: 21.5, 12: 41.2}
    assert not reference.check(curve, 12, 41.6, 12)['outside']
    assert reference.check(curve, 12, 40.6, 12)['outside']
    assert reference.check(curve, 12, 41.8, 12)['outside']
    assert not reference.check(curve, 12, 41.8, 12, lower_only=True)['outside']
    assert not reference.check(curve, 1, 20.0, 12)['outside']  # early epochs: 2 AP either side
    assert reference.check(curve, 1, 19.0, 12)['outside']
    assert reference.check(curve, 12, 42.7, 12, offset=1.8)['expected'] == pytest.approx(43.0)
    assert reference.check(curve, 5, 30.0, 12) is None  # the reference has no value there


def test_read_curve_reads_mmdetection_logs_and_refuses_others(tmp_path):
    curve = reference.read_curve(LOG)
    assert sorted(curve) == list(range(1, 13)) and curve[12] == pytest.approx(41.2)
    bad = tmp_path / 'train_only.log.json'
    bad.write_text('{"mode": "train", "epoch": 1, "iter": 50, "loss": 1.0}\n')
    with pytest.raises(reference.AfaError, match='no validation entries'):
        reference.read_curve(str(bad))


def _spec(target, tmp_path, scale='paper', seed=0):
    return RunSpec(target, zoo=ZOO, scale=scale, runs_root=str(tmp_path / 'runs'), seed=seed)


def _write_run_log(tmp_path, run_id, curve):
    folder = layout.run_dir(str(tmp_path / 'runs'), 'paper', run_id)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, '20260101_000000' + layout.LOG_JSON_SUFFIX), 'w') as f:
        f.write('{"seed": 0}\n')
        for epoch, ap in curve.items():
            f.write(json.dumps({'mode': 'val', 'epoch': epoch, 'iter': 10, 'bbox_mAP': ap / 100.0}) + '\n')
    return folder


def test_default_reference_of_each_kind_of_run(tmp_path):
    refs = str(tmp_path / 'refs')
    # Sum-Up row: mmdetection's published log, once fetched
    ref, why = reference.resolve('auto', _spec('cmrcn_r50_sumup_1x', tmp_path), ZOO, refs)
    assert ref is None and 'afa reference fetch cmrcn_r50_sumup_1x' in why
    os.makedirs(refs)
    shutil.copy(LOG, layout.reference_path(refs, 'cmrcn_r50_sumup_1x'))
    ref, why = reference.resolve('auto', _spec('cmrcn_r50_sumup_1x', tmp_path), ZOO, refs)
    assert ref.curve[12] == pytest.approx(41.2) and not ref.lower_only and "mmdetection's published" in why
    # another row, seed 0: this project's Sum-Up run of the same schedule, from below
    ref, why = reference.resolve('auto', _spec('cmrcn_r50_mssa_adp_1x', tmp_path), ZOO, refs)
    assert ref.curve == {} and ref.folder.endswith('cmrcn_r50_sumup_1x') and 'not validated yet' in why
    _write_run_log(tmp_path, 'cmrcn_r50_sumup_1x', {1: 20.0, 2: 25.0})
    ref, why = reference.resolve('auto', _spec('cmrcn_r50_mssa_adp_1x', tmp_path), ZOO, refs)
    assert ref.source == 'run:cmrcn_r50_sumup_1x' and ref.lower_only and ref.curve == {1: 20.0, 2: 25.0}
    # a later seed: the same run's seed 0
    _write_run_log(tmp_path, 'cmrcn_r50_mssa_adp_1x', {1: 22.0})
    ref, _ = reference.resolve('auto', _spec('cmrcn_r50_mssa_adp_1x', tmp_path, seed=2), ZOO, refs)
    assert ref.source == 'run:cmrcn_r50_mssa_adp_1x' and not ref.lower_only and ref.curve == {1: 22.0}
    # the smoke scale: no published curve for a Sum-Up row's seed 0, this project's own runs for the others
    none, why = reference.resolve('auto', _spec('cmrcn_r50_sumup_1x', tmp_path, 'smoke'), ZOO, refs)
    assert none is None and 'no published curve' in why
    smoke, _ = reference.resolve('auto', _spec('cmrcn_r50_mssa_adp_1x', tmp_path, 'smoke'), ZOO, refs)
    assert smoke.source == 'run:cmrcn_r50_sumup_1x' and smoke.lower_only
    later, _ = reference.resolve('auto', _spec('cmrcn_r50_sumup_1x', tmp_path, 'smoke', seed=1), ZOO, refs)
    assert later.source == 'run:cmrcn_r50_sumup_1x' and not later.lower_only
    # named references
    assert reference.resolve('none', _spec('cmrcn_r50_sumup_1x', tmp_path), ZOO, refs)[0] is None
    named, _ = reference.resolve(LOG, _spec('cmrcn_r50_mssa_1x', tmp_path), ZOO, refs, offset=2.1)
    assert named.offset == 2.1 and named.hook_args()['curve'][0] == [1, pytest.approx(21.5)]


def afa(*args, **kwargs):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True, **kwargs)


def test_fetch_downloads_a_published_log_once_and_refuses_a_wrong_file(tmp_path):
    with open(LOG, 'rb') as f:
        body = f.read()
    refs = str(tmp_path / 'refs')
    with FaultyServer({'/v2.0/cmrcn.log.json': body, '/v2.0/page.html': b'<html>moved</html>'}) as server:
        server.faults['/v2.0/cmrcn.log.json'] = ['cut']  # an interrupted transfer is retried
        url = server.url + '/v2.0/cmrcn.log.json'
        done = afa('reference', 'fetch', 'cmrcn_r50_sumup_1x', '--url', url, '--dir', refs)
        assert done.returncode == 0, done.stderr[-2000:]
        path = layout.reference_path(refs, 'cmrcn_r50_sumup_1x')
        assert open(path, 'rb').read() == body and 'box AP of 12 epochs, 41.2 at epoch 12' in done.stdout
        again = afa('reference', 'fetch', 'cmrcn_r50_sumup_1x', '--url', url + '.other', '--dir', refs)
        assert again.returncode == 0 and 'already there' in again.stdout  # never overwritten
        wrong = afa('reference', 'fetch', 'cmrcn_r50_sumup_3x', '--url', server.url + '/v2.0/page.html',
                    '--dir', refs)
        assert wrong.returncode == 2 and 'no validation entries' in wrong.stderr
        assert not os.path.exists(layout.reference_path(refs, 'cmrcn_r50_sumup_3x'))
        missing = afa('reference', 'fetch', 'cmrcn_r50_sumup_3x', '--url', server.url + '/nothing', '--dir', refs)
        assert missing.returncode == 2 and 'HTTP 404' in missing.stderr and 'Traceback' not in missing.stderr
        unknown = afa('reference', 'fetch', 'cmrcn_r50_mssa_1x', '--dir', refs)
        assert unknown.returncode == 2 and 'no reference_log' in unknown.stderr
    assert ('/v2.0/cmrcn.log.json', None) in server.requests


def test_sum_up_rows_name_their_published_log():
    for row in ZOO:
        if row['module'] == reference.SUM_UP:
            assert row['reference_log'].startswith('https://download.openmmlab.com/mmdetection/v2.0/')
            assert row['reference_log'].endswith(layout.LOG_JSON_SUFFIX)


def test_training_priority_starts_each_reference_before_the_runs_compared_with_it(tmp_path):
    """A run's default reference (resolve) trains earlier in a workflow than the run (higher priority)."""
    for row_id in ZOO.ids():
        row = ZOO.row(row_id)
        for seed in (0, 1):
            spec = _spec(row_id, tmp_path, seed=seed)
            if row['module'] == reference.SUM_UP and seed == 0:
                assert reference.training_priority(row, seed) == 2
                continue
            ref, _ = reference.resolve('auto', spec, ZOO)
            if ref is None or not ref.folder:
                continue
            ref_id = layout.parse_run_id(os.path.basename(ref.folder))
            assert (reference.training_priority(ZOO.row(ref_id.row), ref_id.seed)
                    > reference.training_priority(row, seed)), (row_id, seed, ref.source)

"""`afa status`: run states read from run folders alone, on folders laid out by hand (failed, died, stalled,
evaluating, ...) with real locks held by this process, and while a real smoke training and evaluation run."""
import json
import signal
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from afa.reporting import status
from afa.runs import layout
from afa.runs.runlock import RunLock

ROW = 'cmrcn_r50_sumup_1x'
STAMP = '20261201_100000'
PROGRESS = ('2026-12-01 10:00:05,000 - mmdet - INFO - Epoch [2][40/50]\tlr: 2.000e-02, eta: 0:00:30, time: 0.500, '
            'loss: 1.2000\n')


def make_run(runs, run_id, val=(), age=0.0, gpus=8, progress=True):
    """A run folder as `afa train` leaves it: config.py, run.json, a text and a JSON log ``age`` seconds old."""
    folder = layout.run_dir(str(runs), 'paper', run_id)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, layout.CONFIG_FILE), 'w') as f:
        f.write("runner = dict(type='EpochBasedRunner', max_epochs=12)\n")
    with open(os.path.join(folder, layout.RUN_FILE), 'w') as f:
        json.dump(dict(run_id=run_id, gpus=gpus), f)
    text, log = (os.path.join(folder, STAMP + s) for s in (layout.LOG_TEXT_SUFFIX, layout.LOG_JSON_SUFFIX))
    with open(text, 'w') as f:
        f.write('2026-12-01 10:00:00,000 - mmdet - INFO - Environment info\n' + (PROGRESS if progress else ''))
    with open(log, 'w') as f:
        f.write('{"seed": 0}\n')
        for epoch, ap in enumerate(val, 1):
            f.write(json.dumps(dict(mode='val', epoch=epoch, iter=50, bbox_mAP=ap)) + '\n')
        f.write(json.dumps(dict(mode='train', epoch=2, iter=40, lr=0.02, loss=1.2, time=0.5, img_per_s=32.0)) + '\n')
        f.write('{"mode": "train", "epo')  # the partial last line of a run killed mid-write
    stamp = time.time() - age
    for path in (text, log):
        os.utime(path, (stamp, stamp))
    return folder


def test_each_state_from_the_run_folder(tmp_path):
    runs = tmp_path / 'runs'
    training = make_run(runs, ROW, val=[0.211], age=5)
    stalled = make_run(runs, ROW + '-seed1', age=3600)
    failed = make_run(runs, ROW + '-seed2', age=5)
    died = make_run(runs, ROW + '-seed3', age=5)
    trained = make_run(runs, ROW + '-seed4', age=9000)
    evaluating = make_run(runs, ROW + '-seed5', age=9000)
    done = make_run(runs, ROW + '-seed6', age=9000)
    paused = make_run(runs, ROW + '-seed7', age=90)
    for folder in (failed, paused):
        with open(os.path.join(folder, layout.LOCK_FILE), 'w'):
            pass  # released cleanly: the process exited (on an error; at a checkpoint on request)
    with open(layout.segments_path(failed), 'w') as f:
        json.dump([dict(segment=1, outcome='continue'), dict(segment=2, outcome='failed', error='RuntimeError')], f)
    with open(layout.segments_path(paused), 'w') as f:  # as afa/training/train.py ends a segment on SIGUSR2
        json.dump([dict(segment=1, outcome='continue', signal='SIGUSR2', checkpoint='epoch_1_iter_20.pth'),
                   dict(segment=2, outcome='continue', signal='SIGTERM', checkpoint='epoch_2_iter_40.pth')], f)
    gone = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    with open(os.path.join(died, layout.LOCK_FILE), 'w') as f:
        json.dump(dict(pid=int(gone.stdout), host=socket.gethostname(), purpose='train'), f)
    for folder in (trained, evaluating, done):
        with open(layout.done_path(folder), 'w') as f:
            f.write('{}')
    with open(layout.metrics_path(done), 'w') as f:
        json.dump(dict(bbox=dict(AP=41.3)), f)
    with RunLock(training, 'train'), RunLock(stalled, 'train'), \
            RunLock(evaluating, 'test', lock_file=layout.output_lock_name(layout.metrics_path(evaluating))):
        found = {s['run']: s for s in status.collect(str(runs), 'paper', sorted(os.listdir(str(runs / 'paper'))),
                                                      stall_after=1800)}
    assert {k: v['state'] for k, v in found.items()} == {
        ROW: 'training', ROW + '-seed1': 'stalled', ROW + '-seed2': 'failed', ROW + '-seed3': 'failed',
        ROW + '-seed4': 'trained', ROW + '-seed5': 'evaluating', ROW + '-seed6': 'done', ROW + '-seed7': 'continuing'}
    assert found[ROW + '-seed7']['segments'] == 2 and found[ROW + '-seed2']['segments'] == 2
    assert 'segment 2 stopped on SIGTERM at epoch_2_iter_40.pth 1m3' in found[ROW + '-seed7']['note']
    assert 'continues in its next job segment' in found[ROW + '-seed7']['note']
    live = found[ROW]
    assert (live['epoch'], live['max_epochs'], live['iter'], live['iters_per_epoch']) == (2, 12, 40, 50)
    assert live['img_per_s'] == 32.0 and live['val_ap'] == 21.1 and live['val_epoch'] == 1
    assert live['eta_s'] == ((12 - 2) * 50 + 10) * 0.5  # iterations left at the recent time per iteration
    assert found[ROW + '-seed1']['note'].startswith(os.path.join(stalled, STAMP)) and 'not moved for 1h0' in \
        found[ROW + '-seed1']['note']
    assert 'exited without finishing' in found[ROW + '-seed2']['note']
    assert 'its process died (pid %s on' % int(gone.stdout) in found[ROW + '-seed3']['note']
    assert found[ROW + '-seed6']['box_ap'] == 41.3
    assert found[ROW + '-seed4']['gpu_hours'] > 0  # 8 GPUs times the hours between the log's start and last write


def test_table_marks_alarms_and_counts_states(tmp_path):
    runs = tmp_path / 'runs'
    folder = make_run(runs, ROW, val=[0.10], age=3600)
    with open(layout.alarm_path(folder), 'w') as f:
        json.dump(dict(outside=True, epoch=1, last_outside=1, stopped=True,
                       message='epoch 1 box AP 10.0 is outside the band 21.5 +- 2.0 of ref.log.json'), f)
    with open(os.path.join(folder, layout.LOCK_FILE), 'w'):
        pass
    found = status.collect(str(runs), 'paper', [ROW, 'cmrcn_r50_mssa_1x'])
    text = status.render(found)
    assert found[0]['state'] == 'failed' and 'stopped by the early alarm after epoch 1' in found[0]['note']
    assert '!! e1' in text and 'early alarm: epoch 1 box AP 10.0 is outside the band' in text
    assert '2 runs: 1 not started, 1 failed' in text


def afa(*args, **kwargs):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True, **kwargs)


def test_selection_follows_a_workflow_config_and_shows_other_seeds(tmp_path):
    runs = tmp_path / 'runs'
    make_run(runs, 'cmrcn_r50_mssa_adp_1x-seed3', age=5)
    config = tmp_path / 'config.yaml'
    config.write_text('scale: paper\nrows: [cmrcn_r50_mssa_adp_1x, cmrcn_r50_sumup_1x]\nseeds: [0, 1]\n')
    result = afa('status', '--scale', 'paper', '--runs-root', str(runs), '--config', str(config), '--json')
    assert result.returncode == 0, result.stderr
    assert [r['run'] for r in json.loads(result.stdout)] == [
        'cmrcn_r50_mssa_adp_1x', 'cmrcn_r50_mssa_adp_1x-seed1', 'cmrcn_r50_mssa_adp_1x-seed3',
        'cmrcn_r50_sumup_1x', 'cmrcn_r50_sumup_1x-seed1']
    wrong = afa('status', '--scale', 'smoke', '--runs-root', str(runs), '--config', str(config))
    assert wrong.returncode == 2 and 'is a paper config but --scale is smoke' in wrong.stderr
    unknown = afa('status', '--scale', 'paper', '--rows', 'cmrcn_r50_nope_1x')
    assert unknown.returncode == 2 and 'unknown row' in unknown.stderr


def _sigint_as_in_a_terminal():
    """Ctrl-C as a terminal delivers it: a test suite started in the background by a non-interactive shell (`make
    test-all &`, a CI runner) ignores SIGINT, its children inherit that, and a Python started ignoring SIGINT never
    raises KeyboardInterrupt (this test then failed after its 60 s wait, as in a rehearsal run with `&`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_watch_refreshes_until_interrupted(tmp_path):
    make_run(tmp_path / 'runs', ROW, age=5)
    proc = subprocess.Popen([sys.executable, '-m', 'afa.cli', 'status', '--scale', 'paper', '--runs-root',
                             str(tmp_path / 'runs'), '--rows', ROW, '--watch', '0.2'], stdout=subprocess.PIPE,
                            text=True, preexec_fn=_sigint_as_in_a_terminal)
    # Ctrl-C after the second refresh, not after a fixed time: on a loaded machine the import alone took longer
    # than the 8 s this test once waited, and a Ctrl-C during the import is not a watch being interrupted.
    killer = threading.Timer(300, proc.kill)  # bounds the test if the watch never refreshes
    killer.start()
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if sum('afa status: ' in x for x in seen) >= 2:
                proc.send_signal(signal.SIGINT)
                break
        out = ''.join(seen) + proc.communicate(timeout=60)[0]
    finally:
        killer.cancel()
    assert proc.returncode == 0 and out.count('afa status: ') >= 2, (proc.returncode, out[-2000:])


@pytest.mark.slow
def test_status_follows_a_real_smoke_run(synthetic_root, tmp_path):
    """Poll `afa status` while `afa train --smoke` runs: training with an iteration, then trained, then done
    once `afa test` wrote the metrics."""
    runs = str(tmp_path / 'runs')
    common = ['--smoke', '--smoke-epochs', '1', '--data-root', synthetic_root, '--runs-root', runs, '--gpus', '0']
    query = ['status', '--scale', 'smoke', '--runs-root', runs, '--rows', ROW, '--json']
    before, = json.loads(afa(*query).stdout)
    assert before['state'] == 'not started'
    train = subprocess.Popen([sys.executable, '-m', 'afa.cli', 'train', ROW] + common, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    seen = []
    try:
        while train.poll() is None:
            record, = json.loads(afa(*query).stdout)
            seen.append((record['state'], record['iter']))
            time.sleep(0.5)
    finally:
        if train.poll() is None:
            train.kill()
    assert train.returncode == 0
    assert any(state == 'training' and it for state, it in seen), seen
    states = [state for state, _ in seen]
    assert set(states) <= {'not started', 'training', 'trained'}, seen  # trained: done, the process exiting
    assert states.index('training') > (states.index('not started') if 'not started' in states else -1)
    assert 'trained' not in states[:states.index('training')]
    trained, = json.loads(afa(*query).stdout)
    assert trained['state'] == 'trained' and trained['epoch'] == 1 and trained['img_per_s'] > 0
    work_dir = layout.run_dir(runs, 'smoke', ROW)
    assert os.listdir(layout.tensorboard_dir(work_dir))  # TensorBoard event file of the run
    tested = afa('test', ROW, layout.done_path(work_dir), *common)
    assert tested.returncode == 0, tested.stderr[-2000:]
    done, = json.loads(afa(*query).stdout)
    assert done['state'] == 'done' and done['box_ap'] is not None

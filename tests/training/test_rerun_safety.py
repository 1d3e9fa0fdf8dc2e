"""A rerun is always safe: checkpoints whole or absent, one writer per run folder, a run folder never reused for
another config, verification that checks what it names, and one line (exit 2) for every user mistake.

Each test reproduces a defect seen before these guards existed (a killed or full-disk save leaving a truncated
epoch_N.pth, two trainings in one folder, "already trained" under other options, a truncated annotation file
marked verified, tracebacks for bad paths and options) with the real mmcv runner, real files and real mounts.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from afa.utils import atomic
from afa.runs import fingerprint
from afa.runs import layout
from afa.runs.checkpoints import checkpoint_problem, find_resumable_checkpoint
from afa.cli import main
from afa.utils.errors import AfaError
from afa.runs.runlock import RunLock

from conftest import REPO
ROW = 'cmrcn_r50_msca_adp_1x'


def env():
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))


@contextlib.contextmanager
def mounted_tmpfs(folder, options):
    """A tmpfs with mount ``options`` on a new ``folder`` for the block; skips the test where mounting is refused."""
    os.makedirs(folder)
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', folder], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip('cannot mount a tmpfs (%s) here (%s): needs root' % (options, result.stderr.strip()))
    try:
        yield folder
    finally:
        subprocess.run(['umount', '-l', folder])


@pytest.fixture
def tmpfs(tmp_path):
    """A 2 MB tmpfs mounted for the test (a full disk on demand); skipped where mounting is not permitted."""
    with mounted_tmpfs(str(tmp_path / 'small'), 'size=2m') as folder:
        yield folder


# --- atomic files -----------------------------------------------------------------------------------------

def test_full_disk_leaves_the_previous_file_and_no_partial_one(tmpfs):
    path = os.path.join(tmpfs, layout.METRICS_FILE)
    atomic.write_json(path, {'AP': 1.0})
    with pytest.raises(AfaError, match='No space left on device'):
        atomic.write_text(path, 'x' * (3 * 1024 * 1024))
    assert json.load(open(path)) == {'AP': 1.0}
    assert os.listdir(tmpfs) == [layout.METRICS_FILE]


# --- checkpoints: whole or absent; resume from the newest that reads back ------------------------------------

RUNNER_SCRIPT = textwrap.dedent('''
    import logging, sys
    import torch
    from mmcv.runner import EpochBasedRunner
    import afa
    afa.register_modules()
    from afa.training.hooks import AtomicCheckpointHook

    class Model(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.layer = torch.nn.Linear(n, n, bias=False)
        def train_step(self, data, optimizer):
            return dict(loss=self.layer(data).sum(), log_vars={}, num_samples=1)

    work_dir, size, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model = Model(size)
    runner = EpochBasedRunner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), work_dir=work_dir,
                              logger=logging.getLogger('t'), max_epochs=epochs)
    runner.register_hook(AtomicCheckpointHook(interval=1))
    runner.run([[torch.ones(1, size)]], [('train', 1)])
''')


def run_runner(tmp_path, work_dir, size, epochs=1, wait=True):
    script = tmp_path / 'runner.py'
    script.write_text(RUNNER_SCRIPT)
    cmd = [sys.executable, str(script), work_dir, str(size), str(epochs)]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=env())
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())


def test_checkpoints_and_latest_link_are_written_whole(tmp_path):
    work_dir = str(tmp_path / 'run')
    result = run_runner(tmp_path, work_dir, 8, epochs=2)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(work_dir)) == ['epoch_1.pth', 'epoch_2.pth', layout.LATEST_CHECKPOINT]
    assert os.readlink(os.path.join(work_dir, layout.LATEST_CHECKPOINT)) == 'epoch_2.pth'
    assert checkpoint_problem(os.path.join(work_dir, 'epoch_2.pth')) is None


def test_sigkill_during_a_checkpoint_save_leaves_no_file_under_its_final_name(tmp_path):
    """The kill lands while the checkpoint's bytes are being written (a 256 MB save), as a preemption does."""
    work_dir = str(tmp_path / 'run')
    proc = run_runner(tmp_path, work_dir, 8192, wait=False)
    deadline = time.time() + 120
    caught = None
    while caught is None and time.time() < deadline and proc.poll() is None:
        for folder, _, files in os.walk(work_dir):
            for name in files:
                path = os.path.join(folder, name)
                if name.endswith('.pth') and os.path.exists(path) and os.path.getsize(path) > 0:
                    caught = path
        if caught is None:
            time.sleep(0.001)
    proc.kill()
    proc.wait()
    assert caught, 'the save was not seen in progress: %s' % proc.stderr.read()[-2000:]
    final = os.path.join(work_dir, 'epoch_1.pth')
    assert not os.path.exists(final) or checkpoint_problem(final) is None
    assert find_resumable_checkpoint(work_dir) == (None, [])
    from afa.runs.checkpoints import remove_stale_staging
    leftovers = [n for n in os.listdir(work_dir) if n.startswith(layout.CHECKPOINT_STAGING_PREFIX)]
    assert remove_stale_staging(work_dir) == leftovers and os.listdir(work_dir) in ([], ['epoch_1.pth'])


def test_full_disk_during_a_checkpoint_save_is_one_clear_line(tmp_path, tmpfs):
    work_dir = os.path.join(tmpfs, 'run')
    result = run_runner(tmp_path, work_dir, 1024)  # 4 MB of weights on a 2 MB disk
    assert result.returncode != 0
    assert 'cannot save checkpoint %s' % os.path.join(work_dir, 'epoch_1.pth') in result.stderr
    assert 'nothing was written under that name' in result.stderr
    assert os.listdir(work_dir) == []  # no partial checkpoint, no staging folder


def save_checkpoint(path, value):
    import torch
    torch.save({'meta': {'epoch': value}, 'state_dict': {'w': torch.full((256, 256), float(value))}}, path)


def test_resume_skips_a_truncated_newest_checkpoint_and_keeps_it(tmp_path):
    work = str(tmp_path)
    for n in (1, 2, 3):
        save_checkpoint(os.path.join(work, layout.epoch_checkpoint(n)), n)
    with open(os.path.join(work, 'epoch_3.pth'), 'r+b') as f:
        f.truncate(os.path.getsize(os.path.join(work, 'epoch_3.pth')) // 2)
    open(os.path.join(work, 'epoch_4.pth'), 'w').close()
    os.symlink('epoch_4.pth', os.path.join(work, layout.LATEST_CHECKPOINT))
    path, skipped = find_resumable_checkpoint(work)
    assert path == os.path.join(work, 'epoch_2.pth')
    assert [os.path.basename(p) for p, _ in skipped] == ['epoch_4.pth', 'epoch_3.pth']
    assert 'empty' in skipped[0][1] and 'truncated' in skipped[1][1]
    assert sorted(os.listdir(work)) == ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth', 'epoch_4.pth',
                                   layout.LATEST_CHECKPOINT]


# --- one writer per run folder ------------------------------------------------------------------------------

def hold_lock(folder):
    code = ('import sys, time; from afa.runs.runlock import RunLock; RunLock(sys.argv[1], "train").acquire(); '
            'print("held", flush=True); time.sleep(120)')
    proc = subprocess.Popen([sys.executable, '-c', code, folder], stdout=subprocess.PIPE, text=True, env=env())
    assert proc.stdout.readline().strip() == 'held'
    return proc


def test_a_second_training_of_one_run_is_refused_naming_the_first(synthetic_root, tmp_path, capsys):
    work_dir = layout.run_dir(str(tmp_path), 'smoke', ROW)
    holder = hold_lock(work_dir)
    try:
        code = main(['train', ROW, '--smoke', '--data-root', synthetic_root, '--runs-root', str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and 'in use by another afa process: pid %d' % holder.pid in err, err
        assert len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(work_dir, 'train').acquire()  # the kernel released the dead holder's lock
    try:
        assert lock.stale['pid'] == holder.pid
        assert 'died without releasing it' in capsys.readouterr().err
    finally:
        lock.release()
    with RunLock(work_dir, 'train') as again:  # a clean release leaves no stale record
        assert again.stale is None


# --- a run folder is never reused for another config --------------------------------------------------------

def smoke_spec(synthetic_root, runs_root, **kwargs):
    from afa.runs.spec import RunSpec
    return RunSpec(ROW, scale='smoke', data_root=synthetic_root, runs_root=runs_root, **kwargs)


def test_a_partly_trained_run_with_another_config_is_refused_then_moved_aside(synthetic_root, tmp_path):
    from afa.runs.folder import claim
    runs = str(tmp_path)
    first = smoke_spec(synthetic_root, runs)
    claim(first, first.build_config()).release()
    save_checkpoint(os.path.join(first.folder.path, 'epoch_1.pth'), 1)  # partly trained
    again = smoke_spec(synthetic_root, runs)
    claim(again, again.build_config()).release()  # the same config resumes
    other = smoke_spec(synthetic_root, runs, smoke_epochs=3, cfg_options={'optimizer.lr': 0.5})
    with pytest.raises(AfaError) as refused:
        claim(other, other.build_config())
    message = str(refused.value)
    assert 'runner.max_epochs: 2 -> 3' in message and 'optimizer.lr:' in message and '--retrain' in message
    claim(other, other.build_config(), retrain=True).release()
    (moved,) = os.listdir(os.path.join(runs, 'smoke', layout.REPLACED_DIR))
    assert os.path.exists(os.path.join(runs, 'smoke', layout.REPLACED_DIR, moved, 'epoch_1.pth'))
    assert not fingerprint.has_training(other.folder.path)
    claim(other, other.build_config()).release()  # the new run is now this config's


def test_data_root_and_workers_do_not_change_the_fingerprint(synthetic_root, tmp_path):
    moved = str(tmp_path / 'elsewhere')
    shutil.copytree(synthetic_root, moved)
    a = smoke_spec(synthetic_root, str(tmp_path))
    b = smoke_spec(moved, str(tmp_path), cfg_options={'data.workers_per_gpu': 0})
    assert fingerprint.compute(a.build_config(), a) == fingerprint.compute(b.build_config(), b)


# --- verify means verified -----------------------------------------------------------------------------------

@pytest.fixture
def dataset(synthetic_root, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(synthetic_root, root)
    return root


def verify(root, *parts):
    return main(['data', 'verify', '--root', root] + (['--parts'] + list(parts) if parts else []))


def test_verify_checks_a_synthetic_dataset(dataset):
    assert verify(dataset) == 0
    record = json.load(open(os.path.join(dataset, layout.COCO_VERIFIED)))
    assert record['splits']['val2017']['images'] == 4 and record['splits']['val2017']['annotated_images'] == 4


@pytest.mark.parametrize('damage, expected', [
    ('truncate', 'is not valid JSON'),
    ('no_images', 'lacks the COCO list(s) images'),
])
def test_verify_annotations_refuses_a_damaged_annotation_file(dataset, capsys, damage, expected):
    assert verify(dataset) == 0
    ann = os.path.join(dataset, 'annotations', 'instances_val2017.json')
    if damage == 'truncate':
        with open(ann, 'r+b') as f:
            f.truncate(os.path.getsize(ann) // 2)
    else:
        doc = json.load(open(ann))
        del doc['images']
        json.dump(doc, open(ann, 'w'))
    assert verify(dataset, 'annotations') == 2
    err = capsys.readouterr().err
    assert ann in err and expected in err and 'Traceback' not in err
    assert not os.path.exists(os.path.join(dataset, layout.COCO_VERIFIED))  # the old record no longer holds


def test_an_image_of_random_bytes_is_named_by_verify_and_train(dataset, tmp_path, capsys):
    victim = os.path.join(dataset, 'train2017', sorted(os.listdir(os.path.join(dataset, 'train2017')))[0])
    with open(victim, 'wb') as f:
        f.write(os.urandom(4096))
    assert verify(dataset, 'train2017', 'annotations') == 2
    assert victim in capsys.readouterr().err
    assert main(['train', ROW, '--smoke', '--data-root', dataset, '--runs-root', str(tmp_path / 'runs')]) == 2
    err = capsys.readouterr().err
    assert victim in err and 'not an image' in err and len(err.strip().splitlines()) == 1


# --- one line for every user mistake -------------------------------------------------------------------------

def train_args(synthetic_root, runs_root, *extra):
    return ['train', ROW, '--smoke', '--data-root', synthetic_root, '--runs-root', runs_root] + list(extra)


@pytest.mark.parametrize('options, expected', [
    (['optimizer.lrr=0.1'], "optimizer has no key 'lrr'"),
    (['optimiser.lr=0.1'], "the config has no key 'optimiser'"),
    (['optimizer.lr=fast'], "optimizer.lr needs a number"),
    (['lr_config.step=soon'], 'lr_config.step needs numbers'),
])
def test_misspelt_or_mistyped_cfg_options_are_one_line(synthetic_root, tmp_path, capsys, options, expected):
    assert main(train_args(synthetic_root, str(tmp_path), '--cfg-options', *options)) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(os.path.join(str(tmp_path), 'smoke'))


def test_an_added_key_must_be_asked_for_with_a_plus(synthetic_root, tmp_path):
    spec = smoke_spec(synthetic_root, str(tmp_path), cfg_options={'+optimizer.foo': 1})
    assert spec.build_config().optimizer.foo == 1


def test_runs_root_that_is_a_file_is_one_line(synthetic_root, tmp_path, capsys):
    runs = tmp_path / 'runs'
    runs.write_text('not a folder')
    assert main(train_args(synthetic_root, str(runs))) == 2
    err = capsys.readouterr().err
    assert str(runs) in err and 'Not a directory' in err and len(err.strip().splitlines()) == 1, err


def test_read_only_runs_root_is_one_line(synthetic_root, tmp_path, capsys):
    with mounted_tmpfs(str(tmp_path / 'ro'), 'ro,size=1m') as runs:
        assert main(train_args(synthetic_root, runs)) == 2
        err = capsys.readouterr().err
        assert runs in err and 'Read-only file system' in err and len(err.strip().splitlines()) == 1, err


def test_debug_shows_the_traceback(synthetic_root, tmp_path):
    result = subprocess.run([sys.executable, '-m', 'afa.cli', '--debug'] +
                            train_args(synthetic_root, str(tmp_path), '--cfg-options', 'optimizer.lrr=1'),
                            capture_output=True, text=True, env=env())
    assert result.returncode != 0 and 'Traceback' in result.stderr and "no key 'lrr'" in result.stderr


def test_curves_of_a_missing_runs_folder_is_one_line(tmp_path, capsys):
    assert main(['curves', '--runs', str(tmp_path / 'none'), '--out', str(tmp_path / 'c.png')]) == 2
    assert main(['curves', '--runs', str(tmp_path), '--out', str(tmp_path / 'no' / 'c.png')]) == 2
    err = capsys.readouterr().err
    assert 'is not a folder of run folders' in err and 'No such file or directory' in err


def test_sigkill_handling_does_not_need_signals(tmp_path):
    """flock is released by the kernel: a holder killed with SIGKILL never blocks the next writer."""
    folder = str(tmp_path / 'run')
    holder = hold_lock(folder)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with RunLock(folder, 'test') as lock:
        assert lock.stale['pid'] == holder.pid


def test_workers_of_a_multi_gpu_launch_share_their_launchers_lock(tmp_path):
    """`afa train --gpus N` holds the lock and hands it to its torch.distributed workers through the
    environment; any other process is still refused."""
    folder = str(tmp_path / 'run')
    code = 'import sys; from afa.runs.runlock import RunLock; RunLock(sys.argv[1], "train").acquire(); print("ok")'
    with RunLock(folder, 'train') as lock:
        worker = subprocess.run([sys.executable, '-c', code, folder], capture_output=True, text=True,
                                env=dict(lock.child_env(), PYTHONPATH=env()['PYTHONPATH']))
        assert worker.returncode == 0 and worker.stdout.strip() == 'ok', worker.stderr[-2000:]
        other = subprocess.run([sys.executable, '-c', code, folder], capture_output=True, text=True, env=env())
        assert other.returncode != 0 and 'in use by another afa process: pid %d' % os.getpid() in other.stderr

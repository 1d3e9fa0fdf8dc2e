"""`afa plan` as a user runs it: the recipe's batch on 1, 2, 4, 8 GPUs and 2 nodes, refusals in one line."""
import json
import subprocess
import sys

import pytest

ROW = 'cmrcn_r50_mssa_adp_1x'


def afa(*args):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True)


def plan_json(capsys, *args):
    """`afa plan ... --json` in this process (the command line itself: the other tests here)."""
    from afa.cli import main
    capsys.readouterr()
    assert main(['plan'] + list(args) + ['--json']) in (0, None)
    return json.loads(capsys.readouterr().out)


def test_plan_keeps_sixteen_images_per_step_on_every_layout(capsys):
    layouts = [('1', '1'), ('2', '1'), ('4', '1'), ('8', '1'), ('8', '2')]
    for gpus, nodes in layouts:
        for record in plan_json(capsys, ROW, 'ddetr_r50_1x', '--gpus', gpus, '--nodes', nodes):
            assert record['effective_batch'] == 16 and record['recipe_batch']
            assert record['nodes'] * record['gpus_per_node'] * record['imgs_per_gpu'] * record['accumulation'] == 16
            assert record['nodes'] == int(nodes) and record['gpus_per_node'] == int(gpus)
            assert record['optimizer_steps_per_epoch'] == 7330  # 117266 images / 16, as on 8 GPUs x 2
    capped = plan_json(capsys, ROW, '--gpus', '1', '--max-imgs-per-gpu', '2')[0]
    assert (capped['imgs_per_gpu'], capped['accumulation']) == (2, 8)
    assert capped['lr'] == 1e-4  # the recipe's: accumulation keeps the update, nothing is rescaled
    # 58633 micro-batches of 2 images: the epoch's last optimizer step takes the 1 left over (flushed at the end)
    assert capped['iters_per_epoch'] == 58633 and capped['optimizer_steps_per_epoch'] == 7330
    assert capped['warmup_optimizer_steps'] == 500 and capped['warmup_iters'] == 4000
    assert capped['lr_steps_epochs'] == [8, 11]


def test_plan_prints_the_layout_for_people():
    result = afa('plan', ROW, '--gpus', '2', '--max-imgs-per-gpu', '2')
    assert result.returncode == 0, result.stderr[-2000:]
    assert '2 GPUs x 2 images x 4 accumulation steps = 16 images per optimizer step' in result.stdout
    assert 'warm-up: 500 optimizer steps = 2000 counter iterations' in result.stdout


@pytest.mark.parametrize('args, message', [
    (['--gpus', '3'], "3 GPUs cannot make the recipe's 16 images per step"),
    (['--gpus', '2', '--procs', '2'], '--procs 2 is for CPU runs'),
])
def test_impossible_layouts_are_refused_in_one_line(args, message):
    result = afa('plan', ROW, *args)
    assert result.returncode == 2 and message in result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    assert any(line.startswith('afa plan: error: ') and message in line for line in result.stderr.splitlines())
    assert '--procs' in args or '--gpus 2 (2 GPUs x 8 images)' in result.stderr, result.stderr


def test_another_batch_is_its_own_run_id():
    record = json.loads(afa('plan', ROW, '--gpus', '4', '--batch', '8', '--json').stdout)[0]
    assert record['run_id'] == ROW + '-batch8' and not record['recipe_batch']
    assert record['effective_batch'] == 8
    same = json.loads(afa('plan', ROW, '--gpus', '4', '--batch', '16', '--json').stdout)[0]
    assert same['run_id'] == ROW and same['recipe_batch']  # the recipe's own batch spelled out: the same run

"""Fault class: a command that replaces what a user has (issue 21, item 2). Derived results are replaced only
by better-founded ones, and no command writes into another run's folder or over a record it does not own:
`afa tables` from fewer runs or a mistyped --runs, `afa test --out` naming a record or another run's folder,
`afa test` of an unfinished run's checkpoint, `afa release convert` in place or into a run folder."""
import csv
import json
import os
import subprocess
import sys

import pytest

from afa.cli import main
from afa.runs import layout
from fault_inputs import metrics, release_checkpoint, write_run

OUTPUTS = layout.TABLE_FILES

ROW = 'cmrcn_r50_msca_adp_1x'


def afa(*args, **kwargs):
    return subprocess.run([sys.executable, '-m', 'afa.cli'] + list(args), capture_output=True, text=True,
                          timeout=900, **kwargs)


def one_line(stderr):
    lines = [line for line in stderr.strip().splitlines()
             if line.startswith('afa ') or 'Traceback' in line or 'Error' in line]
    assert 'Traceback' not in stderr, stderr[-2000:]
    return lines[-1]


# --- afa tables ----------------------------------------------------------------------------------------------

def tables(runs, out, *extra):
    return main(['tables', '--scale', 'paper', '--runs', str(runs), '--out', str(out), '--no-figure'] + list(extra))


def test_tables_from_fewer_runs_keep_the_complete_ones(tmp_path, capsys):
    runs, out = tmp_path / 'runs', tmp_path / 'out'
    write_run(runs, metrics('cmrcn_r50_sumup_1x', 41.0, 36.0))
    write_run(runs, metrics('cmrcn_r50_mssa_adp_1x', 42.5, 37.0))
    assert tables(runs, out) == 0
    complete = {name: open(os.path.join(str(out), f)).read() for name, f in OUTPUTS.items()
                if os.path.exists(os.path.join(str(out), f))}
    os.rename(str(runs / 'cmrcn_r50_mssa_adp_1x'), str(tmp_path / 'moved'))  # e.g. `afa train --retrain`
    capsys.readouterr()
    assert tables(runs, out) == 2
    err = capsys.readouterr().err
    assert 'cmrcn_r50_mssa_adp_1x' in err and '--allow-fewer' in err and len(err.strip().splitlines()) == 1
    assert {name: open(os.path.join(str(out), f)).read() for name, f in OUTPUTS.items()
            if os.path.exists(os.path.join(str(out), f))} == complete
    assert tables(runs, out, '--allow-fewer') == 0  # on purpose: replaced
    assert '42.5' not in open(os.path.join(str(out), OUTPUTS['tables'])).read()


def test_smoke_tables_never_replace_paper_tables(tmp_path, capsys):
    """Both scales share run ids, so a comparison of run ids alone let `afa tables --scale smoke --out
    results/paper` replace the paper tables, rc 0; with as many or more runs too."""
    paper_runs, smoke_runs, out = tmp_path / 'paper', tmp_path / 'smoke', tmp_path / 'results'
    write_run(paper_runs, metrics('cmrcn_r50_sumup_1x', 41.0, 36.0))
    for row in ('cmrcn_r50_sumup_1x', 'cmrcn_r50_mssa_adp_1x'):
        write_run(smoke_runs, metrics(row, 12.0, 10.0, scale='smoke'))
    assert tables(paper_runs, out) == 0
    complete = {f: open(os.path.join(str(out), f)).read() for f in os.listdir(str(out)) if f.endswith(('.md', '.csv'))}
    capsys.readouterr()
    for extra in ((), ('--allow-fewer',)):
        assert main(['tables', '--scale', 'smoke', '--runs', str(smoke_runs), '--out', str(out), '--no-figure']
                    + list(extra)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and 'holds the paper-scale tables; smoke-scale tables never replace them' in err[0]
    assert {f: open(os.path.join(str(out), f)).read() for f in complete} == complete
    assert main(['tables', '--scale', 'smoke', '--runs', str(smoke_runs), '--out', str(tmp_path / 'mine'),
                 '--no-figure']) == 0


def test_tables_of_a_mistyped_runs_folder_are_an_error(tmp_path, capsys):
    out = tmp_path / 'out'
    assert tables(tmp_path / 'typo', out) == 2
    err = capsys.readouterr().err
    assert '--runs %s is not a folder' % (tmp_path / 'typo') in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# --- afa release convert ------------------------------------------------------------------------------------

def test_release_convert_never_writes_in_place_or_into_a_run(tmp_path):
    src = release_checkpoint(str(tmp_path / 'final.pth'))
    before = open(src, 'rb').read()
    same = afa('release', 'convert', src, src)
    assert same.returncode == 2 and 'is IN itself' in one_line(same.stderr)
    assert open(src, 'rb').read() == before
    run = tmp_path / 'runs' / 'smoke' / ROW
    run.mkdir(parents=True)
    (run / layout.RUN_FILE).write_text('{"run_id": "%s"}\n' % ROW)
    (run / 'epoch_1.pth').write_bytes(b'a run checkpoint')
    into_run = afa('release', 'convert', src, str(run / 'epoch_1.pth'))
    assert into_run.returncode == 2 and 'is in a run folder' in one_line(into_run.stderr)
    assert (run / 'epoch_1.pth').read_bytes() == b'a run checkpoint'
    other = tmp_path / 'mine.pth'
    other.write_bytes(b'something of mine')
    existing = afa('release', 'convert', src, str(other))
    assert existing.returncode == 2 and 'left untouched' in one_line(existing.stderr)
    assert other.read_bytes() == b'something of mine'
    fresh = afa('release', 'convert', src, str(tmp_path / 'converted.pth'))
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    again = afa('release', 'convert', src, str(tmp_path / 'converted.pth'))  # its own earlier output: redone
    assert again.returncode == 0, again.stderr[-2000:]


# --- afa test --out and unfinished runs ---------------------------------------------------------------------

@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """One finished 2-epoch smoke run (epoch_1.pth is an earlier checkpoint, epoch_2.pth the final one)."""
    runs = str(tmp_path_factory.mktemp('runs'))
    common = ['--smoke', '--data-root', synthetic_root, '--runs-root', runs, '--gpus', '0']
    result = afa('train', ROW, *common)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(runs=runs, common=common, work_dir=layout.run_dir(runs, 'smoke', ROW))


@pytest.mark.slow
@pytest.mark.parametrize('record', [layout.DONE_FILE, layout.RUN_FILE])
def test_test_out_never_replaces_a_record_of_the_run(trained, record):
    path = os.path.join(trained['work_dir'], record)
    before = open(path).read()
    result = afa('test', ROW, layout.done_path(trained['work_dir']), '--out', path, *trained['common'])
    assert result.returncode == 2 and 'names a record file' in one_line(result.stderr)
    assert open(path).read() == before


@pytest.mark.slow
def test_test_out_never_writes_into_another_runs_folder(trained):
    other = layout.run_dir(trained['runs'], 'smoke', 'cmrcn_r50_sumup_1x')
    os.makedirs(other, exist_ok=True)
    with open(os.path.join(other, layout.RUN_FILE), 'w') as f:
        json.dump({'run_id': 'cmrcn_r50_sumup_1x', 'scale': 'smoke'}, f)
    out = os.path.join(other, 'scores.json')
    result = afa('test', ROW, layout.done_path(trained['work_dir']), '--out', out, *trained['common'])
    assert result.returncode == 2 and 'in the folder of another run' in one_line(result.stderr)
    assert not os.path.exists(out)


@pytest.mark.slow
def test_test_dev_files_never_go_into_a_run_folder(trained):
    other = layout.run_dir(trained['runs'], 'smoke', 'cmrcn_r50_sumup_1x')
    os.makedirs(other, exist_ok=True)
    with open(os.path.join(other, layout.RUN_FILE), 'w') as f:
        json.dump({'run_id': 'cmrcn_r50_sumup_1x', 'scale': 'smoke'}, f)
    before = sorted(os.listdir(other))
    result = afa('test', ROW, layout.done_path(trained['work_dir']), '--format-only', '--out', other,
                 *trained['common'])
    assert result.returncode == 2 and 'is a run folder' in one_line(result.stderr)
    assert sorted(os.listdir(other)) == before


@pytest.mark.slow
def test_a_checkpoint_that_is_not_the_final_one_never_writes_the_runs_metrics(trained):
    work_dir = trained['work_dir']
    metrics_json = layout.metrics_path(work_dir)
    assert not os.path.exists(metrics_json)
    refused = afa('test', ROW, os.path.join(work_dir, 'epoch_1.pth'), '--out', metrics_json, *trained['common'])
    assert refused.returncode == 2 and 'not the final checkpoint' in one_line(refused.stderr)
    # A run still training has no train_done.json: its newest epoch is not a result either.
    done = layout.done_path(work_dir)
    os.rename(done, done + '.aside')
    try:
        result = afa('test', ROW, os.path.join(work_dir, 'epoch_2.pth'), *trained['common'])
    finally:
        os.rename(done + '.aside', done)
    assert result.returncode == 0, result.stderr[-3000:]
    beside = os.path.join(work_dir, 'metrics_epoch_2.json')
    assert 'not the run\'s final checkpoint' in result.stdout and beside in result.stdout
    assert os.path.exists(beside) and not os.path.exists(metrics_json)
    # The tables never show it as the row's result.
    out = os.path.join(trained['runs'], 'tables')
    assert main(['tables', '--scale', 'smoke', '--runs', os.path.dirname(work_dir), '--out', out,
                 '--no-figure']) == 0
    with open(os.path.join(out, OUTPUTS['summary'])) as f:
        assert not [r for r in csv.DictReader(f) if r['run_id'] == ROW and r['status'] == 'done']


# --- an interrupted or failed workflow -----------------------------------------------------------------------

def workflow_checkout(tmp_path):
    """(snakemake beside this interpreter, a copy of the checkout to run the workflow in, the smoke profile's
    config file); skips when snakemake is not installed."""
    import yaml
    from conftest import copy_checkout
    exe = os.path.join(os.path.dirname(sys.executable), 'snakemake')
    if not os.path.exists(exe):
        pytest.skip('snakemake is not installed beside %s' % sys.executable)
    checkout = str(tmp_path / 'checkout')
    copy_checkout(checkout)
    with open(os.path.join(checkout, 'workflow', 'profiles', 'smoke', 'config.yaml')) as f:
        return exe, checkout, yaml.safe_load(f)['configfile']


@pytest.mark.slow
@pytest.mark.orchestrator
def test_a_failed_workflow_keeps_the_last_complete_tables(tmp_path):
    """A workflow that fails (here: its dataset cannot be made) leaves the finished tables as they were, even
    when the runs folder holds fewer results than they show, and says where they are."""
    import yaml
    exe, checkout, smoke_config = workflow_checkout(tmp_path)
    runs, results = tmp_path / 'runs', tmp_path / 'results'
    write_run(runs / 'smoke', metrics('cmrcn_r50_sumup_1x', 30.0, 25.0, scale='smoke'))
    assert main(['tables', '--scale', 'smoke', '--runs', str(runs / 'smoke'), '--out', str(results / 'smoke'),
                 '--no-figure']) == 0
    finished = {f: open(os.path.join(str(results / 'smoke'), f)).read()
                for f in os.listdir(str(results / 'smoke')) if f != layout.LAST_COMPLETE_DIR}
    os.rename(str(runs / 'smoke' / 'cmrcn_r50_sumup_1x'), str(tmp_path / 'aside'))  # e.g. being retrained
    override = tmp_path / 'fail.yaml'  # a seed numpy refuses: the dataset job fails
    override.write_text(yaml.safe_dump({'data': {'source': 'synthetic', 'root': str(tmp_path / 'synthetic'),
                                                 'synthetic': {'train': 2, 'val': 1, 'test': 1, 'height': 64,
                                                               'width': 64, 'seed': -1}},
                                        'runs_root': str(runs), 'results_root': str(results),
                                        'rows': ['cmrcn_r50_sumup_1x']}))
    result = subprocess.run([exe, '--profile', 'workflow/profiles/smoke', '--configfile', smoke_config,
                             str(override), '--cores', '1'], cwd=checkout, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=checkout), timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and 'Error in rule data_synthetic' in output, output[-3000:]
    assert {f: open(os.path.join(str(results / 'smoke'), f)).read()
            for f in os.listdir(str(results / 'smoke')) if f != layout.LAST_COMPLETE_DIR} == finished
    # the workflow's last lines say so and where the kept tables are (its error handler used to regenerate them
    # from what existed, replacing finished tables with 'not run yet')
    assert 'the tables were not regenerated' in output, output[-3000:]
    assert os.path.join(str(results / 'smoke'), OUTPUTS['tables']) in output, output[-3000:]


def test_the_last_complete_tables_are_kept_beside(tmp_path):
    """Snakemake removes a job's outputs before it runs: the copy beside them survives a failing tables job."""
    runs, out = tmp_path / 'runs', tmp_path / 'out'
    write_run(runs, metrics('cmrcn_r50_sumup_1x', 41.0, 36.0))
    assert tables(runs, out) == 0
    written = open(os.path.join(str(out), OUTPUTS['tables'])).read()
    for name in os.listdir(str(out)):
        if name != layout.LAST_COMPLETE_DIR:
            os.remove(os.path.join(str(out), name))
    assert open(os.path.join(str(out), layout.LAST_COMPLETE_DIR, OUTPUTS['tables'])).read() == written


@pytest.mark.slow
def test_another_val_set_or_settings_never_replace_a_finished_runs_metrics(trained, synthetic_root, tmp_path):
    """`afa test` of a finished run with another --data-root (here a val set of 1 image under the same names) or
    other evaluation settings replaced its metrics.json, rc 0, and the tables showed the number unmarked."""
    import shutil
    work_dir, metrics_json = trained['work_dir'], layout.metrics_path(trained['work_dir'])
    done = layout.done_path(work_dir)
    first = afa('test', ROW, done, *trained['common'])
    assert first.returncode == 0, first.stderr[-3000:]
    try:
        before = open(metrics_json).read()
        small = str(tmp_path / 'small')
        shutil.copytree(synthetic_root, small)
        ann = os.path.join(small, 'annotations', 'instances_val2017.json')
        with open(ann) as f:
            doc = json.load(f)
        keep = doc['images'][0]['id']
        doc.update(images=doc['images'][:1], annotations=[a for a in doc['annotations'] if a['image_id'] == keep])
        with open(ann, 'w') as f:
            json.dump(doc, f)
        other_data = [a if a != synthetic_root else small for a in trained['common']]
        for extra, common in ((), other_data), (('--cfg-options', 'model.test_cfg.rcnn.score_thr=0.5'),
                                                trained['common']):
            refused = afa('test', ROW, done, *(common + list(extra)))
            assert refused.returncode == 2, refused.stderr[-3000:]
            line = one_line(refused.stderr)
            assert "holds this run's metrics" in line and 'left untouched' in line and '--out' in line
            assert open(metrics_json).read() == before
        assert 'another annotation file' in afa('test', ROW, done, *other_data).stderr
        elsewhere = str(tmp_path / 'small_val_metrics.json')
        aside = afa('test', ROW, done, *other_data, '--out', elsewhere)
        assert aside.returncode == 0, aside.stderr[-3000:]
        with open(elsewhere) as f:
            assert json.load(f)['evaluation']['images'] == 1
        again = afa('test', ROW, done, *trained['common'])  # the same evaluation again: redone in place
        assert again.returncode == 0, again.stderr[-3000:]
        testdev = afa('test', ROW, done, *trained['common'], '--format-only')  # the run's test-dev files
        assert testdev.returncode == 0, testdev.stderr[-3000:]
        manifest = os.path.join(layout.testdev_dir(work_dir), layout.TESTDEV_MANIFEST)
        files = open(manifest).read()
        with open(os.path.join(small, 'annotations', 'image_info_test-dev2017.json')) as f:
            info = json.load(f)
        info['images'] = info['images'][:1]
        with open(os.path.join(small, 'annotations', 'image_info_test-dev2017.json'), 'w') as f:
            json.dump(info, f)
        refused = afa('test', ROW, done, *other_data, '--format-only')
        assert refused.returncode == 2 and "holds this run's test-dev files" in one_line(refused.stderr)
        assert open(manifest).read() == files
    finally:
        if os.path.exists(metrics_json):
            os.remove(metrics_json)  # the module's other tests start without it


@pytest.mark.slow
@pytest.mark.orchestrator
def test_a_changed_setting_never_leaves_a_finished_run_without_its_records(tmp_path):
    """After a run finished, `--config smoke_epochs=2`: the banner said "trained and evaluated, skipped", yet
    Snakemake reran train ("params have changed"), deleting train_done.json before `afa train` refused the changed
    config, and the row was left without it (metrics.json likewise through evaluate). A finished run's settings
    are afa's to judge: Snakemake skips it, and its records stay."""
    import re
    import yaml
    exe, checkout, smoke_config = workflow_checkout(tmp_path)
    runs, results = tmp_path / 'runs', tmp_path / 'results'
    override = tmp_path / 'one_row.yaml'
    override.write_text(yaml.safe_dump({
        'data': {'source': 'synthetic', 'root': str(tmp_path / 'synthetic'),
                 'synthetic': {'train': 8, 'val': 4, 'test': 2, 'height': 128, 'width': 160, 'seed': 0}},
        'runs_root': str(runs), 'results_root': str(results), 'rows': [ROW], 'smoke_epochs': 1, 'testdev': False}))

    def workflow(*extra):
        return subprocess.run([exe, '--profile', 'workflow/profiles/smoke', '--configfile', smoke_config,
                               str(override), '--cores', '1'] + list(extra), cwd=checkout, capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=checkout), timeout=900)
    first = workflow()
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    folder = layout.run_dir(str(runs), 'smoke', ROW)
    records = {name: open(os.path.join(folder, name)).read() for name in (layout.DONE_FILE, layout.METRICS_FILE)}
    dry = workflow('-n', '--config', 'smoke_epochs=2')
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]
    planned = re.findall(r'^(train|evaluate)\s+\d+\s*$', dry.stdout + dry.stderr, re.M)
    assert planned == [], (dry.stdout + dry.stderr)[-3000:]
    again = workflow('--config', 'smoke_epochs=2')
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert 'Nothing to be done' in again.stdout + again.stderr
    assert {name: open(os.path.join(folder, name)).read() for name in records} == records

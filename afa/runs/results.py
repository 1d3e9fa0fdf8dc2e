"""Where the results of a checkpoint go (a metrics file, a test-dev folder), and what they may replace: never a
record that afa writes itself, another run's folder or result, or this run's result made on other data or
settings (afa/runs/evaluation_settings.py). ``--out`` may lie outside any run folder."""
import os

from afa.runs import evaluation_settings, layout
from afa.runs.folder import RunFolder
from afa.utils import atomic
from afa.utils.errors import AfaError


def output_path(run_folder, origin, format_only, out=None, final=True, checkpoint=None):
    """Where results of a checkpoint of this origin go: a released checkpoint's never replace a trained run's
    (metrics_released.json, test-dev-released/ beside metrics.json, test-dev/), nor the other way round. A
    trained checkpoint that is not the run's final one (``final`` False: an epoch of a run still training, or an
    earlier epoch) never writes the run's own results, which the tables show as done: its results go beside
    them under its own name (metrics_epoch_1.json, test-dev_epoch_1/)."""
    own = {'trained': (layout.metrics_path(run_folder), layout.testdev_dir(run_folder)),
           'released': (layout.released_metrics_path(run_folder), layout.released_testdev_dir(run_folder))}
    other = own['trained' if origin == 'released' else 'released'][int(format_only)]
    if out and os.path.abspath(out) == os.path.abspath(other):
        raise AfaError('--out %s holds the results of %s checkpoints, and this checkpoint is %s; leave --out '
                       'out to write to %s' % (out, 'trained' if origin == 'released' else 'released', origin,
                                               own[origin][int(format_only)]))
    default = own[origin][int(format_only)]
    if final:
        return out or default
    beside = os.path.join(run_folder, layout.checkpoint_results_name(os.path.basename(default), checkpoint))
    if out and os.path.abspath(out) == os.path.abspath(default):
        raise AfaError('--out %s is the run\'s own result, but %s is not the final checkpoint its %s records '
                       '(the run is unfinished, or this is an earlier epoch); leave --out out to write to %s'
                       % (out, checkpoint, layout.DONE_FILE, beside))
    if not out:
        print('afa test: %s is not the run\'s final checkpoint (no %s records it): its results go to %s, '
              'not to %s' % (checkpoint, layout.DONE_FILE, beside, os.path.basename(default)), flush=True)
    return out or beside


def check_output_place(out, run_id, run_folder):
    """No --out names a record file (layout.RECORD_FILES) or lies in the folder of another run."""
    if os.path.basename(os.path.normpath(out)) in layout.RECORD_FILES:
        raise AfaError('--out %s names a record file that afa writes itself (%s); it is left untouched: choose '
                       'another --out' % (out, os.path.basename(os.path.normpath(out))))
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.abspath(folder) != os.path.abspath(run_folder) and layout.is_run_folder(folder):
        raise AfaError('--out %s is in the folder of another run (%s), not of %s; choose a folder of your own '
                       '(or leave --out out to write to %s)' % (out, folder, run_id, run_folder))


def check_output(out, run_id, scale, run_folder, evaluation=None):
    """Refuse to replace a file that is not an earlier result of this same run (another run's metrics, a record
    such as train_done.json or run.json, or not a metrics file at all), or one of this run made on another val set
    or under other settings than ``evaluation`` (evaluation_settings.record), or to write into another run's
    folder."""
    check_output_place(out, run_id, run_folder)
    if not os.path.exists(out):
        return
    owner = RunFolder.metrics_owner(out)
    if owner != (run_id, scale):
        raise AfaError('%s holds %s, not an earlier result of %s (%s scale); it is left untouched: choose another '
                       '--out' % (out, 'the metrics of %s (%s scale)' % owner if owner else 'something else',
                                  run_id, scale))
    if evaluation is not None:
        evaluation_settings.check_same(out, atomic.read_json(out) or {}, evaluation)


def check_testdev_place(out, run_id, run_folder, evaluation=None):
    """A test-dev folder is no record file, no other run's, no run folder, and holds no test-dev files of this
    run made on other data or settings than ``evaluation``."""
    check_output_place(out, run_id, run_folder)
    manifest = os.path.join(out, layout.TESTDEV_MANIFEST)
    if evaluation is not None and os.path.isfile(manifest):
        evaluation_settings.check_same(manifest, atomic.read_json(manifest) or {}, evaluation, 'test-dev files')
    if layout.is_run_folder(out):
        raise AfaError('--out %s is a run folder; the test-dev files go to a folder of their own (leave --out '
                       'out to write to %s)' % (out, layout.testdev_dir(run_folder)))

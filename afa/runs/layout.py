"""The one owner of the run layout: run ids, run folders and the marker files in them and in data roots.

A run id names one training run: ``ROW[+VARIANT][@PRECISION][-batchB][-seedN]``, e.g. ``cmrcn_r50_mssa_adp_1x``,
``cmrcn_r50_mssa_adp_3x+release_steps@mixed-seed2``. The default precision (fp32), batch (the row's recipe: 16
images per optimizer step, however the devices split it) and seed (0) are not spelled, so a plain row id is the
run id of the default run. ``-batchB`` is another recipe asked for explicitly (``--batch B``): its own run,
never pooled with the paper's. A run lives in ``RUNS_ROOT/SCALE/RUN_ID/``.

Everything that spells a file name of the pipeline (training, evaluation, tables, the Snakemake rules, the
image's entry point through ``afa``) imports it from here. Standard library only: Snakemake's process and
``afa zoo`` import it.
"""
import collections
import os
import re

DEFAULT_PRECISION = 'fp32'
DEFAULT_SEED = 0
VARIANT_SEPARATOR = '+'
PRECISION_SEPARATOR = '@'
SEED_PREFIX = '-seed'
BATCH_PREFIX = '-batch'
PRECISIONS = ('fp32', 'amp', 'apex', 'mixed')
# paper: COCO and the recipes; smoke: shrunken models on synthetic shapes (afa/runs/smoke.py); rehearsal: the full-size
# recipes for a few steps on a COCO-shaped synthetic set (afa/runs/rehearsal.py). Each has its runs and results folder.
SCALES = ('paper', 'smoke', 'rehearsal')
# The scales trained on synthetic data: their numbers say nothing about the paper (claims are judged by sign only).
SYNTHETIC_SCALES = ('smoke', 'rehearsal')
# The `afa train|test|plan` flag of each scale (the paper scale has none).
SCALE_FLAGS = {'paper': None, 'smoke': '--smoke', 'rehearsal': '--rehearsal'}
RUNS_ROOT = 'runs'
RESULTS_ROOT = 'results'               # RESULTS_ROOT/SCALE/: what `afa tables` and `afa curves` write

# Files in a run folder.
RUN_FILE = 'run.json'                  # what was asked, the resolved config's hash, provenance (rewritten per start)
CONFIG_FILE = 'config.py'              # the resolved mmcv config
DONE_FILE = 'train_done.json'          # written last by training: final checkpoint, its sha256
METRICS_FILE = 'metrics.json'          # val2017 metrics of the run's own final checkpoint
TESTDEV_DIR = 'test-dev'               # test-dev result zips for the evaluation server
TESTDEV_MANIFEST = 'manifest.json'     # written last in TESTDEV_DIR
RELEASED_METRICS_FILE = 'metrics_released.json'  # val2017 metrics of the authors' released checkpoint of the row
RELEASED_TESTDEV_DIR = 'test-dev-released'       # test-dev result zips of the released checkpoint
LOCK_FILE = '.afa-lock'                # one writer per run folder
FINGERPRINT_FILE = 'fingerprint.json'  # the resolved config a run was trained with (see afa/runs/fingerprint.py)
SEGMENTS_FILE = 'segments.json'       # one record per job segment of the run: start, end, why it ended
ESTIMATE_FILE = 'estimate.json'       # the cost `afa plan --probe` estimated for the run (compared when it finishes)
EPOCH_CHECKPOINT = 'epoch_{}.pth'       # after epoch N (mmcv's name, which mmdet's tools and `afa test` expect)
ITER_CHECKPOINT = 'iter_{}.pth'         # after iteration N (mmcv's iteration runner)
CONTINUATION_CHECKPOINT = 'epoch_{epoch}_iter_{iter}.pth'  # mid-epoch: after `iter` iterations of epoch `epoch`
LATEST_CHECKPOINT = 'latest.pth'        # a link to the newest epoch or iteration checkpoint
CHECKPOINT_STAGING_PREFIX = '.afa-saving-'  # a checkpoint being saved, renamed into place whole (runs/checkpoints.py)
REPLACED_DIR = '.replaced'             # in RUNS_ROOT/SCALE: run folders moved aside by `afa train --retrain`
LOG_JSON_SUFFIX = '.log.json'          # mmcv's JSON training log, one per start (TIMESTAMP.log.json; resumes add one)
LOG_TEXT_SUFFIX = '.log'               # mmcv's text training log beside it
TENSORBOARD_DIR = 'tensorboard'        # TensorBoard event files of the run (`tensorboard --logdir RUNS_ROOT/SCALE`)
ALARM_FILE = 'alarm.json'              # the early alarm's verdict per validated epoch (afa/training/alarm/hook.py)
BACKBONE_FILE = 'backbone.json'        # which backbone file served and how its load went (training/backbone_weights.py)

# The exit status of `afa train` that means "stopped on request (a scheduler's warning signal or preemption),
# checkpoint written: run the same command again to continue" (EX_TEMPFAIL of sysexits.h).
CONTINUE_EXIT_CODE = 75

# Files in RESULTS_ROOT/SCALE/: what `afa tables` writes (the Snakemake rules name them from here) and `afa curves`.
TABLE_FILES = collections.OrderedDict([('tables', 'tables.md'), ('summary', 'summary.csv'), ('gains', 'gains.csv'),
                                       ('figure', 'reproduced_vs_paper.png'), ('gains_figure', 'gains.png'),
                                       ('claims', 'claims.md'), ('claims_json', 'claims.json'),
                                       ('claims_figure', 'claims.png')])
CURVES_FILE = 'training_curves.png'
LAST_COMPLETE_DIR = '.last-complete'  # in RESULTS_ROOT/SCALE: a copy of the tables `afa tables` last wrote

# Files in a data root.
COCO_VERIFIED = '.afa-verified.json'   # written last by `afa data coco|verify`
SYNTHETIC_MARKER = 'synthetic.json'    # written last by `afa data synthetic`

# The authors' released weights: RELEASE_DIR/ROW/ holds the row's Drive folder (config .py, weights .pth).
RELEASE_WEIGHTS = 'final.pth'          # the final weights' name in the release's folders
RELEASE_MARKER = '.afa-release.json'   # written last by `afa data release`: files, sha256, where they came from
CONVERSION_RECORD_SUFFIX = '.afa-convert.json'  # beside a file written by `afa release convert`: both sha256
RELEASE_DOWNLOAD_RESULT = '.afa-gdown-result.json'  # the Drive download's child process: its outcome, then removed

# Files a command owns as its record: no `--out` of another command may name one (afa test, afa release convert).
RECORD_FILES = frozenset((RUN_FILE, CONFIG_FILE, DONE_FILE, FINGERPRINT_FILE, LOCK_FILE, TESTDEV_MANIFEST,
                          COCO_VERIFIED, SYNTHETIC_MARKER, RELEASE_MARKER))
# What marks a folder as a run folder (written by `afa train` when it starts and when it ends).
RUN_FOLDER_MARKERS = (RUN_FILE, DONE_FILE, FINGERPRINT_FILE)

# Reference training curves for the early alarm: REFERENCE_DIR/ROW.log.json (`afa reference fetch ROW`).
REFERENCE_DIR = 'data/references'

# A row id (and a variant name): configs/zoo.yaml's ids, Snakemake's wildcard_constraints.
ROW_PATTERN = r'[a-z0-9_]+'
_RUN_ID = re.compile(r'^(?P<row>{row})(?:\+(?P<variant>{row}))?(?:@(?P<precision>[a-z0-9]+))?'
                     r'(?:-batch(?P<batch>[1-9][0-9]*))?(?:-seed(?P<seed>[0-9]+))?$'.format(row=ROW_PATTERN))
# The same grammar for Snakemake's wildcard_constraints.
RUN_ID_PATTERN = r'{row}(\+{row})?(@({precisions}))?(-batch[1-9][0-9]*)?(-seed[0-9]+)?'.format(
    row=ROW_PATTERN, precisions='|'.join(p for p in PRECISIONS if p != DEFAULT_PRECISION))
# Names of the files above, for scripts that ask `afa layout file NAME` instead of spelling them.
FILES = {'run': RUN_FILE, 'config': CONFIG_FILE, 'done': DONE_FILE, 'metrics': METRICS_FILE,
         'released-metrics': RELEASED_METRICS_FILE, 'lock': LOCK_FILE, 'fingerprint': FINGERPRINT_FILE,
         'coco-verified': COCO_VERIFIED, 'synthetic-marker': SYNTHETIC_MARKER, 'release-marker': RELEASE_MARKER,
         'curves': CURVES_FILE, 'segments': SEGMENTS_FILE, 'estimate': ESTIMATE_FILE, 'backbone': BACKBONE_FILE}
FILES.update(TABLE_FILES)


class RunId(collections.namedtuple('RunId', 'row variant precision seed batch')):
    """The parts of a run id. ``str(RunId(...))`` is the canonical spelling. ``batch`` is None for the row's own
    recipe, else the images per optimizer step asked for explicitly."""

    def __new__(cls, row, variant=None, precision=DEFAULT_PRECISION, seed=DEFAULT_SEED, batch=None):
        return super(RunId, cls).__new__(cls, row, variant or None, precision or DEFAULT_PRECISION, int(seed),
                                         int(batch) if batch else None)

    def __str__(self):
        text = self.row
        if self.variant:
            text += VARIANT_SEPARATOR + self.variant
        if self.precision != DEFAULT_PRECISION:
            text += PRECISION_SEPARATOR + self.precision
        if self.batch:
            text += '%s%d' % (BATCH_PREFIX, self.batch)
        if self.seed != DEFAULT_SEED:
            text += '%s%d' % (SEED_PREFIX, self.seed)
        return text

    @property
    def target(self):
        """ROW or ROW+VARIANT: what the zoo resolves to a config."""
        return self.row + (VARIANT_SEPARATOR + self.variant if self.variant else '')

    @property
    def group(self):
        """The run id without its seed: runs that differ only by seed are repeats of one experiment."""
        return str(self._replace(seed=DEFAULT_SEED))


def parse_run_id(text):
    """A RunId from its spelling; ValueError naming the grammar when it is not one."""
    match = _RUN_ID.match(text or '')
    precision = match.group('precision') if match else None
    if not match or (precision is not None and precision not in PRECISIONS[1:]):  # fp32 is never spelled
        raise ValueError('%r is not a run id: expected ROW[+VARIANT][@%s][-batchB][-seedN], e.g. '
                         'cmrcn_r50_sumup_1x+release_steps@mixed-seed1' % (text, '|'.join(PRECISIONS[1:])))
    return RunId(match.group('row'), match.group('variant'), match.group('precision'),
                 match.group('seed') or DEFAULT_SEED, match.group('batch'))


def run_id(target, precision=DEFAULT_PRECISION, seed=DEFAULT_SEED, batch=None):
    """The run id of ROW or ROW+VARIANT trained at ``precision`` with ``seed``; ``batch``: None for the row's
    recipe, else the other effective batch asked for (callers pass None when it equals the row's)."""
    row, _, variant = target.partition(VARIANT_SEPARATOR)
    return str(RunId(row, variant, precision, seed, batch))


def runs_dir(runs_root, scale):
    """The folder holding every run folder of one scale (smoke and paper runs never share one)."""
    return os.path.join(runs_root, scale)


def results_dir(results_root, scale):
    """The folder of the regenerated tables and figures of one scale."""
    return os.path.join(results_root, scale)


def run_dir(runs_root, scale, run):
    return os.path.join(runs_dir(runs_root, scale), str(run))


def done_path(run_folder):
    return os.path.join(run_folder, DONE_FILE)


def output_lock_name(output):
    """The lock file guarding one output of `afa test` (metrics.json, the test-dev folder), beside it: two
    evaluations of one output never run at once, while val and test-dev evaluations of one run may."""
    return '%s-%s' % (LOCK_FILE, os.path.basename(os.path.normpath(output)))


def alarm_path(run_folder):
    return os.path.join(run_folder, ALARM_FILE)


def backbone_path(run_folder):
    return os.path.join(run_folder, BACKBONE_FILE)


def scale_flag_hint(scale):
    """How to ask for ``scale`` on the command line (for messages)."""
    return SCALE_FLAGS[scale] or 'neither %s' % ' nor '.join(f for f in SCALE_FLAGS.values() if f)


def tensorboard_dir(run_folder):
    return os.path.join(run_folder, TENSORBOARD_DIR)


def reference_path(reference_dir, row):
    """Where `afa reference fetch ROW` keeps the row's published training log."""
    return os.path.join(reference_dir, row + LOG_JSON_SUFFIX)


def is_run_folder(folder):
    """True for a folder `afa train` made (it holds one of RUN_FOLDER_MARKERS)."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in RUN_FOLDER_MARKERS)


def checkpoint_results_name(name, checkpoint):
    """The name of a result of a checkpoint that is not the run's final one (``metrics.json`` of
    ``epoch_1.pth`` -> ``metrics_epoch_1.json``, ``test-dev`` -> ``test-dev_epoch_1``): the run's own result
    names are kept for the final checkpoint, so that the tables never show an unfinished run as done."""
    stem = os.path.splitext(os.path.basename(checkpoint))[0]
    base, ext = os.path.splitext(name)
    return '%s_%s%s' % (base, stem, ext)


def fingerprint_path(run_folder):
    return os.path.join(run_folder, FINGERPRINT_FILE)


def replaced_path(run_folder, stamp):
    """Where `afa train --retrain` moves a run folder: a hidden sibling folder that no run listing reads."""
    folder = os.path.normpath(run_folder)
    return os.path.join(os.path.dirname(folder), REPLACED_DIR, '%s-%s' % (os.path.basename(folder), stamp))


def estimate_path(run_folder):
    return os.path.join(run_folder, ESTIMATE_FILE)


def segments_path(run_folder):
    return os.path.join(run_folder, SEGMENTS_FILE)


def epoch_checkpoint(epoch):
    """The file name of the checkpoint written after (1-based) ``epoch``."""
    return EPOCH_CHECKPOINT.format(epoch)


def continuation_checkpoint(epoch, iteration):
    """The file name of a checkpoint written after ``iteration`` iterations of (1-based) ``epoch``."""
    return CONTINUATION_CHECKPOINT.format(epoch=epoch, iter=iteration)


def metrics_path(run_folder):
    return os.path.join(run_folder, METRICS_FILE)


def testdev_dir(run_folder):
    return os.path.join(run_folder, TESTDEV_DIR)


def testdev_manifest(run_folder):
    return os.path.join(testdev_dir(run_folder), TESTDEV_MANIFEST)


def released_metrics_path(run_folder):
    return os.path.join(run_folder, RELEASED_METRICS_FILE)


def released_testdev_dir(run_folder):
    return os.path.join(run_folder, RELEASED_TESTDEV_DIR)


def release_dir(release_root, row):
    """The folder of one row's released files under ``afa data release --dir``."""
    return os.path.join(release_root, row)


def release_marker(release_root, row):
    return os.path.join(release_dir(release_root, row), RELEASE_MARKER)


def conversion_record_path(converted):
    return converted + CONVERSION_RECORD_SUFFIX

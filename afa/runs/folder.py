"""A run folder, as one object: everything `afa train` and `afa test` keep in ``RUNS_ROOT/SCALE/RUN_ID/``.

The file names are afa/runs/layout.py's; what the files hold is read and written here, each record by one reader
and one writer: the lock (runlock), the fingerprint (fingerprint), the checkpoints (checkpoints), the job
segments (segments), ``config.py`` and ``run.json`` (written per start), ``train_done.json`` (written last by
training), the metrics with their ownership check, the plan's estimate and the early alarm's record. Training,
evaluation, status, tables and the workflow go through it; nothing else opens a file in a run folder.
Standard library only at import (torch is imported by the checkpoint checks that need it).
"""
import glob
import json
import os
import time

from afa.runs import checkpoints as checkpoint_files, fingerprint, layout, scores, segments as job_segments
from afa.runs.runlock import RunLock, lock_state
from afa.utils import atomic, hashing
from afa.utils.errors import AfaError

# The batch plan's fields in every record (run.json, train_done.json, the metrics, summary.csv), written by
# afa/planning/batch.py's BatchPlan.as_record; train_done.json adds the batch asked for and whether it is the recipe's.
BATCH_RECORD_FIELDS = ('nodes', 'gpus_per_node', 'processes', 'imgs_per_gpu', 'accumulation', 'effective_batch')
DONE_BATCH_FIELDS = ('batch', 'recipe_batch', 'schedule')  # schedule: afa/runs/schedule.py


class RunFolder(object):
    """The folder of one run. ``path`` may not exist yet (a run not started)."""

    def __init__(self, path):
        self.path = str(path)

    @classmethod
    def of(cls, runs_root, scale, run_id):
        return cls(layout.run_dir(runs_root, scale, run_id))

    @classmethod
    def all_in(cls, runs_dir):
        """The folders in ``runs_dir`` (RUNS_ROOT/SCALE), by name; the hidden ones (runs moved aside) left out."""
        return [cls(path) for path in sorted(glob.glob(os.path.join(runs_dir, '*'))) if os.path.isdir(path)]

    def __repr__(self):
        return 'RunFolder(%r)' % self.path

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def run_id(self):
        return os.path.basename(os.path.normpath(self.path))

    @property
    def done_path(self):
        return layout.done_path(self.path)

    @property
    def metrics_path(self):
        return layout.metrics_path(self.path)

    def exists(self):
        return os.path.isdir(self.path)

    def is_run_folder(self):
        return layout.is_run_folder(self.path)

    # ------------------------------------------------------------------------------------- claim (lock, fingerprint)

    def lock(self, purpose='train', lock_file=layout.LOCK_FILE):
        return RunLock(self.path, purpose, lock_file)

    def output_lock(self, purpose, output):
        """The lock guarding one output of `afa test` (layout.output_lock_name), in the output's folder."""
        return RunLock(os.path.dirname(os.path.abspath(output)), purpose, layout.output_lock_name(output))

    def lock_state(self, lock_file=layout.LOCK_FILE):
        """(state, holder record) of one of the folder's lock files (runlock.lock_state), for `afa status`."""
        return lock_state(self.file(lock_file))

    def has_training(self):
        return fingerprint.has_training(self.path)

    def move_aside(self):
        """Move the folder to RUNS/SCALE/.replaced/RUN-TIMESTAMP (never deleted); returns the new path."""
        return fingerprint.move_aside(self.path)

    def claim(self, run_id, print_fingerprint, retrain=False, say=print):
        """Lock the folder for training (the lock is returned, held) after moving an earlier run aside for
        --retrain and checking that ``print_fingerprint`` (fingerprint.compute) is the one it was trained with."""
        if retrain and self.has_training():
            with self.lock('train'):
                moved = self.move_aside()
            say('afa train: --retrain: moved the earlier run of %s to %s' % (run_id, moved))
        lock = self.lock('train').acquire()
        try:
            fingerprint.check(self.path, print_fingerprint, run_id)
        except BaseException:
            lock.release()
            raise
        return lock

    # ------------------------------------------------------------------------------------------------ checkpoints

    def checkpoints(self):
        """[(progress, path)] of the run's checkpoints, furthest first (checkpoint_files.numbered_checkpoints)."""
        return checkpoint_files.numbered_checkpoints(self.path)

    def resume_point(self, say=print):
        """The checkpoint to resume from (or None), after saying which newer, damaged ones are skipped and why."""
        path, skipped = checkpoint_files.find_resumable_checkpoint(self.path)
        for bad, why in skipped:
            say('afa train: skipping %s: %s (kept; delete it yourself once you no longer need it)' % (bad, why))
        if skipped:
            say('afa train: resuming from %s instead' % (path or 'scratch (no checkpoint reads back)'))
        return path

    def remove_partial_saves(self, say=print):
        """Delete the staging files of checkpoint saves that were killed, saying which."""
        for name in checkpoint_files.remove_stale_staging(self.path):
            say('afa train: removed %s, the partial file of a checkpoint save that was killed' % name)

    # ------------------------------------------------------------------------------------- per-start records

    def write_config(self, text):
        atomic.write_text(self.file(layout.CONFIG_FILE), text)

    def read_config_text(self):
        """The resolved config as written at the last start, or None."""
        try:
            with open(self.file(layout.CONFIG_FILE)) as f:
                return f.read()
        except OSError:
            return None

    @staticmethod
    def start_record(asked, config_sha256, resumed_from, library_fixes, provenance, batch_record=None,
                     schedule=None):
        """What `run.json` says of a start: ``asked`` (what was asked and where: afa/training/setup.py asked), the
        config hash, what it resumed, the batch plan and the schedule mmcv runs (afa/runs/schedule.py: `afa
        status`'s ETA reads it)."""
        record = dict(asked, config_sha256=config_sha256, resumed_from=resumed_from, library_fixes=library_fixes,
                      provenance=provenance)
        if batch_record is not None:
            record.update(batch_record)
        if schedule is not None:
            record['schedule'] = dict(schedule)
        return record

    def write_run_record(self, record):
        atomic.write_json(self.file(layout.RUN_FILE), record)

    def run_record(self):
        return atomic.read_json(self.file(layout.RUN_FILE)) or {}

    # -------------------------------------------------------------------------------------------------- segments

    def segments(self, strict=False):
        """The job segment records, [] when absent; an unreadable file is [] (what `afa status` shows), or with
        ``strict`` an AfaError naming it (what a new segment must not overwrite)."""
        return job_segments.read(self.path, strict)

    def begin_segment(self, run_id, resumed_from, max_segments=job_segments.DEFAULT_MAX_SEGMENTS):
        return job_segments.begin(self.path, run_id, resumed_from, max_segments)

    def end_segment(self, outcome, **details):
        job_segments.end(self.path, outcome, **details)

    def stopped_to_continue(self):
        """True when the last segment ended on request with a continuation checkpoint."""
        records = self.segments()
        return bool(records) and records[-1].get('outcome') == 'continue'

    # ------------------------------------------------------------------------------------------- train_done.json

    def is_trained(self):
        return os.path.exists(self.done_path)

    def write_done(self, run_id, scale, seed, final, config_sha256, provenance, batch, recipe_batch, extra=None):
        """Write train_done.json, the marker that the run is trained: its final checkpoint and sha256, written
        last by training. ``extra``: the batch plan's record, the segments and the time against the estimate."""
        atomic.write_json(self.done_path, dict(
            run_id=run_id, scale=scale, seed=seed, checkpoint=final, checkpoint_sha256=hashing.sha256_file(final),
            config_sha256=config_sha256, provenance=provenance, batch=batch, recipe_batch=recipe_batch,
            **dict(extra or {})))

    def done(self):
        """train_done.json as a dict, or None when the run is not trained (or the file is unreadable)."""
        record = atomic.read_json(self.done_path)
        return record if isinstance(record, dict) else None

    def final_checkpoint(self, done_path=None):
        """The final checkpoint train_done.json (``done_path``, default this folder's) records, checked against
        its sha256; AfaError naming the record when it cannot be used."""
        done = done_path or self.done_path
        try:
            with open(done) as f:
                record = json.load(f)
            path = record['checkpoint']
        except (KeyError, TypeError):
            raise AfaError('%s has no "checkpoint" field: pass a run\'s train_done.json or a .pth file'
                           % done) from None
        except (OSError, ValueError) as e:
            raise AfaError('cannot read the final checkpoint from %s: %s' % (done, e)) from None
        if not os.path.isfile(path):  # recorded relative to where training ran: look beside the record
            beside = os.path.join(os.path.dirname(done), os.path.basename(path))
            path = beside if os.path.isfile(beside) else path
        if os.path.isfile(path) and record.get('checkpoint_sha256') and \
                hashing.sha256_file(path) != record['checkpoint_sha256']:
            raise AfaError('%s is not the checkpoint %s recorded (sha256 differs): it was replaced or damaged '
                           'after training; restore it or retrain with `afa train --retrain`' % (path, done))
        return path

    def is_final_checkpoint(self, checkpoint):
        """True when ``checkpoint`` is the final checkpoint train_done.json records (same sha256)."""
        recorded = (self.done() or {}).get('checkpoint_sha256')
        return bool(recorded) and hashing.sha256_file(checkpoint) == recorded

    def training_batch(self):
        """How the run was trained (nodes, GPUs, images per GPU, accumulation, effective batch, batch), from
        train_done.json; None for a run finished before the batch plan was recorded."""
        done = self.done()
        if not done or 'effective_batch' not in done:
            return None
        return {k: done.get(k) for k in BATCH_RECORD_FIELDS + DONE_BATCH_FIELDS}

    def time_vs_estimate(self):
        """What train_done.json says of the training time against `afa plan --probe`'s estimate, or None."""
        return (self.done() or {}).get('time_vs_estimate')

    # ------------------------------------------------------------------------------------------------- metrics

    def is_evaluated(self):
        """True once the run's own metrics.json is written (the workflow's output of its evaluation)."""
        return os.path.exists(self.metrics_path)

    def metrics(self, name=layout.METRICS_FILE):
        """A metrics file of the run (metrics.json by default) as a dict, or None when absent or unreadable."""
        record = atomic.read_json(self.file(name))
        return record if isinstance(record, dict) else None

    @staticmethod
    def metrics_owner(path):
        """(run_id, scale) of the metrics file at ``path``, or None when it is absent or not a metrics file."""
        try:
            with open(path) as f:
                previous = json.load(f)
            return (previous.get('run_id'), previous.get('scale')) if 'bbox' in previous else None
        except (OSError, ValueError, AttributeError, TypeError):
            return None

    @staticmethod
    def write_metrics(path, record):
        """Write a metrics file (`afa test`): at ``path``, the run's own metrics.json or an --out elsewhere."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        atomic.write_json(path, record)
        return path

    @staticmethod
    def read_metrics_strictly(path, scale):
        """A metrics file for the tables: AfaError naming the file when it is not valid, lacks a field, holds a
        number that is no AP (afa/runs/scores.py) or is of another scale."""
        try:
            with open(path) as f:
                metrics = json.load(f)
        except ValueError as e:
            raise AfaError('%s is not valid JSON (%s); delete it and rerun its evaluation' % (path, e)) from None
        for key in ('run_id', 'scale', 'bbox'):
            if not isinstance(metrics, dict) or key not in metrics:
                raise AfaError('%s lacks the field %r; was it written by `afa test`?' % (path, key))
        why = scores.problem(metrics)
        if why:
            raise AfaError('%s: %s; it is no result to show: delete it and rerun its evaluation (`afa test`)'
                           % (path, why))
        if metrics['scale'] != scale:
            raise AfaError('%s is a %s result but this table is %s: smoke and paper results never share a '
                           'table (use --runs of that scale)' % (path, metrics['scale'], scale))
        return metrics

    # ------------------------------------------------------------------------------------ estimate and alarm

    def write_estimate(self, record):
        os.makedirs(self.path, exist_ok=True)
        atomic.write_json(layout.estimate_path(self.path), record)
        return layout.estimate_path(self.path)

    def estimate(self):
        """The plan's estimate kept for the run (`afa plan --probe`), or None."""
        record = atomic.read_json(layout.estimate_path(self.path))
        return record if isinstance(record, dict) else None

    def alarm(self):
        """The early alarm's record (afa/training/alarm/hook.py), or None when the run has none."""
        record = atomic.read_json(layout.alarm_path(self.path))
        return record if isinstance(record, dict) else None

    def alarm_not_compared(self, record=None):
        """{epochs, reference}: the validated epochs the alarm could not compare yet (its reference run had not
        validated them), or None when there are none. ``record``: the alarm record when the caller has read it
        already (alarm()), so that alarm.json is read once."""
        record = (self.alarm() if record is None else record) or {}
        if not record.get('not_compared'):
            return None
        return dict(epochs=[w['epoch'] for w in record['not_compared']], reference=record.get('reference'))

    def write_alarm(self, record):
        atomic.write_json(layout.alarm_path(self.path), record)

    def begin_alarm(self, reference, offset, lower_only, stop, band):
        """The early alarm's record at a start (afa/training/alarm/hook.py), written and returned: the verdicts of
        earlier starts are kept when they were made against the same ``reference`` (its source)."""
        previous = self.alarm() or {}
        if previous.get('reference') != reference:
            previous = {}  # another reference: its earlier verdicts no longer apply
        record = dict(reference=reference, offset=offset, lower_only=lower_only, stop=stop, stopped=False,
                      band=band, checks=previous.get('checks', []), outside=previous.get('outside', False),
                      epoch=previous.get('epoch'), message=previous.get('message'),
                      not_compared=previous.get('not_compared', []))
        self.write_alarm(record)
        return record

    def add_alarm_waiting(self, record, epoch, ap):
        """``record`` with an epoch whose box AP ``ap`` the reference had no value for yet (a reference run that
        had not validated that epoch): kept under ``not_compared`` and compared at a later check; written."""
        waiting = [w for w in record.get('not_compared', []) if w['epoch'] != epoch] + [dict(epoch=epoch, ap=ap)]
        record['not_compared'] = sorted(waiting, key=lambda w: w['epoch'])
        self.write_alarm(record)
        return record

    def add_alarm_verdict(self, record, verdict, message=None, stopping=False):
        """``record`` (begin_alarm's) with the verdict of an epoch, replacing an earlier one of the same epoch (and
        its place among the epochs not compared yet), and when the epoch fell outside the band the ``message`` said
        and whether the run is ``stopping``; written."""
        record['checks'] = sorted([c for c in record['checks'] if c['epoch'] != verdict['epoch']] + [verdict],
                                  key=lambda c: c['epoch'])
        record['not_compared'] = [w for w in record.get('not_compared', []) if w['epoch'] != verdict['epoch']]
        if verdict['outside']:
            record.update(outside=True, epoch=record['epoch'] or verdict['epoch'], message=message,
                          last_outside=verdict['epoch'], stopped=stopping, time=time.strftime('%Y-%m-%d %H:%M:%S'))
        self.write_alarm(record)
        return record

    def write_backbone_record(self, record):
        """Which backbone file served and how its load went (afa/training/backbone_weights.py)."""
        atomic.write_json(layout.backbone_path(self.path), record)

    def backbone_record(self):
        return atomic.read_json(layout.backbone_path(self.path))

    def stopped_by_alarm(self):
        """The alarm's message when it stopped this run's last start, else None."""
        record = self.alarm() or {}
        return record.get('message') if record.get('stopped') else None


def claim(spec, cfg, retrain=False):
    """Lock the folder of ``spec`` (a RunSpec; the lock is returned, held) for training, after moving it aside
    for --retrain and checking its fingerprint against ``cfg`` (the resolved config, before training mutates it)."""
    return RunFolder(cfg.work_dir).claim(spec.run_id, fingerprint.compute(cfg, spec), retrain,
                                         say=lambda line: print(line, flush=True))


def describe_not_compared(waiting):
    """'epochs 1,2 not compared: REF had not validated them when the run did' (or 'epoch 1 ... it'): the one wording
    of what RunFolder.alarm_not_compared returned, for `afa status` and the tables' provenance."""
    epochs, one = waiting['epochs'], len(waiting['epochs']) == 1
    return '%s %s not compared: %s had not validated %s when the run did' % (
        'epoch' if one else 'epochs', ','.join(str(e) for e in epochs), waiting['reference'], 'it' if one else 'them')

"""The reference curve of the early alarm (afa/training/alarm/hook.py): which box-AP-per-epoch curve a run is compared
with, and how far from it a run may be before the alarm fires.

Which reference (``afa train --reference``; the default, ``auto``, is explained in docs/usage.md):
- a Sum-Up row at the paper scale: mmdetection's published training log of the same model (the row's
  ``reference_log`` in configs/zoo.yaml, fetched once by ``afa reference fetch ROW`` into data/references/);
- any other row, seed N > 0: the same run's seed 0 (an earlier repeat of the same recipe);
- any other row, seed 0: this project's Sum-Up run of the same model, backbone and schedule, checked from below
  only (an AFA row is expected above its FPN baseline; falling below it means the run is broken);
- at the smoke scale the same, except seed 0 of a Sum-Up row: no published curve compares with APs on the
  synthetic set, so it has none unless named (the references that are this project's own runs do apply);
- at the rehearsal scale as at the paper scale (the published log where fetched), so that the alarm's whole
  route runs; its verdicts there say nothing of the recipe.
Named: ``run:RUN_ID`` (a run of the same runs root and scale), a ``*.log.json`` file, or ``none``.
``--reference-offset`` shifts the reference curve by that many AP points (e.g. the paper's gain over Sum-Up).

The band (AP points, either side of the reference): mmdetection reports reruns of one config differing by 0.1 to
0.2 box AP at the end of training; early epochs, before the learning-rate steps, move by a point or more between
reruns. The band is FINAL_BAND at the last epoch, 2.5 times the largest reported end-of-training spread (room for
another stack and GPU count), widening linearly to FIRST_BAND at the first epoch.
"""
import collections
import os

from afa.runs import layout, training_log
from afa.utils.errors import AfaError

FIRST_BAND = 2.0  # AP points at epoch 1
FINAL_BAND = 0.5  # AP points at the last epoch
AUTO, NONE, RUN_PREFIX = 'auto', 'none', 'run:'
SUM_UP = 'Sum-Up'


def band(epoch, max_epochs):
    """Half-width of the band at ``epoch`` of ``max_epochs``, in AP points."""
    if max_epochs <= 1:
        return FINAL_BAND
    done = min(1.0, max(0.0, (epoch - 1) / float(max_epochs - 1)))
    return FIRST_BAND + (FINAL_BAND - FIRST_BAND) * done


class Reference(collections.namedtuple('Reference', 'source curve offset lower_only folder')):
    """A reference curve ({epoch: box AP in percent}) and how to compare with it. ``folder``: a run folder to
    reread at every check (a reference run that is itself still training)."""

    def hook_args(self):
        """The alarm hook's ``reference`` argument (plain lists: mmcv configs want string keys)."""
        return dict(source=self.source, curve=sorted([int(e), float(ap)] for e, ap in self.curve.items()),
                    offset=self.offset, lower_only=self.lower_only, folder=self.folder)


def check(curve, epoch, ap, max_epochs, offset=0.0, lower_only=False):
    """The verdict on one validated epoch: a dict with ``outside`` True/False, or None without a reference value."""
    if epoch not in curve:
        return None
    expected = curve[epoch] + offset
    width = band(epoch, max_epochs)
    low, high = expected - width, expected + width
    outside = not low <= ap or (not lower_only and ap > high)  # a NaN AP (a broken evaluation) is outside
    return dict(epoch=epoch, ap=round(ap, 2) if ap == ap else None, expected=round(expected, 2), band=round(width, 2),
                outside=outside, lower_only=lower_only)


def read_curve(path):
    """{epoch: box AP in percent} of a ``*.log.json`` file; an error naming the file when it has none."""
    try:
        curve = training_log.validation_ap(training_log.read_entries(path), finite=False)
    except OSError as e:
        raise AfaError('reference %s cannot be read (%s); pass a *.log.json file, run:RUN_ID or none'
                       % (path, e)) from None
    if not curve:
        raise AfaError('reference %s has no validation entries ({"mode": "val", "bbox_mAP": ...}); is it a '
                       'training log of mmdetection or of `afa train --validate`?' % path)
    bad = sorted(epoch for epoch, ap in curve.items() if not 0.0 <= ap <= 100.0)  # NaN fails both sides
    if bad:
        raise AfaError('reference %s: the box AP of epoch %d is %r, not a number from 0 to 1 (bbox_mAP); a curve '
                       'with it would compare nothing; fix or fetch the log again, or pass another --reference'
                       % (path, bad[0], curve[bad[0]] / 100.0))
    return curve


def run_curve(folder):
    """{epoch: box AP} of a reference run's logs as they stand, its non-finite values left out (a reference run
    whose evaluation broke has no value for that epoch: nothing is compared with NaN)."""
    logs = training_log.log_files(folder)
    return training_log.validation_ap(training_log.read_entries(logs)) if logs else {}


def check_offset(offset):
    """The --reference-offset as a finite number of AP points (NaN would make every epoch 'within nan')."""
    import math
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise AfaError('--reference-offset must be a finite number of AP points, got %r' % (offset,))
    return float(offset)


def sum_up_row(zoo, row):
    """The Sum-Up row of the same model, backbone and schedule as ``row`` (None when there is none)."""
    for other in zoo:
        if other['module'] == SUM_UP and all(other[k] == row[k] for k in ('model', 'backbone', 'schedule')):
            return other
    return None


def resolve(named, spec, zoo, reference_dir=layout.REFERENCE_DIR, offset=0.0):
    """(Reference or None, one line saying which and why) for a RunSpec ``spec`` and ``--reference named``."""
    named = named or AUTO
    offset = check_offset(offset)
    if named == NONE:
        return None, 'no reference (--reference none)'
    if named.startswith(RUN_PREFIX):
        return _from_run(named[len(RUN_PREFIX):], spec, offset, lower_only=False)
    if named != AUTO:
        return Reference(named, read_curve(named), offset, False, None), 'reference %s' % named
    row = spec.row
    if row is None:
        return None, 'no reference by default for a run of no row (name one with --reference)'
    run = layout.parse_run_id(spec.run_id)
    if row['module'] == SUM_UP and spec.scale != 'smoke':
        path = layout.reference_path(reference_dir, row.id)
        if not os.path.exists(path):
            return None, ('no reference: %s is missing; `afa reference fetch %s` downloads mmdetection\'s '
                          'published training log of this model' % (path, row.id))
        return (Reference(path, read_curve(path), offset, False, None),
                "mmdetection's published training log %s" % path)
    if run.seed != layout.DEFAULT_SEED:
        return _from_run(str(run._replace(seed=layout.DEFAULT_SEED)), spec, offset, lower_only=False)
    if row['module'] == SUM_UP:
        return None, ('no reference by default for seed 0 of a Sum-Up row at the %s scale: no published curve '
                      'compares with it (name one with --reference)' % spec.scale)
    base = sum_up_row(zoo, row)
    if base is None:
        return None, 'no reference by default for %s (no Sum-Up row of its schedule)' % row.id
    reference, why = _from_run(str(run._replace(row=base.id, variant=None)), spec, offset, lower_only=True)
    return reference, why + ', from below only (an AFA row is expected above its Sum-Up baseline)'


def training_priority(row, seed):
    """The order in which a workflow starts training jobs (Snakemake's priority, higher first), so that a run's
    default reference (resolve) validates each epoch before the run does: 2 for seed 0 of a Sum-Up row (the
    reference of its AFA rows and of its own later seeds), 1 for seed 0 of any other row (its later seeds'), 0 for
    the rest. A run whose reference had not validated an epoch yet compares it later (the hook), or never when it
    ends first; on one node this order avoids both."""
    if seed != layout.DEFAULT_SEED:
        return 0
    return 2 if row['module'] == SUM_UP else 1


def _from_run(run_id, spec, offset, lower_only):
    folder = os.path.join(os.path.dirname(os.path.normpath(spec.folder.path)), run_id)  # same runs root and scale
    curve = run_curve(folder)
    why = 'the run %s (%s%s)' % (run_id, folder, '' if curve else '; not validated yet: each epoch is compared '
                                 'if the reference has validated it by then')
    return Reference('run:%s' % run_id, curve, offset, lower_only, folder), why


# After mmdet's evaluation hook (LOW, 70), which puts the epoch's AP in the log buffer, and before the logger hooks
# (VERY_LOW, 90), the last of which clears it.
ALARM_PRIORITY = 80


def hook_config(spec, alarm):
    """(the early alarm's hook config for this run, or None without a reference; one line saying which reference
    and why). ``alarm``: `afa train`'s options (reference, offset, stop)."""
    from afa.runs import zoo
    ref, why = resolve(alarm.get('reference'), spec, zoo.load(), offset=alarm.get('offset') or 0.0)
    if ref is None:
        return None, why
    return dict(type='ApAlarmHook', reference=ref.hook_args(), stop=bool(alarm.get('stop')),
                priority=ALARM_PRIORITY), why

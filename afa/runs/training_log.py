"""mmcv's JSON training log (RUN/TIMESTAMP.log.json, one per start of a run), read without mmcv.

Both stacks write it (TextLoggerHook): a header line, then one line per logged training interval (``mode: train``:
epoch, iter, lr, losses, time) and one per validation (``mode: val``: epoch, bbox_mAP in [0, 1], ...).
mmdetection publishes the same file for its model zoo, so a published log reads with the same code.
Standard library only: `afa status` runs on a login node.
"""
import glob
import json
import os

from afa.runs import layout


def log_files(run_folder):
    """The run's JSON logs, oldest start first (the names are start timestamps)."""
    return sorted(glob.glob(os.path.join(run_folder, '*' + layout.LOG_JSON_SUFFIX)))


def text_log_files(run_folder):
    """The run's text logs (mmcv's TIMESTAMP.log, one per start), oldest start first."""
    return sorted(glob.glob(os.path.join(run_folder, '*' + layout.LOG_TEXT_SUFFIX)))


def read_entries(paths):
    """Every train/val entry of the given log files, in order; a partial last line (a killed run) is skipped."""
    entries = []
    for path in ([paths] if isinstance(paths, str) else paths):
        with open(path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get('mode') in ('train', 'val'):
                    entries.append(entry)
    return entries


def validation_ap(entries, finite=True):
    """{epoch: box AP in percent} of the validation entries (a rerun of an epoch replaces the earlier value).
    ``finite``: leave out values that are no AP (NaN, infinite, outside [0, 1]: a broken evaluation), which are
    then never shown or compared as numbers; False keeps them for a reader that refuses them by name."""
    curve = {}
    for entry in entries:
        value = entry.get('bbox_mAP') if entry.get('mode') == 'val' else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (not finite or 0.0 <= value <= 1.0):
            curve[int(entry['epoch'])] = 100.0 * value
    return curve

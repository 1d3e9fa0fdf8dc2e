"""The plan's estimate kept beside each run (``estimate.json``), so that a finished run compares its actual
training time with it (train_done.json: time_vs_estimate). Never written into a finished run's folder."""
import os

from afa.runs import layout
from afa.utils import atomic


def write(plan, runs_root, scale):
    """Write each planned row's estimate into its run folder; returns the paths written (finished runs skipped)."""
    written = []
    for row in plan['rows']:
        folder = layout.run_dir(runs_root, scale, row['row'])
        if os.path.exists(layout.done_path(folder)):
            continue
        os.makedirs(folder, exist_ok=True)
        path = layout.estimate_path(folder)
        atomic.write_json(path, dict(row, caveat=plan['caveat'], limit_h=plan.get('limit_h')))
        written.append(path)
    return written

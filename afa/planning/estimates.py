"""The plan's estimate kept beside each run (``estimate.json``), so that a finished run compares its actual
training time with it (train_done.json: time_vs_estimate). Never written into a finished run's folder."""
import os

from afa.runs import layout
from afa.utils import atomic


def write(rows, runs_root, scale):
    """Write each planned run's estimate (cost.with_cost) into its run folder; returns the paths written (finished
    runs skipped)."""
    from afa.planning.cost import CAVEAT
    written = []
    for row in rows:
        folder = layout.run_dir(runs_root, scale, row['run_id'])
        if os.path.exists(layout.done_path(folder)):
            continue
        os.makedirs(folder, exist_ok=True)
        path = layout.estimate_path(folder)
        atomic.write_json(path, dict(row, caveat=CAVEAT))
        written.append(path)
    return written

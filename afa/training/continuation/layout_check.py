"""A mid-epoch continuation goes on under the batch layout that stopped: the checkpoint's position in the epoch
counts micro-batches of that many images per process, split over that many processes (the samplers' order), so
under another layout an image would be trained twice or skipped. Checked before anything of the new start is
written (run.json, a job segment) and, for several processes, before torchrun starts them, so that the refusal
is one line, not buried in every worker's output."""
import os

from afa.runs.checkpoints import find_resumable_checkpoint
from afa.utils.errors import AfaError


def stopped_layout(folder, checkpoint):
    """(processes, images per process) of the segment that wrote ``checkpoint`` as a continuation checkpoint,
    or None when it is none (an epoch checkpoint) or its segment did not record the layout."""
    name = os.path.basename(checkpoint)
    for record in reversed(folder.segments()):
        if isinstance(record, dict) and record.get('outcome') == 'continue' and record.get('checkpoint') == name:
            if record.get('processes') and record.get('imgs_per_gpu'):
                return int(record['processes']), int(record['imgs_per_gpu'])
            return None
    return None


def check(folder, batch, device_word='GPU', resume_from=None):
    """AfaError when the run would resume mid-epoch (``resume_from``, default the folder's resume point) under
    another number of processes or images per process than the segment that stopped (``batch``: the new
    BatchPlan)."""
    if resume_from is None:
        resume_from, _ = find_resumable_checkpoint(folder.path)
    if not resume_from:
        return
    stopped = stopped_layout(folder, resume_from)
    now = (batch.processes, batch.imgs_per_device)
    if stopped is None or stopped == now:
        return
    option = '--gpus' if device_word == 'GPU' else '--procs'
    raise AfaError(
        '%s stopped mid-epoch on %d process%s x %d image%s; this start has %d x %d: its position counts that '
        'layout\'s micro-batches, so continue with %s %d and --max-imgs-per-gpu %d (the same update, continued '
        'exactly); or move the epoch_*_iter_*.pth files out of %s to restart the epoch with the new layout'
        % (os.path.basename(resume_from), stopped[0], 'es' if stopped[0] > 1 else '', stopped[1],
           's' if stopped[1] > 1 else '', now[0], now[1], option, stopped[0] // max(1, batch.nodes), stopped[1],
           folder.path))

"""Checkpoints of a run: which one a resume can trust, and whether one belongs to the run being evaluated.

Checkpoints are written whole or not at all (afa/hooks/atomic_checkpoint.py), but a folder may still hold a
damaged one (copied halfway, written by an older version, a disk error): a resume takes the newest checkpoint
that reads back completely and says which newer ones it skipped and why. No checkpoint is ever deleted.
"""
import glob
import os
import re
import zipfile

from afa.utils.errors import AfaError

CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
CONTINUATION_NAME = re.compile(r'^epoch_(\d+)_iter_(\d+)\.pth$')  # layout.CONTINUATION_CHECKPOINT


def checkpoint_problem(path):
    """Why ``path`` cannot be resumed from (a short phrase), or None when it reads back completely.

    torch >= 1.6 writes a zip archive: every member's CRC is checked, which reads the whole file. The legacy
    format is loaded with torch.load.
    """
    try:
        size = os.path.getsize(path)
    except OSError as e:
        return 'unreadable (%s)' % (e.strerror or e)
    if size == 0:
        return 'empty (0 bytes)'
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return 'damaged member %s' % bad if bad else None
        import torch
        torch.load(path, map_location='cpu')
        return None
    except Exception as e:  # zipfile, pickle and torch raise many kinds for a truncated file
        return 'truncated or corrupt (%s, %d bytes: %s)' % (type(e).__name__, size, str(e).splitlines()[0][:120]
                                                            if str(e) else '')


def progress(name):
    """How far training had got when checkpoint ``name`` was written, as a sortable (epochs done, iterations
    into the next epoch), or None for a name that is not a checkpoint of a run: ``epoch_N.pth`` is (N, 0),
    ``iter_N.pth`` (mmcv's iteration runner) (0, N), the continuation checkpoint ``epoch_E_iter_K.pth`` (E-1, K)."""
    match = CHECKPOINT_NAME.match(name)
    if match:
        n = int(match.group(2))
        return (n, 0) if match.group(1) == 'epoch' else (0, n)
    match = CONTINUATION_NAME.match(name)
    if match:
        return int(match.group(1)) - 1, int(match.group(2))
    return None


def numbered_checkpoints(work_dir):
    """[(progress, path)] of the checkpoints in work_dir (epoch_N.pth, iter_N.pth and the mid-epoch
    epoch_E_iter_K.pth), furthest first (links such as latest.pth are not checkpoints of their own)."""
    found = []
    for path in glob.glob(os.path.join(work_dir, '*.pth')):
        key = progress(os.path.basename(path))
        if key is not None and not os.path.islink(path):
            found.append((key, path))
    return sorted(found, reverse=True)


def find_resumable_checkpoint(work_dir):
    """(newest checkpoint that reads back completely or None, [(skipped path, why)] of newer damaged ones)."""
    skipped = []
    for _, path in numbered_checkpoints(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


def read_meta(path):
    """The ``meta`` dict of a checkpoint file; AfaError naming the file when it does not load."""
    import torch
    try:
        state = torch.load(path, map_location='cpu')
    except Exception as e:
        why = str(e).splitlines()[0][:160] if str(e) else ''
        raise AfaError('checkpoint %s does not load (%s: %s); it is truncated or not a checkpoint: use another '
                       'one or retrain' % (path, type(e).__name__, why)) from None
    if not isinstance(state, dict):
        raise AfaError('%s is not an mmdet checkpoint (a %s, not a dict with state_dict and meta)'
                       % (path, type(state).__name__))
    return state.get('meta') or {}


def check_checkpoint_identity(meta, spec, path):
    """Refuse a checkpoint of another run or scale before it is evaluated as ``spec``'s.

    ``meta`` is the checkpoint's meta (written by `afa train`: afa_run_id, afa_scale). Checkpoints from
    elsewhere (the authors' release, mmdet's zoo) carry neither: callers that evaluate such files on purpose
    skip this check (evaluate.test routes them by release.origin); the weights are still loaded strictly
    (release.load_weights), so a wrong model is refused anyway.
    """
    run_id, scale = meta.get('afa_run_id'), meta.get('afa_scale')
    if run_id is None or scale is None:
        raise AfaError('%s was not written by `afa train` (its meta has no afa_run_id/afa_scale), so it cannot be '
                       'checked to be %s; evaluate the checkpoint of that run (RUN/train_done.json)'
                       % (path, spec.run_id))
    if scale != spec.scale:
        raise AfaError('%s is a %s-scale checkpoint but this is a %s-scale evaluation of %s; %s' % (
            path, scale, spec.scale, spec.run_id,
            'add --smoke' if scale == 'smoke' else 'drop --smoke'))
    if run_id != spec.run_id:
        raise AfaError('%s is the checkpoint of %s, not of %s: its metrics would be filed under the wrong row; '
                       'evaluate it as `afa test %s ...`' % (path, run_id, spec.run_id, run_id))

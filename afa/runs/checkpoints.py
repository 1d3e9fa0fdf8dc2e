"""Checkpoints of a run: saved whole or not at all, which one a resume can trust, and whether one belongs to the
run being evaluated. Their file names are afa/runs/layout.py's (EPOCH_CHECKPOINT, ITER_CHECKPOINT, ...).

A save writes into a private staging folder beside the checkpoints, flushes the file to disk and renames it into
place (save_atomically): a failed save leaves the previous checkpoints as they were and no partial file behind; a
killed one leaves only its staging folder, which the next start removes. A folder may still hold a
damaged one (copied halfway, written by an older version, a disk error): a resume takes the newest checkpoint
that reads back completely and says which newer ones it skipped and why. No checkpoint is ever deleted.
"""
import glob
import os
import re
import shutil
import tempfile
import zipfile

from afa.runs import layout
from afa.utils import atomic
from afa.utils.errors import AfaError


def _name_pattern(template):
    """A regular expression matching the file names of a layout template, one number group per field."""
    return re.compile('^%s$' % re.sub(r'\\\{[a-z]*\\\}', r'(\\d+)', re.escape(template)))


EPOCH_NAME = _name_pattern(layout.EPOCH_CHECKPOINT)
ITER_NAME = _name_pattern(layout.ITER_CHECKPOINT)
CONTINUATION_NAME = _name_pattern(layout.CONTINUATION_CHECKPOINT)


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
    match = EPOCH_NAME.match(name)
    if match:
        return int(match.group(1)), 0
    match = ITER_NAME.match(name)
    if match:
        return 0, int(match.group(1))
    match = CONTINUATION_NAME.match(name)
    if match:
        return int(match.group(1)) - 1, int(match.group(2))
    return None


def numbered_checkpoints(run_folder):
    """[(progress, path)] of the checkpoints in run_folder (epoch_N.pth, iter_N.pth and the mid-epoch
    epoch_E_iter_K.pth), furthest first (links such as latest.pth are not checkpoints of their own)."""
    found = []
    for path in glob.glob(os.path.join(run_folder, '*.pth')):
        key = progress(os.path.basename(path))
        if key is not None and not os.path.islink(path):
            found.append((key, path))
    return sorted(found, reverse=True)


def find_resumable_checkpoint(run_folder):
    """(newest checkpoint that reads back completely or None, [(skipped path, why)] of newer damaged ones)."""
    skipped = []
    for _, path in numbered_checkpoints(run_folder):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


def remove_stale_staging(run_folder):
    """Remove staging folders left by a save that was killed (they hold only a partial file of ours)."""
    removed = []
    if os.path.isdir(run_folder):
        for name in os.listdir(run_folder):
            if name.startswith(layout.CHECKPOINT_STAGING_PREFIX):
                shutil.rmtree(os.path.join(run_folder, name), ignore_errors=True)
                removed.append(name)
    return removed


def replace_symlink(target_name, link_path):
    """Point ``link_path`` at ``target_name`` (relative) in one step."""
    tmp = atomic.temp_path(link_path)
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target_name, tmp)
    os.replace(tmp, link_path)


def save_atomically(out_dir, name, write, need_bytes):
    """Have ``write(staging_folder)`` save checkpoint ``name`` into a private staging folder, then move it into
    ``out_dir`` whole. ``write`` may return a function to run once the file is in place (a link update).
    ``need_bytes``: about how large the checkpoint is, to refuse a save that cannot fit before writing."""
    final = os.path.join(out_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    check_space(out_dir, final, need_bytes)
    staging = tempfile.mkdtemp(prefix=layout.CHECKPOINT_STAGING_PREFIX, dir=out_dir)
    try:
        then = write(staging)
        staged = os.path.join(staging, name)
        atomic.fsync_file(staged)
        os.replace(staged, final)
        atomic.fsync_dir(out_dir)
        if then is not None:
            then()
    except Exception as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise _save_error(e, final, need_bytes) from e
    shutil.rmtree(staging, ignore_errors=True)
    return final


def _free_bytes(folder):
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def check_space(out_dir, final, need):
    """Refuse a save that cannot fit before writing anything: besides the clear message, torch 1.9's zip writer
    aborts the whole process (std::terminate) when the disk fills during a save."""
    free = _free_bytes(out_dir)
    if free is not None and free < need:
        raise AfaError('cannot save checkpoint %s (needs about %.1f MB, %.1f MB free on its disk); nothing was '
                       'written under that name and the earlier checkpoints are intact: free space and rerun to '
                       'resume' % (final, need / 1e6, free / 1e6))


def _save_error(exc, final, need):
    """An AfaError for a save that failed for a reason the user can fix (full disk, permissions), else exc."""
    free = _free_bytes(os.path.dirname(final))
    if isinstance(exc, OSError) and exc.errno in atomic.USER_ERRNOS:
        cause = exc.strerror or str(exc)
    elif free is not None and free < need:
        cause = 'the disk is full: %s' % str(exc).splitlines()[0][:160]  # torch reports it as a RuntimeError
    else:
        return exc
    return AfaError('cannot save checkpoint %s (%s%s); nothing was written under that name and the earlier '
                    'checkpoints are intact: free space (or fix the folder) and rerun to resume'
                    % (final, cause, '' if free is None else ', %.1f MB free' % (free / 1e6)))


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
        raise AfaError('%s is a %s-scale checkpoint but this is a %s-scale evaluation of %s; evaluate it with %s' % (
            path, scale, spec.scale, spec.run_id, layout.scale_flag_hint(scale)))
    if run_id != spec.run_id:
        raise AfaError('%s is the checkpoint of %s, not of %s: its metrics would be filed under the wrong row; '
                       'evaluate it as `afa test %s ...`' % (path, run_id, spec.run_id, run_id))

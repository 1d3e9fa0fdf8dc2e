"""Atomic file writes: written beside the target, flushed to disk, then renamed. A reader never sees half a file,
and a failure (a kill, a full disk) leaves the previous version in place and no partial file behind: finished
results are never overwritten by a failed run. The one writer of every final file of the pipeline."""
import errno
import json
import os

from afa.utils.errors import USER_ERRNOS, AfaError  # noqa: F401 (USER_ERRNOS re-exported)

_ADVICE = {errno.ENOSPC: 'free some space or choose another folder',
           errno.EROFS: 'the file system is read-only: choose a writable folder',
           errno.EACCES: 'you may not write there: fix the permissions or choose another folder',
           errno.ENOTDIR: 'a file stands where a folder is needed: move it or choose another folder',
           errno.EISDIR: 'a folder stands where a file is needed: name a file',
           errno.ENAMETOOLONG: 'a name in the path is longer than the file system allows (255 bytes): choose a '
                               'shorter one'}


def temp_path(path):
    """A hidden name in the target's folder (same file system, so the rename is atomic), keeping the suffix so
    that writers choosing a format by extension (matplotlib) still do."""
    folder, name = os.path.split(path)
    return os.path.join(folder, '.%s.tmp-%d%s' % (name, os.getpid(), os.path.splitext(name)[1]))


def fsync_dir(folder):
    """Make a rename in ``folder`` durable (a power loss after it keeps the new name)."""
    try:
        fd = os.open(folder or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path):
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def write_with(path, writer):
    """``writer(tmp_path)`` writes the file, which then replaces ``path`` in one step. On any failure the
    partial file is removed and the error raised (as an AfaError naming the file when the cause is the
    user's: full disk, read-only, permissions)."""
    tmp = temp_path(path)
    try:
        writer(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise user_os_error(e, path) or e from None
    fsync_dir(os.path.dirname(path))


def user_os_error(exc, path):
    """An AfaError saying what went wrong writing ``path`` and what to do, or None when not the user's to fix."""
    if not isinstance(exc, OSError) or exc.errno not in USER_ERRNOS:
        return None
    advice = _ADVICE.get(exc.errno, 'check the path and rerun')
    return AfaError('cannot write %s: %s; %s (nothing was written under that name)'
                    % (path, exc.strerror or exc, advice))


def write_text(path, text):
    def writer(tmp):
        with open(tmp, 'w') as f:
            f.write(text)
    write_with(path, writer)


def write_json(path, payload, indent=2):
    """Strict JSON (no bare NaN or Infinity, which other readers refuse): AfaError naming the file otherwise,
    the previous version left in place."""
    try:
        text = json.dumps(payload, indent=indent, sort_keys=True, default=str, allow_nan=False)
    except ValueError as e:
        raise AfaError('refusing to write %s: it would hold a number JSON cannot (%s); nothing was written'
                       % (path, e)) from None
    write_text(path, text + '\n')


def write_file(path, write):
    """Atomic version of ``write(tmp_path)``, for any writer of a file by name (e.g. ``torch.save``)."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path):
    """A JSON record the pipeline wrote, or None when it is absent or unreadable (a reader that must not fail)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

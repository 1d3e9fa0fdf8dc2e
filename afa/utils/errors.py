"""Errors the CLI reports as one clear line (which file, which field, what to do) instead of a traceback."""
import errno

# errno values that are the user's to fix (space, permissions, read-only mounts, a file where a folder should be).
USER_ERRNOS = frozenset(getattr(errno, name) for name in (
    'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'ENAMETOOLONG')
    if hasattr(errno, name))


class AfaError(Exception):
    """Base of the errors raised for bad input; the message is written for the user."""


def is_user_error(exc):
    """True for errors whose message is complete for the user (no traceback needed): ours, and the operating
    system's refusals that name their file (missing, permission denied, read-only, full disk, not a folder)."""
    if isinstance(exc, (AfaError, FileNotFoundError, FileExistsError)):
        return True
    if isinstance(exc, OSError) and getattr(exc, 'filename', None):
        return exc.errno in USER_ERRNOS
    return False

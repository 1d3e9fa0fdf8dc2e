"""Errors the CLI reports as one clear line (which file, which field, what to do) instead of a traceback."""


class AfaError(Exception):
    """Base of the errors raised for bad input; the message is written for the user."""


def is_user_error(exc):
    """True for errors whose message is complete for the user (no traceback needed): ours, and the operating
    system's refusals that name their file (missing, permission denied, read-only, full disk, not a folder)."""
    if isinstance(exc, (AfaError, FileNotFoundError, FileExistsError)):
        return True
    if isinstance(exc, OSError) and getattr(exc, 'filename', None):
        from .atomic import USER_ERRNOS
        return exc.errno in USER_ERRNOS
    return False

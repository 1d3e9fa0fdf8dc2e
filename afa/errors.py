"""Errors the CLI reports as one clear line (which file, which field, what to do) instead of a traceback."""


class AfaError(Exception):
    """Base of the errors raised for bad input; the message is written for the user."""


def is_user_error(exc):
    """True for errors whose message is complete for the user (no traceback needed)."""
    return isinstance(exc, (AfaError, FileNotFoundError, FileExistsError))

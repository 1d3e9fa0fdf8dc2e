"""Which checkpoint `afa test` evaluates: a .pth, or the final checkpoint a finished run records."""
import os

from afa.runs import layout
from afa.runs.folder import RunFolder
from afa.utils.errors import AfaError


def resolve_checkpoint(path):
    """A .pth path, or a train_done.json whose final checkpoint is taken (and checked against its sha256), or a
    run folder holding one."""
    if os.path.isdir(path):
        if not os.path.isfile(layout.done_path(path)):
            raise AfaError('%s is a folder without %s (training has not finished there); pass a checkpoint .pth '
                           'or a finished run\'s folder or %s' % (path, layout.DONE_FILE, layout.DONE_FILE))
        path = layout.done_path(path)
    if path.endswith('.json'):
        path = RunFolder(os.path.dirname(path)).final_checkpoint(path)
    if not os.path.isfile(path):
        raise AfaError('checkpoint %s not found; train it first with `afa train`' % path)
    return path

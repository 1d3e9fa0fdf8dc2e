"""`afa reference fetch ROW`: a row's published training log (mmdetection's ``*.log.json``) as the early alarm's
reference curve, into data/references/ROW.log.json (layout.reference_path), where `afa train` finds it.

The log is checked before it is kept (it must hold box AP per epoch); an existing reference is never overwritten.
"""
import os
import shutil

from afa.data.download import download
from afa.runs import layout
from afa.training.alarm import reference
from afa.runs import zoo as zoo_mod
from afa.utils.errors import AfaError


def fetch(row_id, directory=layout.REFERENCE_DIR, url=None, source=None, zoo=None, timeout=60.0):
    """Download (or copy ``source``) the reference log of ``row_id``; returns its path."""
    row = (zoo or zoo_mod.load()).row(row_id)
    dest = layout.reference_path(directory, row.id)
    if os.path.exists(dest):
        curve = reference.read_curve(dest)
        print('afa reference fetch: %s is already there (%d epochs); move it away to fetch it again'
              % (dest, len(curve)))
        return dest
    url = url or row.get('reference_log')
    if not (url or source):
        raise AfaError('%s has no reference_log in configs/zoo.yaml (only the Sum-Up rows have a published log); '
                       'pass --url or --file' % row.id)
    os.makedirs(directory, exist_ok=True)
    staging = dest + '.fetching'
    if source:
        shutil.copyfile(source, staging)
    else:
        download(url, staging, progress=False, timeout=timeout)
    try:
        curve = reference.read_curve(staging)
    except AfaError as e:
        os.remove(staging)
        raise AfaError('%s from %s: %s' % (row.id, source or url, e)) from None
    os.replace(staging, dest)
    print('afa reference fetch: %s: box AP of %d epochs, %.1f at epoch %d' % (
        row.id, len(curve), curve[max(curve)], max(curve)))
    return dest

"""Atomic file writes: written beside the target, then renamed. A reader never sees half a file, and a failure
leaves the previous version in place (finished results are never overwritten by a failed run)."""
import json
import os


def write_text(path, text):
    tmp = '%s.tmp-%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, payload, indent=2):
    write_text(path, json.dumps(payload, indent=indent, sort_keys=True, default=str) + '\n')


def write_file(path, write):
    """Atomic version of ``write(tmp_path)``, for any writer of a file by name (e.g. ``torch.save``)."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

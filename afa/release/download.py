"""`afa data release`: the authors' released config and weights of a row, checked before anything uses them.

Each row with a release names its Google Drive folder in configs/zoo.yaml (`release:`). The folder is fetched
with gdown (imported only here, resumable: finished files are kept) into ``DIR/ROW/``, or copied from a folder
downloaded by hand (``--from``), since Drive is often unreachable from compute nodes. What arrived is checked:
a config ``.py``, the final weights (``final.pth``, or the only ``.pth``), weights that load and whose neck names
the converter knows, for a neck of the row's kind. ``DIR/ROW/.afa-release.json`` is written last, with the
sha256 of each file; a rerun whose weights still match it does nothing.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

from afa.utils import atomic
from afa.runs import layout
from afa.utils import hashing, provenance
from afa.runs import zoo as zoo_mod
from afa.utils.errors import AfaError

def release_url(row, zoo):
    """The row's Drive folder; a row without one is an error that lists the rows that have one."""
    url = row.get('release')
    if not url:
        have = [r.id for r in zoo if r.get('release')]
        raise AfaError('row %s has no released weights (configs/zoo.yaml, field "release"); rows with them: %s'
                       % (row.id, ', '.join(have)))
    return url


def fetch(rows, release_root, source=None, quiet=False, zoo=None):
    """Fetch (or copy from ``source``) and check each row's release; returns the markers written or found."""
    zoo = zoo or zoo_mod.load()
    if source is not None and len(rows) != 1:
        raise AfaError('--from takes the downloaded folder of one row; got %d rows (%s)' % (len(rows), ' '.join(rows)))
    wanted = [(zoo.row(r), release_url(zoo.row(r), zoo)) for r in rows]  # every name checked before any work
    markers = []
    for row, url in wanted:
        folder = layout.release_dir(release_root, row.id)
        marker = layout.release_marker(release_root, row.id)
        if source is not None:
            copy_manual_download(source, folder)  # files already there with the same content are kept
        if _still_verified(marker, folder):
            print('afa data release: %s already fetched and verified (%s)' % (row.id, marker), file=sys.stderr)
            markers.append(marker)
            continue
        if source is None:
            download_folder(url, folder, row.id, release_root, quiet)
        record = check_folder(folder, row)
        record.update(row=row.id, source=os.path.abspath(source) if source else url, provenance=provenance.record())
        atomic.write_json(marker, record)
        markers.append(marker)
    return markers


def _still_verified(marker, folder):
    """True when the marker exists and the folder holds exactly the configs and weights it lists, unchanged."""
    try:
        with open(marker) as f:
            files = json.load(f)['files']
        if sorted(files) != sorted(os.path.basename(p) for p in _release_files(folder)):
            return False
        return all(hashing.sha256_file(os.path.join(folder, name)) == sha for name, sha in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


# gdown (requests) reads without a timeout: it runs in a child process that is stopped when the folder grows by
# fewer than STALL_BYTES in STALL_SECONDS (nothing at all, or a trickle), so that a download always ends.
STALL_SECONDS = 120.0
STALL_BYTES = 256 * 1024
_POLL = 0.5


def download_folder(url, folder, row_id, release_root, quiet=False, stall_seconds=STALL_SECONDS,
                    stall_bytes=STALL_BYTES):
    """The Drive folder's files into ``folder`` with gdown (finished files are skipped on a rerun), in a child
    process watched for progress (_watch)."""
    manual = ('download the folder by hand from %s and run `afa data release %s --from DOWNLOADED_FOLDER --dir %s`'
              % (url, row_id, release_root))
    try:
        import gdown  # noqa: F401 (the child imports it; checked here for the message)
    except ImportError:
        raise AfaError('gdown is not installed (its pin is in requirements/cpu.txt); or %s' % manual)
    os.makedirs(folder, exist_ok=True)
    result = os.path.join(folder, layout.RELEASE_DOWNLOAD_RESULT)
    if os.path.exists(result):
        os.remove(result)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_root] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else [])))
    child = subprocess.Popen([sys.executable, '-c', 'import sys; from afa.release.download import gdown_child; '
                              'sys.exit(gdown_child(sys.argv[1:]))', url, folder, result, '1' if quiet else '0'],
                             env=env)
    stalled = _watch(child, folder, stall_seconds, stall_bytes)
    try:
        with open(result) as f:
            outcome = json.load(f)
        os.remove(result)
    except (OSError, ValueError):
        outcome = {}
    if stalled:
        reason = ('stopped: the folder grew by %d bytes in %.0f s (less than %d): Drive stalls or trickles'
                  % (stalled, stall_seconds, stall_bytes)) if stalled > 0 else \
            'stopped: nothing arrived in %.0f s' % stall_seconds
    else:
        reason = outcome.get('reason') or 'gdown could not list or fetch the folder (exit %s)' % child.returncode
    if stalled or not outcome.get('files'):
        raise AfaError('cannot download the release of %s from Google Drive (%s); %s' % (row_id, reason, manual))


def _folder_bytes(folder):
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def _watch(child, folder, stall_seconds, stall_bytes):
    """Wait for ``child``; stop it (SIGTERM, then SIGKILL) once a window of ``stall_seconds`` grew ``folder``
    by fewer than ``stall_bytes``. Returns 0 when it ended by itself, else the bytes of the last window (-1
    for none at all)."""
    start, size = time.monotonic(), _folder_bytes(folder)
    while child.poll() is None:
        time.sleep(_POLL)
        if time.monotonic() - start < stall_seconds:
            continue
        grown = _folder_bytes(folder) - size
        if grown >= stall_bytes:
            start, size = time.monotonic(), size + grown
            continue
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return grown if grown > 0 else -1
    return 0


def gdown_child(argv):
    """The child process: gdown.download_folder(URL) into FOLDER; the outcome as JSON in RESULT."""
    url, folder, result, quiet = argv
    import gdown
    try:
        files = gdown.download_folder(url=url, output=folder, quiet=quiet == '1', resume=True)
        outcome = {'files': files or None, 'reason': None if files else 'gdown could not list or fetch the folder'}
    except Exception as e:  # requests' connection and proxy errors, Drive's refusal pages (RuntimeError), ...
        outcome = {'files': None, 'reason': '%s: %s' % (type(e).__name__, _first_line(e))}
    with open(result, 'w') as f:
        json.dump(outcome, f)
    return 0 if outcome['files'] else 1


def _first_line(exc, limit=200):
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else ''


def copy_manual_download(source, folder):
    """Copy the config(s) and weights of a hand-downloaded folder (or its one subfolder, as Drive's zip unpacks)
    into ``folder``; files already there with the same content are kept."""
    if not os.path.isdir(source):
        raise AfaError('--from %s is not a folder; unpack the Drive download there first' % source)
    found = _release_files(source)
    if not found:
        subdirs = [d for d in glob.glob(os.path.join(source, '*')) if os.path.isdir(d)]
        found = _release_files(subdirs[0]) if len(subdirs) == 1 else []
    if not found:
        raise AfaError('--from %s holds no .py config or .pth weights (nor does its one subfolder); is it the '
                       'unpacked Drive folder of the row?' % source)
    os.makedirs(folder, exist_ok=True)
    for path in found:
        dest = os.path.join(folder, os.path.basename(path))
        if os.path.abspath(dest) == os.path.abspath(path):
            continue  # --from is the release folder itself: check in place
        if os.path.exists(dest) and os.path.getsize(dest) == os.path.getsize(path) and \
                hashing.sha256_file(dest) == hashing.sha256_file(path):
            continue
        atomic.write_file(dest, lambda tmp, path=path: shutil.copyfile(path, tmp))


def _release_files(folder):
    return sorted(glob.glob(os.path.join(folder, '*.py')) + glob.glob(os.path.join(folder, '*.pth')))


def check_folder(folder, row):
    """What arrived, checked: a config, the final weights, weights that load with a neck of the row's kind.
    Returns the record for the marker (file names and sha256)."""
    configs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, '*.py')))
    weights = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, '*.pth')))
    if not configs:
        raise AfaError('%s has no config .py: the release folder is incomplete; fetch it again (or add the config '
                       'of the Drive folder to it)' % folder)
    if layout.RELEASE_WEIGHTS in weights:
        final = layout.RELEASE_WEIGHTS
    elif len(weights) == 1:
        final = weights[0]
    else:
        raise AfaError('%s: %s; the release folder must hold the final weights %s (or a single .pth)'
                       % (folder, 'no weights (.pth)' if not weights else 'several .pth files (%s)'
                          % ', '.join(weights), layout.RELEASE_WEIGHTS))
    checkpoint = os.path.join(folder, final)
    neck = check_weights(checkpoint, row)
    files = {name: hashing.sha256_file(os.path.join(folder, name)) for name in configs + weights}
    return dict(checkpoint=checkpoint, checkpoint_sha256=files[final], config=configs[0] if len(configs) == 1
                else configs, files=files, **neck)


def check_weights(path, row):
    """The weights load and their neck is the row's kind (self- or cross-attention); else an error naming the
    file. Returns the naming and fusion found."""
    from afa.release import names as release
    state_dict, _ = release.split_checkpoint(release.read_checkpoint(path), path)
    found_naming = release.naming(state_dict)
    converted = release.convert_state_dict(state_dict, path)
    if not any(k.startswith('neck.blocks.') for k in converted):
        raise AfaError('%s holds no AFA neck (no neck.blocks.* after conversion); is it the release of %s?'
                       % (path, row.id))
    fusion = 'cross' if any('.norm_kv.' in k for k in converted if k.startswith('neck.blocks.')) else 'self'
    expected = 'cross' if row['module'].upper().startswith('MSCA') else 'self'
    if fusion != expected:
        raise AfaError('%s holds a %s-attention neck but %s is %s (%s-attention); is it the folder of another row?'
                       % (path, fusion, row.id, row['module'], expected))
    return {'checkpoint_naming': found_naming, 'fusion': fusion}

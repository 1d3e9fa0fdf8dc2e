"""COCO 2017: download (resumable, verified, a few files at a time), extraction and verification.

Layout produced under ROOT, as mmdet's configs expect::

    ROOT/train2017/ ROOT/val2017/ ROOT/test2017/ ROOT/annotations/   (+ ROOT/downloads/*.zip)

``ROOT/.afa-verified.json`` is written last, only when every requested part verified: image counts per split,
annotation files load, every annotated image exists. Its presence is what the workflow waits for, and a rerun
with it in place (and the same parts) does nothing.
"""
import concurrent.futures
import json
import os
import shutil
import sys
import zipfile

from .. import atomic, layout
from ..errors import AfaError
from .download import download, file_digest

MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'coco_manifest.json')
VERIFIED = layout.COCO_VERIFIED
DISK_MARGIN = 2.2  # archive + extracted copy, with some slack


def load_manifest(path=None):
    path = path or MANIFEST
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise AfaError('cannot read the COCO manifest %s: %s' % (path, e))


def _log(message):
    print('[afa data] %s' % message, file=sys.stderr, flush=True)


def check_free_disk(root, manifest, parts):
    """Fail before downloading when the disk cannot hold the missing archives and their extracted copies."""
    need = 0
    for part in parts:
        spec = manifest['parts'][part]
        if not os.path.exists(_archive_path(root, spec)):
            need += int(spec.get('approx_bytes') or 0) * DISK_MARGIN
    os.makedirs(root, exist_ok=True)
    free = shutil.disk_usage(root).free
    if need > free:
        raise AfaError('not enough free disk under %s: the parts %s need about %.1f GB, %.1f GB are free; free '
                       'space or choose another --root' % (root, ', '.join(parts), need / 1e9, free / 1e9))


def _archive_path(root, spec):
    return os.path.join(root, 'downloads', os.path.basename(spec['path']))


def fetch_part(root, manifest, part, mirror=None, progress=True, timeout=60.0, retries=5, backoff=2.0):
    """Download and CRC-check one archive; returns (part, archive path, its sha256)."""
    spec = manifest['parts'][part]
    base = (mirror or manifest['host']).rstrip('/')
    path = download(base + '/' + spec['path'], _archive_path(root, spec), checksum=spec.get('checksum'),
                    timeout=timeout, retries=retries, backoff=backoff, progress=progress)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as e:
        bad = str(e)
    if bad:
        corrupt = path + '.corrupt'
        os.replace(path, corrupt)
        raise AfaError('%s is not a valid zip (%s); it was moved to %s and will be downloaded again on the next '
                       'run' % (path, bad, corrupt))
    return part, path, file_digest(path, 'sha256')


def extract(root, archive_path, part):
    """Unpack into ROOT through a staging folder, merging folders (annotations/ receives two archives)."""
    marker = os.path.join(root, '.extracted-%s' % part)
    if os.path.exists(marker):
        return
    staging = os.path.join(root, '.staging-%s' % part)
    shutil.rmtree(staging, ignore_errors=True)
    _log('extracting %s' % os.path.basename(archive_path))
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(staging)
    _merge(staging, root)
    shutil.rmtree(staging, ignore_errors=True)
    with open(marker, 'w') as f:
        f.write(os.path.basename(archive_path) + '\n')


def _merge(src, dst):
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and os.path.isdir(d):
            _merge(s, d)
        else:
            os.replace(s, d)


def verify(root, manifest=None, parts=None):
    """Check what the requested parts provide; returns a report dict, raises AfaError listing every problem."""
    from pycocotools.coco import COCO
    import contextlib
    import io
    manifest = manifest or load_manifest()
    parts = list(parts or manifest['parts'])
    problems, report = [], {}
    for split, spec in manifest['splits'].items():
        if spec['part'] not in parts:
            continue
        folder = os.path.join(root, split)
        images = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        entry = {'images': len(images), 'expected_images': spec['images']}
        if len(images) != spec['images']:
            problems.append('%s: %d images, expected %d' % (folder, len(images), spec['images']))
        ann_part = 'test_info' if spec.get('image_info_only') else 'annotations'
        ann_file = os.path.join(root, spec['annotations'])
        if ann_part in parts:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    coco = COCO(ann_file)
            except Exception as e:  # pycocotools raises whatever json/open raise
                problems.append('%s does not load: %s' % (ann_file, e))
            else:
                listed = {img['file_name'] for img in coco.loadImgs(coco.getImgIds())}
                missing = sorted(listed - images)
                entry.update(annotated_images=len(listed), annotations=len(coco.dataset.get('annotations', [])))
                if missing:
                    problems.append('%s lists %d images missing from %s (first: %s)'
                                    % (ann_file, len(missing), folder, missing[0]))
        report[split] = entry
    if problems:
        raise AfaError('COCO under %s failed verification:\n  - %s\nrerun `afa data coco --root %s` to fetch what '
                       'is missing' % (root, '\n  - '.join(problems), root))
    return report


def write_verified(root, manifest, parts, archives=None):
    """Verify and, only on success, write ROOT/.afa-verified.json (atomically)."""
    report = verify(root, manifest, parts)
    record = {'parts': archives or {p: {'archive': None, 'source': 'verified in place'} for p in parts},
              'splits': report}
    atomic.write_json(os.path.join(root, VERIFIED), record)
    _log('COCO verified under %s: %s' % (root, ', '.join('%s %d images' % (s, r['images'])
                                                            for s, r in sorted(report.items()))))
    return record


def prepare(root, parts=None, mirror=None, jobs=3, manifest_path=None, progress=True, keep_archives=True,
            timeout=60.0, retries=5, backoff=2.0):
    """Download, extract and verify; returns the verification record (also written to ROOT/.afa-verified.json)."""
    manifest = load_manifest(manifest_path)
    parts = list(parts or manifest['parts'])
    unknown = [p for p in parts if p not in manifest['parts']]
    if unknown:
        raise AfaError('unknown part(s) %s; known: %s' % (', '.join(unknown), ', '.join(manifest['parts'])))
    verified_path = os.path.join(root, VERIFIED)
    previous = _read_json(verified_path)
    if previous and set(parts) <= set(previous.get('parts', {})):
        _log('%s is already verified (%s); nothing to do' % (root, verified_path))
        return previous
    check_free_disk(root, manifest, parts)
    archives, failures = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(fetch_part, root, manifest, p, mirror, progress, timeout, retries, backoff)
                   for p in parts]
        for future in concurrent.futures.as_completed(futures):
            try:
                part, path, sha256 = future.result()
                archives[part] = {'archive': os.path.basename(path), 'sha256': sha256,
                                  'checksum': manifest['parts'][part].get('checksum')}
            except AfaError as e:
                failures.append(str(e))
    for part in parts:
        if part in archives:
            extract(root, os.path.join(root, 'downloads', archives[part]['archive']), part)
    summary = ', '.join('%s ok' % p for p in sorted(archives)) or 'nothing fetched'
    if failures:
        raise AfaError('%s; failed:\n  - %s' % (summary, '\n  - '.join(failures)))
    record = write_verified(root, manifest, parts, archives)
    if not keep_archives:
        shutil.rmtree(os.path.join(root, 'downloads'), ignore_errors=True)
    return record


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

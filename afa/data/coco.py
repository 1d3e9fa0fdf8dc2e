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

from afa.utils import atomic
from afa.runs import layout
from afa.utils.errors import AfaError
from afa.data import checks
from afa.data.download import download
from afa.utils.hashing import file_digest

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


def part_names(manifest=None):
    """The parts of COCO 2017 that `afa data coco` fetches and `afa data verify` checks, in the manifest's order
    (the manifest names them)."""
    return list((manifest or load_manifest())['parts'])


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
    atomic.write_text(marker, os.path.basename(archive_path) + '\n')


def _merge(src, dst):
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and os.path.isdir(d):
            _merge(s, d)
        else:
            os.replace(s, d)


def expected_images(root, manifest):
    """{split: image count} the folder must hold: COCO's, or those of a synthetic dataset (its synthetic.json)."""
    counts = {split: spec['images'] for split, spec in manifest['splits'].items()}
    marker = os.path.join(root, layout.SYNTHETIC_MARKER)
    if os.path.isfile(marker):
        synthetic = atomic.read_json(marker)
        if not synthetic or not isinstance(synthetic.get('images'), dict):
            raise AfaError('%s is unreadable; regenerate the dataset with `afa data synthetic`' % marker)
        counts.update({split: int(n) for split, n in synthetic['images'].items() if split in counts})
    return counts


def verify(root, manifest=None, parts=None):
    """Check what the requested parts provide; returns a report dict, raises AfaError listing every problem.

    An image part: its folder holds the expected number of images, each starting like an image and ending whole.
    An annotation part: its files parse and have their COCO keys, and every annotation fits the size its image
    declares. Both: every listed image exists and its file's header has the declared width and height.
    """
    manifest = manifest or load_manifest()
    parts = list(parts or manifest['parts'])
    unknown = [p for p in parts if p not in manifest['parts']]
    if unknown:
        raise AfaError('unknown part(s) %s; known: %s' % (', '.join(unknown), ', '.join(manifest['parts'])))
    if not os.path.isdir(root):
        raise AfaError('%s is not a folder; pass the dataset folder with --root (fetch COCO with `afa data coco '
                       '--root %s`)' % (root, root))
    expected = expected_images(root, manifest)
    problems, report = [], {}
    for split, spec in manifest['splits'].items():
        ann_part = 'test_info' if spec.get('image_info_only') else 'annotations'
        with_images, with_annotations = spec['part'] in parts, ann_part in parts
        if not (with_images or with_annotations):
            continue
        folder = os.path.join(root, split)
        entry = {}
        images, sizes = set(), None
        if with_images:
            images = set(os.listdir(folder)) if os.path.isdir(folder) else set()
            entry.update(images=len(images), expected_images=expected[split])
            if len(images) != expected[split]:
                problems.append('%s: %d images, expected %d' % (folder, len(images), expected[split]))
        if with_annotations:
            ann_file = os.path.join(root, spec['annotations'])
            keys = checks.IMAGE_INFO_KEYS if spec.get('image_info_only') else checks.INSTANCE_KEYS
            try:
                doc = checks.load_annotation_file(ann_file, keys)
            except AfaError as e:
                problems.append(str(e))
            else:
                listed = {img['file_name'] for img in doc['images']}
                sizes = checks.declared_sizes(doc)
                entry.update(annotated_images=len(listed), annotations=len(doc.get('annotations', [])))
                if not listed:
                    problems.append('%s lists no images' % ann_file)
                missing = sorted(listed - images) if with_images else []
                if missing:
                    problems.append('%s lists %d images missing from %s (first: %s)'
                                    % (ann_file, len(missing), folder, missing[0]))
        if with_images:
            bad = checks.image_problems(folder, sorted(images), sizes=sizes)
            problems.extend('%s: %s' % item for item in bad)
        report[split] = entry
    if problems:
        raise AfaError('dataset under %s failed verification:\n  - %s\nrerun `afa data coco --root %s` (COCO) or '
                       '`afa data synthetic` (synthetic) to fetch or remake what is broken'
                       % (root, '\n  - '.join(problems), root))
    return report


def write_verified(root, manifest, parts, archives=None):
    """Verify and, only on success, record the parts in ROOT/.afa-verified.json (atomically, keeping the parts
    verified earlier). A failed verification removes the record: it no longer holds."""
    path = os.path.join(root, VERIFIED)
    try:
        report = verify(root, manifest, parts)
    except AfaError:
        if os.path.exists(path):
            os.remove(path)
            _log('removed %s: the dataset no longer verifies' % path)
        raise
    previous = atomic.read_json(path) or {}
    record = {'parts': dict(previous.get('parts') or {}), 'splits': dict(previous.get('splits') or {})}
    record['parts'].update(archives or {p: {'archive': None, 'source': 'verified in place'} for p in parts})
    for split, entry in report.items():
        record['splits'][split] = dict(record['splits'].get(split, {}), **entry)
    atomic.write_json(path, record)
    _log('verified under %s: %s' % (root, ', '.join(sorted(parts))))
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
    previous = atomic.read_json(verified_path)
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


"""`afa data coco` and `afa data verify` on a miniature COCO served from loopback: layout, verification, corrupt
archives, disk check, reruns that do nothing."""
import hashlib
import io
import json
import os
import zipfile

import pytest

from afa.cli import main
from afa.data import coco
from afa.data.synthetic import generate
from afa.utils.errors import AfaError
from http_faults import FaultyServer


def zip_folder(root, members):
    """Zip ``members`` (paths relative to root, files or folders) the way the COCO archives are laid out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as z:
        for member in members:
            full = os.path.join(root, member)
            if os.path.isdir(full):
                for name in sorted(os.listdir(full)):
                    z.write(os.path.join(full, name), os.path.join(member, name))
            else:
                z.write(full, member)
    return buffer.getvalue()


@pytest.fixture(scope='module')
def mini_coco(tmp_path_factory):
    """Archives of a tiny COCO (from the synthetic generator) and a manifest describing them."""
    src = str(tmp_path_factory.mktemp('src') / 'coco')
    generate(src, num_train=6, num_val=3, num_test=2, seed=3)
    archives = {
        '/zips/train2017.zip': zip_folder(src, ['train2017']),
        '/zips/val2017.zip': zip_folder(src, ['val2017']),
        '/zips/test2017.zip': zip_folder(src, ['test2017']),
        '/annotations/annotations_trainval2017.zip': zip_folder(
            src, ['annotations/instances_train2017.json', 'annotations/instances_val2017.json']),
        '/annotations/image_info_test2017.zip': zip_folder(src, ['annotations/image_info_test-dev2017.json']),
    }
    manifest = json.load(open(coco.MANIFEST))
    for spec in manifest['parts'].values():
        body = archives['/' + spec['path']]
        spec['approx_bytes'] = len(body)
        if spec['checksum']:  # keep the real manifest's pinned/unpinned split
            spec['checksum'] = 'sha1:' + hashlib.sha1(body).hexdigest()
    for split, n in (('train2017', 6), ('val2017', 3), ('test2017', 2)):
        manifest['splits'][split]['images'] = n
    path = str(tmp_path_factory.mktemp('manifest') / 'manifest.json')
    json.dump(manifest, open(path, 'w'))
    return archives, path


def prepare(server, root, manifest, **kwargs):
    return coco.prepare(str(root), mirror=server.url, manifest_path=manifest, progress=False, backoff=0.01,
                        **kwargs)


def test_download_extract_verify_and_rerun_does_nothing(mini_coco, tmp_path):
    archives, manifest = mini_coco
    with FaultyServer(archives) as server:
        server.faults['/zips/train2017.zip'] = ['cut']
        server.faults['/zips/val2017.zip'] = [500]
        record = prepare(server, tmp_path, manifest)
        for folder in ('train2017', 'val2017', 'test2017'):
            assert os.path.isdir(str(tmp_path / folder))
        assert sorted(os.listdir(str(tmp_path / 'annotations'))) == [
            'image_info_test-dev2017.json', 'instances_train2017.json', 'instances_val2017.json']
        assert record['splits']['train2017'] == {'images': 6, 'expected_images': 6, 'annotated_images': 6,
                                                 'annotations': record['splits']['train2017']['annotations']}
        assert json.load(open(str(tmp_path / coco.VERIFIED)))['parts']['test2017']['checksum'] is None
        requests = len(server.requests)
        prepare(server, tmp_path, manifest)
        assert len(server.requests) == requests


def test_corrupt_zip_is_set_aside_and_fetched_again_next_run(mini_coco, tmp_path):
    archives, manifest = mini_coco
    broken = dict(archives)
    body = bytearray(archives['/zips/test2017.zip'])
    body[60:80] = b'\0' * 20  # inside the first member's data: CRC fails, checksum is unpinned
    broken['/zips/test2017.zip'] = bytes(body)
    with FaultyServer(broken) as server:
        with pytest.raises(AfaError, match='test2017.zip is not a valid zip'):
            prepare(server, tmp_path, manifest, parts=['test2017', 'test_info', 'val2017'])
        assert os.path.exists(str(tmp_path / 'downloads' / 'test2017.zip.corrupt'))
        assert os.path.exists(str(tmp_path / 'downloads' / 'val2017.zip'))  # the good part is kept
        assert not os.path.exists(str(tmp_path / coco.VERIFIED))
    with FaultyServer(archives) as server:
        prepare(server, tmp_path, manifest, parts=['test2017', 'test_info', 'val2017'])
        assert [p for p, _ in server.requests] == ['/zips/test2017.zip']


def test_not_enough_disk_is_refused_before_downloading(mini_coco, tmp_path):
    archives, manifest = mini_coco
    data = json.load(open(manifest))
    data['parts']['train2017']['approx_bytes'] = 10 ** 18
    huge = tmp_path / 'huge.json'
    huge.write_text(json.dumps(data))
    with FaultyServer(archives) as server:
        with pytest.raises(AfaError, match='not enough free disk'):
            prepare(server, tmp_path / 'root', str(huge))
        assert server.requests == []


def test_verify_a_dataset_the_user_already_has(mini_coco, tmp_path, capsys):
    archives, manifest = mini_coco
    with FaultyServer(archives) as server:
        prepare(server, tmp_path, manifest)
    os.remove(str(tmp_path / coco.VERIFIED))
    assert main(['data', 'verify', '--root', str(tmp_path), '--manifest', manifest]) == 0
    assert os.path.exists(str(tmp_path / coco.VERIFIED))
    victim = sorted(os.listdir(str(tmp_path / 'val2017')))[0]
    os.remove(str(tmp_path / 'val2017' / victim))
    assert main(['data', 'verify', '--root', str(tmp_path), '--manifest', manifest]) == 2
    err = capsys.readouterr().err
    assert 'val2017: 2 images, expected 3' in err and victim in err


def test_synthetic_dataset_is_remade_when_its_parameters_change(tmp_path):
    """Snakemake deletes a job's output (the manifest) before rerunning it with new parameters: the dataset made
    here is recognised by its layout and made again, while a foreign folder is never touched."""
    from afa.runs import layout
    root = str(tmp_path / 'synthetic')
    generate(root, num_train=3, num_val=2, num_test=1, seed=0)
    os.remove(os.path.join(root, layout.SYNTHETIC_MARKER))
    manifest = generate(root, num_train=5, num_val=2, num_test=1, seed=0)
    assert manifest['images']['train2017'] == 5 == len(os.listdir(os.path.join(root, 'train2017')))
    foreign = tmp_path / 'mine'
    (foreign / 'annotations').mkdir(parents=True)
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not a synthetic dataset'):
        generate(str(foreign), num_train=2, num_val=1, num_test=1)
    assert (foreign / 'notes.txt').read_text() == 'keep me'

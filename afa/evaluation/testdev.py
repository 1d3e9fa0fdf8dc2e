"""The COCO test-dev files for the evaluation server: one zip per task, and a manifest written last."""
import os
import zipfile

from afa.runs import layout
from afa.utils import atomic, hashing, provenance

TESTDEV_ANN = 'annotations/image_info_test-dev2017.json'
TESTDEV_IMAGES = 'test2017/'


def write_testdev(result_files, iou_types, description, folder, evaluation=None):
    """COCO server files: detections_test-dev2017_<alg>_results.json, one zip per task (bbox, segm); the manifest
    records the run (``description``: RunSpec.describe()) and ``evaluation`` (evaluation_settings.record), which
    a later evaluation into the folder must match."""
    os.makedirs(folder, exist_ok=True)
    run_id = description['run_id']
    alg = run_id.replace('+', '-').replace('@', '-').replace('_', '')
    archives = {}
    for iou in iou_types:
        name = 'detections_test-dev2017_%s_results.json' % alg
        archive = os.path.join(folder, '%s_%s.zip' % (run_id, iou))

        def write_zip(tmp, source=result_files[iou], member=name):
            with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
                z.write(source, member)
        atomic.write_with(archive, write_zip)
        archives[iou] = {'zip': os.path.basename(archive), 'sha256': hashing.sha256_file(archive)}
        print('afa test: test-dev %s results for upload: %s' % (iou, archive), flush=True)
    # Written last: its presence says every archive is complete (the workflow's output for this step).
    atomic.write_json(os.path.join(folder, layout.TESTDEV_MANIFEST), dict(
        description, archives=archives, evaluation=evaluation,
        upload='the COCO detection evaluation server (cocodataset.org/#upload): one zip per task',
        provenance=provenance.record()))
    return folder

"""What an evaluation was made on and with, so that a finished run's numbers are never replaced by numbers of
another one: the annotation file's content (its sha256 and image count: another --data-root may hold another val
set under the same names) and the evaluation settings (the resolved config's fingerprint, its data and weights
folders left out: the same data may move between machines). Recorded in every metrics file (``evaluation``) and
compared before an evaluation may replace one (afa/runs/results.py: check_output)."""
import json
import os

from afa.runs import fingerprint
from afa.utils import hashing
from afa.utils.errors import AfaError


def record(cfg, spec, ann_file=None):
    """{'settings_sha256', 'ann_file', 'ann_sha256', 'images'} of an evaluation of ``spec`` under ``cfg`` on
    ``ann_file`` (default the config's test set; test-dev's image info for the server's files)."""
    ann_file = ann_file or cfg.data.test.ann_file
    images = None
    if os.path.isfile(ann_file):
        with open(ann_file) as f:
            images = len(json.load(f).get('images', []))
    return dict(settings_sha256=fingerprint.compute(cfg, spec)['sha256'], ann_file=ann_file,
                ann_sha256=hashing.sha256_file(ann_file) if os.path.isfile(ann_file) else None, images=images)


def _of(previous):
    """The evaluation record of an earlier metrics file (files written before it was recorded: what their
    dataset block says)."""
    if isinstance(previous.get('evaluation'), dict):
        return previous['evaluation']
    dataset = previous.get('dataset') or {}
    return dict(settings_sha256=None, ann_file=dataset.get('ann_file'), ann_sha256=None, images=dataset.get('images'))


def differences(old, new):
    """Phrases naming what differs between two evaluation records (only what both recorded)."""
    found = []
    if old.get('ann_sha256') and old['ann_sha256'] != new.get('ann_sha256'):
        found.append('another annotation file (%s, sha256 %s, %s images; before: %s, sha256 %s, %s images)' % (
            new.get('ann_file'), str(new.get('ann_sha256'))[:12], new.get('images'), old.get('ann_file'),
            str(old['ann_sha256'])[:12], old.get('images')))
    elif not old.get('ann_sha256') and old.get('images') is not None and old.get('images') != new.get('images'):
        found.append('another val set (%s images; before: %s)' % (new.get('images'), old.get('images')))
    if old.get('settings_sha256') and old['settings_sha256'] != new.get('settings_sha256'):
        found.append('other evaluation settings (the resolved config differs: --cfg-options or the config file)')
    return found


def check_same(out, previous, new, what='metrics'):
    """AfaError when ``previous`` (the metrics file, or test-dev manifest, at ``out`` of this same run) was made
    on another dataset or under other settings than ``new``: it is the run's result and stays; the new one goes
    elsewhere."""
    found = differences(_of(previous), new)
    if found:
        raise AfaError('%s holds this run\'s %s, made on %s; this evaluation is on %s: it is left untouched. '
                       'Write this one elsewhere with --out (the tables and the workflow read only the run\'s own), '
                       'or move it away to replace it' % (out, what, 'another dataset or settings', '; '.join(found)))

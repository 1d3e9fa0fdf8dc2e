"""The pretrained backbone, loaded through the config's own ``init_cfg`` and checked: no key of the backbone
missing from the file, no shape differing, the values in the module those of the file, no unexpected key but
torchvision's classifier (``fc.*``, which mmdet's ResNet lacks).

mmcv loads ``init_cfg`` weights with ``strict=False`` and only logs what did not fit, so a file of another
backbone, naming or depth would train a partly random backbone for days. Here such a load stops the run before
its first iteration, with the keys named; the report goes to RUN/backbone.json at every scale that loads one.
"""
import logging
import os

from afa.data.pretrained import pretrained_checkpoint
from afa.utils.errors import AfaError

HARMLESS_UNEXPECTED = ('fc.weight', 'fc.bias')  # torchvision's classifier: mmdet's ResNet has no fc
UNTRACKED = 'num_batches_tracked'  # BN counters: older torchvision files lack them, mmcv ignores them too


class _Captured(logging.Handler):
    def __init__(self):
        super(_Captured, self).__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def init_with_report(model, checkpoint):
    """``model.init_weights()`` (its backbone's init_cfg loads ``checkpoint``) and the load compared:
    {'checkpoint', 'keys_in_file', 'keys_in_module', 'loaded', 'values_equal', 'missing', 'unexpected',
    'mismatched', 'mmcv_warnings'}. ``model`` is a detector (its ``backbone``) or a backbone."""
    import torch
    handler = _Captured()
    logger = logging.getLogger('mmcv')
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    backbone = getattr(model, 'backbone', model)
    state = torch.load(checkpoint, map_location='cpu')
    state = state.get('state_dict', state)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    own = backbone.state_dict()
    mismatched = sorted(k for k in set(state) & set(own) if tuple(state[k].shape) != tuple(own[k].shape))
    loaded = [k for k in own if k in state and k not in mismatched]
    same = all(torch.equal(own[k].cpu(), state[k].cpu()) for k in loaded if UNTRACKED not in k)
    return dict(checkpoint=checkpoint, keys_in_file=len(state), keys_in_module=len(own), loaded=len(loaded),
                values_equal=same, missing=sorted(k for k in set(own) - set(state) if UNTRACKED not in k),
                unexpected=sorted(set(state) - set(own)), mismatched=mismatched, mmcv_warnings=handler.messages)


def check_report(report):
    """The report, or AfaError naming the keys when the load missed keys, met other shapes, did not take the
    file's values or met unexpected keys other than torchvision's classifier."""
    unexpected = [k for k in report['unexpected'] if k not in HARMLESS_UNEXPECTED]
    problems = []
    if report['missing']:
        problems.append('%d missing keys (%s)' % (len(report['missing']), ', '.join(report['missing'][:4])))
    if report['mismatched']:
        problems.append('other shapes for %s' % ', '.join(report['mismatched'][:4]))
    if unexpected:
        problems.append('%d unexpected keys (%s)' % (len(unexpected), ', '.join(unexpected[:4])))
    if not report['values_equal']:
        problems.append('the backbone does not hold the file\'s values after loading')
    if problems:
        raise AfaError('backbone weights %s do not fit the config\'s backbone: %s; fetch the right file (`afa data '
                       'pretrained`) or check the config\'s backbone' % (report['checkpoint'], '; '.join(problems)))
    return report


def summary(report):
    """One line: keys loaded, missing and unexpected."""
    return '%d of %d backbone keys loaded from %s; missing: %s; unexpected: %s' % (
        report['loaded'], report['keys_in_module'], os.path.basename(report['checkpoint']),
        ', '.join(report['missing']) or 'none', ', '.join(report['unexpected']) or 'none')


def init_checked(model, backbone_cfg, served=None, write=None, say=print):
    """``model.init_weights()``; where the backbone's init_cfg loads a local file, the load checked
    (check_report) after ``write(record)`` kept its record (RunFolder.write_backbone_record; ``served``:
    afa.data.standin.describe of the file, real or stand-in). Returns the record (None without such a file)."""
    checkpoint = pretrained_checkpoint(backbone_cfg)
    if not checkpoint or '://' in checkpoint:
        model.init_weights()
        return None
    report = init_with_report(model, checkpoint)
    record = dict(served or {}, load=report, summary=summary(report))
    if write:
        write(record)
    check_report(report)
    say('afa train: %s (%s)' % (record['summary'], (served or {}).get('served', 'unverified')))
    return record

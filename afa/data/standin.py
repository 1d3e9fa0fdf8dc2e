"""Backbone weights for the rehearsal scale: the real files where `afa data pretrained` fetched them, else
stand-ins with exactly their keys and shapes (random values), so that the configs' own ``init_cfg`` loads them
on the real path (afa/training/backbone_weights.py checks that the load misses no key).

Keys and shapes come from the modules themselves, never from a list written here: torchvision's ResNet-50/101
(the names of the torchvision files, ``fc.*`` classifier included, which mmdet's ResNet lacks: mmcv reports
those two as unexpected, harmlessly) and mmdet's ResNeXt-101 64x4d (the module OpenMMLab's file was made for).

Which file served is told apart by content, as the download verification does: a real file's sha256 starts
with the hex in its name (torch.hub's rule); a stand-in's does not, and a ``NAME.afa-standin.json`` record lies
beside it. Stand-ins are written to their own folder (``rehearsal.PRETRAINED_DIR``), never to the real cache.
"""
import json
import os

from afa.data.pretrained import WEIGHTS
from afa.utils import atomic, hashing
from afa.utils.errors import AfaError

STANDIN_SUFFIX = '.afa-standin.json'
_DIGESTS = {}  # (path, size, mtime) -> sha256: a spec describes its weights at every build


def _module(name):
    """The module whose state dict the real file ``name`` holds (keys and shapes)."""
    backbone = WEIGHTS[name]['backbones'][0]
    if backbone in ('ResNet-50', 'ResNet-101'):
        import torchvision
        return getattr(torchvision.models, 'resnet%s' % backbone.split('-')[1])()
    if backbone == 'ResNeXt-101':
        from mmdet.models.backbones import ResNeXt
        return ResNeXt(depth=101, groups=64, base_width=4)
    raise AfaError('no stand-in is known for the weight file %s (backbone %s)' % (name, backbone))


def expected_prefix(name):
    """The hex a real file's sha256 starts with (from its checksum in afa/data/pretrained.py)."""
    return WEIGHTS[name]['checksum'].split(':', 1)[1]


def _sha256(path):
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashing.sha256_file(path)
    return _DIGESTS[key]


def describe(path):
    """Which backbone file serves: {'file', 'sha256', 'served': 'real' | 'stand-in' | 'unverified' | 'missing'}."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return dict(file=path, sha256=None, served='missing')
    sha256 = _sha256(path)
    if name in WEIGHTS and sha256.startswith(expected_prefix(name)):
        served = 'real'
    elif os.path.isfile(path + STANDIN_SUFFIX):
        served = 'stand-in'
    else:
        served = 'unverified'
    return dict(file=path, sha256=sha256, served=served)


def describe_backbone(backbone_cfg):
    """describe() of the file a backbone config's init_cfg loads; None when it loads none (from scratch) or a URL."""
    from afa.data.pretrained import pretrained_checkpoint
    checkpoint = pretrained_checkpoint(backbone_cfg)
    return describe(checkpoint) if checkpoint and '://' not in checkpoint else None


def write_standin(path, seed=0):
    """A stand-in for the real file at ``path``'s name: the module's state dict with random values."""
    import torch
    name = os.path.basename(path)
    torch.manual_seed(seed)
    module = _module(name)
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    for key, value in state.items():
        if value.is_floating_point() and 'running_var' not in key:
            value.normal_(0.0, 0.02)
    atomic.write_with(path, lambda tmp: torch.save(state, tmp))
    record = dict(standin_for=name, real_sha256_prefix=expected_prefix(name), keys=len(state),
                  parameters=int(sum(v.numel() for v in state.values())), sha256=_sha256(path),
                  made_from='%s.%s' % (type(module).__module__, type(module).__name__))
    atomic.write_json(path + STANDIN_SUFFIX, record)
    return record


def prepare(directory, real_dir, names=None):
    """Fill ``directory`` with each weight file: a link to the real one in ``real_dir`` when it is there and
    verifies, else a stand-in. Returns {name: describe(...)}; what is already in place is kept."""
    names = names or sorted(WEIGHTS)
    unknown = [n for n in names if n not in WEIGHTS]
    if unknown:
        raise AfaError('unknown weight file(s) %s; known: %s' % (', '.join(unknown), ', '.join(sorted(WEIGHTS))))
    os.makedirs(directory, exist_ok=True)
    served = {}
    for name in names:
        target = os.path.join(directory, name)
        real = os.path.join(real_dir, name)
        real_ok = os.path.isfile(real) and describe(real)['served'] == 'real'
        current = describe(target)['served'] if os.path.lexists(target) else 'missing'
        if real_ok and current != 'real':
            for stale in (target, target + STANDIN_SUFFIX):
                if os.path.lexists(stale):
                    os.remove(stale)
            os.symlink(os.path.abspath(real), target)
        elif not real_ok and current not in ('real', 'stand-in'):
            if current == 'missing' and os.path.islink(target):  # a link to a real file since removed
                os.remove(target)
            if os.path.lexists(target):
                raise AfaError('%s is neither the real %s (its sha256 does not start with %s) nor a stand-in made '
                               'here; remove it and run `afa data standin` again' % (target, name,
                                                                                     expected_prefix(name)))
            write_standin(target)
        served[name] = describe(target)
    return served


def read_record(path):
    """The stand-in record beside ``path`` (None for a real file)."""
    try:
        with open(path + STANDIN_SUFFIX) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

"""ImageNet backbone weights, fetched once into a local cache so that training never reaches the internet.

The file names are the ones mmcv's ``torchvision://`` and ``open-mmlab://`` links resolve to in the paper's
environment (torchvision 0.10); the hex in each name is the start of the file's sha256 (torch.hub's rule), which
is what is verified.
"""
import os

from afa.utils.errors import AfaError

WEIGHTS = {
    'resnet50-0676ba61.pth': {
        'url': 'https://download.pytorch.org/models/resnet50-0676ba61.pth',
        'checksum': 'sha256:0676ba61', 'backbones': ['ResNet-50']},
    'resnet101-63fe2227.pth': {
        'url': 'https://download.pytorch.org/models/resnet101-63fe2227.pth',
        'checksum': 'sha256:63fe2227', 'backbones': ['ResNet-101']},
    'resnext101_64x4d-ee2c6f71.pth': {
        'url': 'https://download.openmmlab.com/pretrain/third_party/resnext101_64x4d-ee2c6f71.pth',
        'checksum': 'sha256:ee2c6f71', 'backbones': ['ResNeXt-101']},
}


def pretrained_checkpoint(backbone_cfg):
    """The file a backbone config's ``init_cfg`` loads (None without a Pretrained init_cfg)."""
    init_cfg = backbone_cfg.get('init_cfg') or {}
    return init_cfg.get('checkpoint') if init_cfg.get('type') == 'Pretrained' else None


def files_for_backbone(backbone):
    """Weight files a row with this backbone (zoo.yaml's name) loads."""
    names = [name for name, spec in WEIGHTS.items() if backbone in spec['backbones']]
    if not names:
        raise AfaError('no pretrained weights are known for backbone %r (known: %s)'
                       % (backbone, ', '.join(sorted({b for s in WEIGHTS.values() for b in s['backbones']}))))
    return names


def fetch(directory, names=None, mirror=None, progress=True, timeout=60.0):
    """Download (or verify) the named weight files into ``directory``; returns their paths."""
    from afa.data.download import download
    names = names or sorted(WEIGHTS)
    unknown = [n for n in names if n not in WEIGHTS]
    if unknown:
        raise AfaError('unknown weight file(s) %s; known: %s' % (', '.join(unknown), ', '.join(sorted(WEIGHTS))))
    paths = []
    for name in names:
        url = WEIGHTS[name]['url']
        if mirror:
            url = mirror.rstrip('/') + '/' + name
        paths.append(download(url, os.path.join(directory, name), checksum=WEIGHTS[name]['checksum'],
                              progress=progress, timeout=timeout))
    return paths

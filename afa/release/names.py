"""The authors' released checkpoints under this project's parameter names, and where a checkpoint came from.

The release (a fork of mmdet 2.11) keeps mmdet's names for the backbone, RPN and RoI heads, which pass through,
but names the neck its own way (docs/release-checkpoints.md). Its layer norms all have one shape, so
they are mapped by role, never by shape: a swapped pair would load silently. The conversion is strict: a neck
key it does not know, or one it expects and does not find, is an error naming the key.

A checkpoint is 'trained' (here: its meta carries the afa run id written by `afa train`) or 'released' (any
other: the authors' file, as released or converted). Standard library at import; torch only where files are read.
"""
import collections
import inspect
import os
import re

from afa.utils import atomic
from afa.runs import layout
from afa.utils.errors import AfaError

ORIGINS = ('trained', 'released')
NAMINGS = ('release', 'afa')
CONVERTED_META_KEY = 'afa_converted_from'  # meta entry of a converted file: what it was converted from
_NECK = 'neck.'

# Per level i: the release's key under neck.fpn_convs.{i}. -> this project's key under neck.blocks.{i}.
_BLOCK_ROLES = (
    ('ms_attn.q.weight', 'attn.q.weight'),
    ('ms_attn.kv.weight', 'attn.kv.weight'),
    ('ms_attn.proj.weight', 'attn.proj.weight'),
    ('ms_attn.proj.bias', 'attn.proj.bias'),
    ('ms_attn.p_norm.weight', 'attn.kv_norm.weight'),  # the norm of the pooled key/value tokens
    ('ms_attn.p_norm.bias', 'attn.kv_norm.bias'),
    ('mlp.fc1.weight', 'ffn.fc1.weight'),
    ('mlp.fc1.bias', 'ffn.fc1.bias'),
    ('mlp.dwconv.dwconv.weight', 'ffn.dwconv.weight'),
    ('mlp.dwconv.dwconv.bias', 'ffn.dwconv.bias'),
    ('mlp.fc2.weight', 'ffn.fc2.weight'),
    ('mlp.fc2.bias', 'ffn.fc2.bias'),
)
# The block's own norms, by role. Self-attention: before attention (queries and key/value source), before the
# FFN. Cross-attention: the query stream, the key/value source map, before the FFN.
_NORM_ROLES = {
    'self': (('norm1', 'norm1'), ('norm2', 'norm2')),
    'cross': (('norm1_1', 'norm1'), ('norm1_2', 'norm_kv'), ('norm1_3', 'norm2')),
}
# The lateral 1x1 convs: mmcv's ConvModule in the release (hence `.conv`), a plain Conv2d here.
_LATERAL_ROLES = (('conv.weight', 'weight'), ('conv.bias', 'bias'))

_RELEASE_BLOCK_KEY = re.compile(r'^neck\.fpn_convs\.\d+\.(ms_attn|mlp|norm1|norm2)[._]')
_RELEASE_CROSS_KEY = re.compile(r'^neck\.fpn_convs\.\d+\.norm1_[123]\.')
_AFA_CROSS_KEY = re.compile(r'^neck\.blocks\.\d+\.norm_kv\.')
_LEVEL = re.compile(r'^neck\.(fpn_convs|lateral_convs|blocks)\.(\d+)\.')


class ReleaseFormatError(AfaError, ValueError):
    """A checkpoint whose neck names are neither the release's nor this project's, or are incomplete."""


def neck_key_map(fusion, num_levels):
    """{release key: this project's key} of every neck parameter of an AFA neck ('self' or 'cross')."""
    if fusion not in _NORM_ROLES:
        raise ValueError('fusion must be one of %s, got %r' % (sorted(_NORM_ROLES), fusion))
    mapping = collections.OrderedDict()
    for i in range(num_levels):
        for release, ours in _LATERAL_ROLES:
            mapping['neck.lateral_convs.%d.%s' % (i, release)] = 'neck.lateral_convs.%d.%s' % (i, ours)
        for release, ours in _NORM_ROLES[fusion]:
            for param in ('weight', 'bias'):
                mapping['neck.fpn_convs.%d.%s.%s' % (i, release, param)] = 'neck.blocks.%d.%s.%s' % (i, ours, param)
        for release, ours in _BLOCK_ROLES:
            mapping['neck.fpn_convs.%d.%s' % (i, release)] = 'neck.blocks.%d.%s' % (i, ours)
    return mapping


def naming(state_dict):
    """'release' when the neck carries the release's AFA names, else 'afa' (this project's, or a plain FPN's)."""
    return 'release' if any(_RELEASE_BLOCK_KEY.match(k) for k in state_dict) else 'afa'


def _levels(neck_keys, where):
    levels = sorted({int(m.group(2)) for m in (_LEVEL.match(k) for k in neck_keys) if m})
    if not levels or levels != list(range(len(levels))):
        raise ReleaseFormatError('%s: the neck levels must be numbered 0..N-1, found %s' % (where, levels))
    return len(levels)


def _check_keys(present, expected, where, what):
    unknown = [k for k in present if k not in expected]
    missing = [k for k in expected if k not in present]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append('unknown neck key(s) %s' % ', '.join(unknown[:5]) + (' ...' if len(unknown) > 5 else ''))
        if missing:
            parts.append('missing neck key(s) %s' % ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else ''))
        raise ReleaseFormatError('%s: %s (%s); is it a checkpoint of an AFA row?' % (where, '; '.join(parts), what))


def convert_state_dict(state_dict, where='checkpoint'):
    """The state dict under this project's names: the release's neck renamed by role, all else as is.

    A state dict already in this project's names (trained here, converted, or a plain FPN) is returned as is.
    """
    if naming(state_dict) != 'release':
        return state_dict
    neck_keys = [k for k in state_dict if k.startswith(_NECK)]
    fusion = 'cross' if any(_RELEASE_CROSS_KEY.match(k) for k in neck_keys) else 'self'
    mapping = neck_key_map(fusion, _levels(neck_keys, where))
    _check_keys(neck_keys, mapping, where, 'release names, %s-attention neck' % fusion)
    return collections.OrderedDict((mapping.get(k, k), v) for k, v in state_dict.items())


def release_state_dict(state_dict, where='state dict'):
    """The inverse: this project's neck names -> the release's (to write test files in the release's naming)."""
    neck_keys = [k for k in state_dict if k.startswith(_NECK)]
    fusion = 'cross' if any(_AFA_CROSS_KEY.match(k) for k in neck_keys) else 'self'
    inverse = collections.OrderedDict((ours, release) for release, ours in
                                      neck_key_map(fusion, _levels(neck_keys, where)).items())
    _check_keys(neck_keys, inverse, where, "this project's names, %s-attention neck" % fusion)
    return collections.OrderedDict((inverse.get(k, k), v) for k, v in state_dict.items())


def split_checkpoint(checkpoint, where='checkpoint'):
    """(state_dict, meta) of an mmcv checkpoint dict ({meta, state_dict, optimizer}) or of a bare state dict."""
    if not isinstance(checkpoint, dict):
        raise ReleaseFormatError('%s holds a %s, not a checkpoint dict' % (where, type(checkpoint).__name__))
    if 'state_dict' in checkpoint:
        return checkpoint['state_dict'], dict(checkpoint.get('meta') or {})
    if checkpoint and all(hasattr(v, 'shape') for v in checkpoint.values()):
        return checkpoint, {}
    raise ReleaseFormatError('%s has no "state_dict" (keys: %s)' % (where, ', '.join(sorted(str(k) for k in checkpoint))[:200]))


def convert_checkpoint(checkpoint, where='checkpoint'):
    """{meta, state_dict} under this project's names. The optimizer state is dropped: it is indexed by the
    release model's parameter order, meaningless here, and a converted file is for evaluation."""
    state_dict, meta = split_checkpoint(checkpoint, where)
    return {'meta': meta, 'state_dict': convert_state_dict(state_dict, where)}


def origin(meta):
    """'trained' for a checkpoint written by `afa train` (its meta names the run), else 'released'."""
    return 'trained' if (meta or {}).get('afa_run_id') else 'released'


def read_checkpoint(path):
    """The checkpoint dict of a .pth file, read on the CPU; tensors and plain data only where torch can refuse
    the rest (torch >= 1.13), since released files come from the internet."""
    import torch
    kwargs = {'map_location': 'cpu'}
    if 'weights_only' in inspect.signature(torch.load).parameters:
        kwargs['weights_only'] = True
    try:
        return torch.load(path, **kwargs)
    except Exception as e:  # truncated zip, pickle errors, unsupported objects: all mean a bad file here
        raise ReleaseFormatError('cannot read checkpoint %s (%s: %s); download it again'
                                 % (path, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else ''))


def describe(path):
    """What `afa test` records about a checkpoint file: its origin and the naming of its neck."""
    state_dict, meta = split_checkpoint(read_checkpoint(path), path)
    return {'checkpoint_origin': origin(meta), 'checkpoint_naming': naming(state_dict)}


def load_weights(model, path):
    """Load a checkpoint of any origin into ``model`` strictly, converting release names on the fly.
    Returns the checkpoint's meta."""
    state_dict, meta = split_checkpoint(read_checkpoint(path), path)
    state_dict = convert_state_dict(state_dict, path)
    result = model.load_state_dict(state_dict, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append('%d missing key(s) (%s)' % (len(missing), ', '.join(missing[:3])))
        if unexpected:
            problems.append('%d unexpected key(s) (%s)' % (len(unexpected), ', '.join(unexpected[:3])))
        raise AfaError('%s does not fit this row\'s model: %s; is it the checkpoint of this row and scale?'
                       % (path, '; '.join(problems)))
    return meta


def check_convert_output(src, dst):
    """OUT is a new file, or an earlier output of `afa release convert` (its record beside it still matches):
    never IN itself, a run's checkpoint or record, nor any other file that exists."""
    from afa.utils import hashing
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise AfaError('OUT %s is IN itself: converting in place would replace the only copy of the weights; '
                       'choose a new file for OUT' % dst)
    folder = os.path.dirname(os.path.abspath(dst))
    if layout.is_run_folder(folder) or os.path.basename(dst) in layout.RECORD_FILES:
        raise AfaError('OUT %s is in a run folder (%s), whose files only `afa train` and `afa test` write; '
                       'choose a file elsewhere' % (dst, folder))
    if not os.path.exists(dst):
        return
    try:
        import json
        with open(layout.conversion_record_path(dst)) as f:
            ours = json.load(f).get('converted_sha256') == hashing.sha256_file(dst)
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise AfaError('OUT %s exists and is not an earlier output of `afa release convert`; it is left '
                       'untouched: choose a new file for OUT (or move it away)' % dst)


def convert_file(src, dst):
    """`afa release convert`: write ``dst`` (this project's names) atomically, then its record (sha256 of both
    files) beside it. Returns the record."""
    import torch
    from afa.utils import hashing, provenance
    if not os.path.isfile(src):
        raise AfaError('checkpoint %s not found' % src)
    check_convert_output(src, dst)
    checkpoint = read_checkpoint(src)
    state_dict, _ = split_checkpoint(checkpoint, src)
    converted = convert_checkpoint(checkpoint, src)
    src_sha = hashing.sha256_file(src)
    converted['meta'][CONVERTED_META_KEY] = {'file': os.path.basename(src), 'sha256': src_sha,
                                             'naming': naming(state_dict)}
    os.makedirs(os.path.dirname(os.path.abspath(dst)) or '.', exist_ok=True)
    atomic.write_file(dst, lambda tmp: torch.save(converted, tmp))
    record = {'source': os.path.abspath(src), 'source_sha256': src_sha, 'source_naming': naming(state_dict),
              'converted': os.path.abspath(dst), 'converted_sha256': hashing.sha256_file(dst),
              'origin': origin(converted['meta']), 'provenance': provenance.record()}
    atomic.write_json(layout.conversion_record_path(dst), record)
    return record

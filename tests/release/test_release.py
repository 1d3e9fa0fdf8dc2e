"""The released checkpoints' neck names: every neck type round-trips with random weights (norms included),
strict errors name the key, a swapped norm mapping is caught, and `afa release convert` records both sha256."""
import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmdet')
from mmdet.models import build_neck  # noqa: E402

import afa.models  # noqa: E402,F401  (registers the necks)
from afa.runs import layout  # noqa: E402
from afa.release import names as release
from afa.utils.hashing import sha256_file  # noqa: E402
from afa.runs.zoo import REPO_ROOT  # noqa: E402
from afa.models.necks import PAPER_NECKS  # noqa: E402

NECKS = list(PAPER_NECKS)
SMALL = [16, 32, 64, 128]

# The release's names by role, transcribed from docs/release-checkpoints.md independently of
# afa/release/names.py: (release suffix under neck.fpn_convs.{i}., this project's suffix under neck.blocks.{i}.).
DOC_BLOCK = [('ms_attn.q.weight', 'attn.q.weight'), ('ms_attn.kv.weight', 'attn.kv.weight'),
             ('ms_attn.proj.weight', 'attn.proj.weight'), ('ms_attn.proj.bias', 'attn.proj.bias'),
             ('ms_attn.p_norm.weight', 'attn.kv_norm.weight'), ('ms_attn.p_norm.bias', 'attn.kv_norm.bias'),
             ('mlp.fc1.weight', 'ffn.fc1.weight'), ('mlp.fc1.bias', 'ffn.fc1.bias'),
             ('mlp.dwconv.dwconv.weight', 'ffn.dwconv.weight'), ('mlp.dwconv.dwconv.bias', 'ffn.dwconv.bias'),
             ('mlp.fc2.weight', 'ffn.fc2.weight'), ('mlp.fc2.bias', 'ffn.fc2.bias')]
DOC_NORMS = {'self': [('norm1', 'norm1'), ('norm2', 'norm2')],
             'cross': [('norm1_1', 'norm1'), ('norm1_2', 'norm_kv'), ('norm1_3', 'norm2')]}
# Shapes the document gives at C = 256 (hidden 512), per release suffix.
DOC_SHAPES = {'ms_attn.q.weight': (256, 256), 'ms_attn.kv.weight': (512, 256), 'ms_attn.proj.weight': (256, 256),
              'ms_attn.proj.bias': (256,), 'ms_attn.p_norm.weight': (256,), 'mlp.fc1.weight': (512, 256),
              'mlp.fc1.bias': (512,), 'mlp.dwconv.dwconv.weight': (512, 1, 3, 3), 'mlp.dwconv.dwconv.bias': (512,),
              'mlp.fc2.weight': (256, 512), 'mlp.fc2.bias': (256,)}


def fusion_of(type_name):
    return 'cross' if type_name.startswith('MSCA') else 'self'


def build(type_name, channels=SMALL, out=32):
    return build_neck(dict(type=type_name, in_channels=channels, out_channels=out, num_outs=5)).eval()


def randomised(module, seed):
    """Every parameter random, layer norms included (their init, 1 and 0, would hide a swapped mapping)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + 0.1)
    return module


def release_named(neck_state, fusion):
    """Neck state dict (module keys) -> the release's full checkpoint keys, with the document's table."""
    out = {}
    for key, value in neck_state.items():
        part, level, rest = key.split('.', 2)
        if part == 'lateral_convs':
            out['neck.lateral_convs.%s.conv.%s' % (level, rest)] = value
            continue
        table = dict((ours, rel) for rel, ours in DOC_BLOCK)
        table.update((ours + '.' + p, rel + '.' + p) for rel, ours in DOC_NORMS[fusion] for p in ('weight', 'bias'))
        out['neck.fpn_convs.%s.%s' % (level, table[rest])] = value
    return out


def features(channels=SMALL, batch=2, height=96, width=128, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, -(-height // (4 * 2 ** i)), -(-width // (4 * 2 ** i)), generator=gen)
            for i, c in enumerate(channels)]


def max_relative_error(outs, refs):
    return max(float((o - r).abs().max() / r.abs().max()) for o, r in zip(outs, refs))


def neck_state(state_dict):
    return {k[len('neck.'):]: v for k, v in state_dict.items() if k.startswith('neck.')}


def reload(type_name, converted, seed=99):
    """A fresh neck (other random weights) loaded strictly from a converted full state dict."""
    neck = randomised(build(type_name), seed)
    neck.load_state_dict(neck_state(converted), strict=True)
    return neck


@pytest.mark.parametrize('type_name', NECKS)
def test_release_checkpoint_round_trips_with_random_weights(type_name):
    original = randomised(build(type_name), seed=0)
    inputs = features()
    with torch.no_grad():
        refs = original(inputs)
        named = release_named(original.state_dict(), fusion_of(type_name))
        named['backbone.conv1.weight'] = torch.randn(4, 3, 7, 7)  # passes through untouched
        converted = release.convert_state_dict(named)
        assert torch.equal(converted['backbone.conv1.weight'], named['backbone.conv1.weight'])
        fresh = randomised(build(type_name), seed=99)
        before = fresh(inputs)
        fresh.load_state_dict(neck_state(converted), strict=True)
        outs = fresh(inputs)
    assert max_relative_error(before, refs) > 1e-2  # the fresh neck really differed before loading
    assert max_relative_error(outs, refs) <= 1e-5


@pytest.mark.parametrize('type_name', NECKS)
def test_release_names_follow_the_document(type_name):
    """release_state_dict (used to write release-named test files) agrees with the document's table, and the
    mapped tensors have the document's shapes at the paper's width."""
    neck = build(type_name, channels=[256, 512, 1024, 2048], out=256)
    state = {'neck.' + k: v for k, v in neck.state_dict().items()}
    ours = release.release_state_dict(state)
    assert set(ours) == set(release_named(neck.state_dict(), fusion_of(type_name)))
    for key, value in ours.items():
        suffix = key.split('.', 3)[3]
        if key.startswith('neck.fpn_convs.') and suffix in DOC_SHAPES:
            assert tuple(value.shape) == DOC_SHAPES[suffix], key
    assert tuple(ours['neck.lateral_convs.3.conv.weight'].shape) == (256, 2048, 1, 1)
    converted = release.convert_state_dict(ours)
    assert release.convert_state_dict(converted) is converted  # converting twice is a no-op


def test_swapped_norm_mapping_is_caught_by_the_outputs(monkeypatch):
    """The round-trip comparison can fail: swapping the query and key/value norms of MSCA changes the outputs."""
    original = randomised(build('MSCAAdp'), seed=0)
    inputs = features()
    named = release_named(original.state_dict(), 'cross')
    swapped = (('norm1_1', 'norm_kv'), ('norm1_2', 'norm1'), ('norm1_3', 'norm2'))
    monkeypatch.setitem(release._NORM_ROLES, 'cross', swapped)
    with torch.no_grad():
        outs = reload('MSCAAdp', release.convert_state_dict(named))(inputs)
        refs = original(inputs)
    assert max_relative_error(outs, refs) > 1e-3


def test_swapped_self_attention_norms_are_caught_too(monkeypatch):
    original = randomised(build('MSSA'), seed=0)
    named = release_named(original.state_dict(), 'self')
    monkeypatch.setitem(release._NORM_ROLES, 'self', (('norm1', 'norm2'), ('norm2', 'norm1')))
    with torch.no_grad():
        assert max_relative_error(reload('MSSA', release.convert_state_dict(named))(features()),
                                  original(features())) > 1e-3


def test_this_projects_names_and_plain_fpn_pass_unchanged():
    neck = build('MSSAAdp')
    ours = {'neck.' + k: v for k, v in neck.state_dict().items()}
    assert release.convert_state_dict(ours) is ours
    fpn = {'neck.lateral_convs.0.conv.weight': torch.zeros(1), 'neck.fpn_convs.0.conv.weight': torch.zeros(1)}
    assert release.convert_state_dict(fpn) is fpn and release.naming(fpn) == 'afa'


def test_unknown_and_missing_neck_keys_are_named():
    named = release_named(build('MSCA').state_dict(), 'cross')
    extra = dict(named, **{'neck.fpn_convs.1.ms_attn.sr.weight': torch.zeros(1)})
    with pytest.raises(release.ReleaseFormatError, match=r'unknown neck key\(s\) neck\.fpn_convs\.1\.ms_attn\.sr'):
        release.convert_state_dict(extra)
    short = dict(named)
    del short['neck.fpn_convs.2.norm1_3.bias']
    with pytest.raises(release.ReleaseFormatError, match=r'missing neck key\(s\) neck\.fpn_convs\.2\.norm1_3\.bias'):
        release.convert_state_dict(short)


def test_mmcv_checkpoint_dict_keeps_meta_and_drops_the_optimizer():
    named = release_named(build('MSSA').state_dict(), 'self')
    converted = release.convert_checkpoint({'meta': {'epoch': 12}, 'state_dict': named, 'optimizer': {'x': 1}})
    assert set(converted) == {'meta', 'state_dict'} and converted['meta'] == {'epoch': 12}
    assert release.naming(converted['state_dict']) == 'afa'
    assert release.origin(converted['meta']) == 'released' and release.origin({'afa_run_id': 'r'}) == 'trained'


def test_convert_command_writes_atomically_and_records_both_sha256(tmp_path):
    original = randomised(build('MSCAAdpMS'), seed=3)
    src, dst = str(tmp_path / 'final.pth'), str(tmp_path / 'out' / 'final_afa.pth')
    torch.save({'meta': {'epoch': 12}, 'state_dict': release_named(original.state_dict(), 'cross'),
                'optimizer': {'state': {}}}, src)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, '-m', 'afa.cli', 'release', 'convert', src, dst],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    record = json.load(open(layout.conversion_record_path(dst)))
    assert record['source_sha256'] == sha256_file(src) and record['converted_sha256'] == sha256_file(dst)
    assert record['source_naming'] == 'release' and record['origin'] == 'released'
    assert [p.name for p in (tmp_path / 'out').iterdir() if 'tmp' in p.name] == []
    converted = release.read_checkpoint(dst)
    assert converted['meta']['afa_converted_from']['sha256'] == record['source_sha256']
    with torch.no_grad():
        outs = reload('MSCAAdpMS', converted['state_dict'])(features())
        assert max_relative_error(outs, original(features())) <= 1e-5
    again = subprocess.run([sys.executable, '-m', 'afa.cli', 'release', 'convert', dst, str(tmp_path / 'b.pth')],
                           capture_output=True, text=True, env=env)  # already converted: a no-op copy
    assert again.returncode == 0, again.stderr
    assert json.load(open(layout.conversion_record_path(str(tmp_path / 'b.pth'))))['source_naming'] == 'afa'


def test_convert_command_refuses_a_broken_file_in_one_line(tmp_path):
    bad = tmp_path / 'final.pth'
    bad.write_bytes(b'not a checkpoint')
    result = subprocess.run([sys.executable, '-m', 'afa.cli', 'release', 'convert', str(bad),
                             str(tmp_path / 'x.pth')], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert result.returncode == 2 and 'cannot read checkpoint' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / 'x.pth').exists()

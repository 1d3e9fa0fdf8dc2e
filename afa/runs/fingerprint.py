"""A run's fingerprint: what its resolved config says, so that a run folder is never reused for another config.

A finished or partly trained run whose config differs from the one now asked for (another --smoke-epochs,
other --cfg-options, an edited config file) is refused with the differing keys, instead of being reported
"already trained" or resumed into a mix of two configs. Left out: what legitimately differs between two starts
of one run (its folder, the resume point, the devices, data-loader workers, logging), and where the dataset and
weights live (the same data may move between machines; its content is checked by `afa data verify`).
"""
import datetime
import hashlib
import json
import os

from afa.runs import layout
from afa.utils.atomic import write_json
from afa.runs.checkpoints import numbered_checkpoints
from afa.utils.errors import AfaError

VOLATILE = ('work_dir', 'resume_from', 'gpu_ids', 'device', 'data.workers_per_gpu', 'log_config', 'log_level')
DATA_ROOT = '$DATA_ROOT/'
PRETRAINED = '$PRETRAINED/'


def _flatten(node, prefix, out):
    if isinstance(node, dict):
        if not node and prefix:
            out[prefix] = {}
        for key, value in node.items():
            _flatten(value, '%s.%s' % (prefix, key) if prefix else str(key), out)
    elif isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        for index, value in enumerate(node):
            _flatten(value, '%s.%d' % (prefix, index), out)
    else:
        out[prefix] = node
    return out


def _relocated(value, spec):
    if isinstance(value, str):
        for root, token in ((spec.data_root, DATA_ROOT), (spec.pretrained_dir, PRETRAINED)):
            if value.startswith(root):
                return token + value[len(root):]
    return value


def compute(cfg, spec):
    """{'sha256': ..., 'config': {dotted key: value}} of a resolved config (before training mutates it)."""
    plain = json.loads(json.dumps(cfg._cfg_dict.to_dict(), sort_keys=True, default=str))
    flat = _flatten(plain, '', {})
    keys = {k: _relocated(v, spec) for k, v in flat.items()
            if not any(k == v_ or k.startswith(v_ + '.') for v_ in VOLATILE)}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()
    return {'sha256': digest, 'config': keys}


def differences(old, new, limit=6):
    """Human-readable 'key: old -> new' lines (at most ``limit``, then a count)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, '<unset>') != new.get(key, '<unset>'):
            lines.append('%s: %s -> %s' % (key, json.dumps(old.get(key, '<unset>')),
                                           json.dumps(new.get(key, '<unset>'))))
    if len(lines) > limit:
        lines = lines[:limit] + ['... and %d more' % (len(lines) - limit)]
    return lines


def has_training(run_folder):
    """True once a run folder holds a checkpoint or the finished marker."""
    return os.path.exists(layout.done_path(run_folder)) or bool(numbered_checkpoints(run_folder))


def read(run_folder):
    path = layout.fingerprint_path(run_folder)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise AfaError('%s is unreadable (%s); move it away to adopt the current config for this run'
                       % (path, e)) from None


def move_aside(run_folder):
    """Move a run folder to RUNS/SCALE/.replaced/RUN-TIMESTAMP (never deleted); returns the new path."""
    target = layout.replaced_path(run_folder, datetime.datetime.now().strftime('%Y%m%d-%H%M%S'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(run_folder, target)
    return target


def check(run_folder, fingerprint, run_id):
    """Refuse a run folder trained under another config; record the fingerprint of a new run."""
    if not has_training(run_folder):
        write_json(layout.fingerprint_path(run_folder), fingerprint)
        return
    previous = read(run_folder)
    if previous is None:  # trained before fingerprints were recorded: adopt the current config
        write_json(layout.fingerprint_path(run_folder), fingerprint)
        return
    if previous.get('sha256') == fingerprint['sha256']:
        return
    diff = differences(previous.get('config', {}), fingerprint['config'])
    raise AfaError('%s was trained with another config than the one now asked for (%s); to keep both, start a '
                   'separate run (another --seed or --runs-root); to replace it, add --retrain (the old run is '
                   'moved to %s, never deleted)' % (run_folder, '; '.join(diff) or 'same keys, other values',
                                                    os.path.join(os.path.dirname(run_folder), layout.REPLACED_DIR)))

"""From a row id (or a config path) to the exact mmcv Config a run uses, and where the run lives.

One place decides the data root, the pretrained-weights folder, the scale (layout.SCALES), the precision and
the work directory, so that `afa train` and `afa test` (and Snakemake, through them) always agree.
"""
import copy
import hashlib
import json
import os
import sys

from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.utils.cfg_walk import walk_dicts
from afa.utils.errors import AfaError
from afa.runs.precision import apply_precision, resolve_precision

DEFAULT_DATA_ROOT = 'data/coco/'
DEFAULT_PRETRAINED = 'data/pretrained/'
SCALES = layout.SCALES


class RunSpec(object):
    """What a run is: its id, source config, scale and the overrides on top."""

    def __init__(self, target, zoo=None, scale='paper', data_root=None, pretrained_dir=None,
                 runs_root=layout.RUNS_ROOT, precision='fp32', cfg_options=None, smoke_epochs=2, seed=0,
                 batch=None):
        if scale not in SCALES:
            raise AfaError('unknown scale %r; expected one of %s' % (scale, SCALES))
        self.scale = scale
        self.seed = int(seed)
        if self.seed < 0:
            raise AfaError('--seed must be 0 or more, got %d' % self.seed)
        if int(smoke_epochs) < 1:
            raise AfaError('--smoke-epochs must be 1 or more, got %s' % smoke_epochs)
        self.requested_precision = precision
        self.precision = resolve_precision(precision)
        self.smoke_epochs = smoke_epochs
        from afa.runs import rehearsal
        rehearsing = scale == 'rehearsal'
        self.data_root = _dir(data_root or (rehearsal.DATA_ROOT if rehearsing else DEFAULT_DATA_ROOT))
        self.pretrained_dir = _dir(pretrained_dir or (rehearsal.PRETRAINED_DIR if rehearsing else DEFAULT_PRETRAINED))
        # Which backbone file serves (afa.data.standin.describe_backbone; None: from scratch), set by the commands
        # that load it (train, test) and recorded in their files through describe().
        self.backbone_weights = None
        self.cfg_options = dict(cfg_options or {})
        self.user_cfg_options = dict(self.cfg_options)  # checked against the config's keys (variants are not)
        self.variant_options = {}
        self.overridden = {}  # {option key: {'given', 'used', 'by'}}, filled by build_config
        if target.endswith('.py') or os.sep in target:
            if not os.path.isfile(target):
                raise AfaError('config file %s does not exist' % target)
            zoo = zoo or zoo_mod.load()
            target = row_of_config_file(target, zoo) or target
        if target.endswith('.py') or os.sep in target:
            self.row, self.variant = None, None
            self._set_batch(batch)
            self.run_id = layout.run_id(os.path.splitext(os.path.basename(target))[0], precision, self.seed,
                                        self.explicit_batch)
            self.config_path = target
        else:
            zoo = zoo or zoo_mod.load()
            self.row, self.variant, variant_options = zoo.lookup(target)
            self._set_batch(batch)
            # The requested precision names the run: the workflow knows it without importing apex.
            self.run_id = layout.run_id(target, precision, self.seed, self.explicit_batch)
            self.config_path = self.row.config_path()
            self.variant_options = dict(variant_options)
            self.cfg_options = dict(variant_options, **self.cfg_options)
        self._folder_path = layout.run_dir(runs_root, scale, self.run_id)  # RUNS_ROOT/SCALE/RUN_ID: self.folder

    @property
    def folder(self):
        """The run's folder (afa/runs/folder.py): its lock, checkpoints and records."""
        from afa.runs.folder import RunFolder
        return RunFolder(self._folder_path)

    def _set_batch(self, batch):
        """``batch``: images per optimizer step; the recipe's (the row's gpus x imgs_per_gpu) unless asked for."""
        from afa.runs import rehearsal, smoke
        if self.scale == 'smoke':
            self.recipe_batch = smoke.BATCH
        elif self.scale == 'rehearsal':
            self.recipe_batch = rehearsal.batch(self.row, zoo_mod.PAPER_IMGS_PER_GPU)
        else:
            self.recipe_batch = zoo_mod.recipe_batch(self.row)
        if batch is not None and int(batch) < 1:
            raise AfaError('--batch must be 1 or more, got %s' % batch)
        self.batch = int(batch) if batch else self.recipe_batch
        # Another batch is another recipe: its own run id (-batchB), never pooled with the paper's.
        self.explicit_batch = self.batch if self.batch != self.recipe_batch else None

    def build_config(self):
        """The mmcv Config of this run, every override applied."""
        from mmcv import Config
        try:
            cfg = Config.fromfile(self.config_path)
        except Exception as e:  # mmcv raises bare Exceptions for syntax and _base_ problems
            raise AfaError('cannot load config %s: %s' % (self.config_path, e))
        for options, checked in ((self.variant_options, False), (self.user_cfg_options, True)):
            if not options:
                continue
            if checked:
                options = check_overrides(cfg._cfg_dict.to_dict(), options, self.config_path)
            try:
                cfg.merge_from_dict(options)
            except (TypeError, KeyError, ValueError, AttributeError) as e:
                raise AfaError('cannot apply the config overrides %s to %s: %s'
                               % (options, self.config_path, e))
        stages = []  # (what changed the config, the config after it): to find who overrode an option
        plain = _rebase(cfg._cfg_dict.to_dict(), DEFAULT_DATA_ROOT, self.data_root)
        plain = _rebase(plain, DEFAULT_PRETRAINED, self.pretrained_dir)
        stages.append(('--data-root/--pretrained-dir', copy.deepcopy(plain)))
        if self.scale == 'smoke':
            from afa.runs.smoke import CATEGORIES, shrink
            plain = shrink(plain, epochs=self.smoke_epochs)
            _set_classes(plain['data'], tuple(c['name'] for c in CATEGORIES))
            stages.append(('the smoke scale', copy.deepcopy(plain)))
        elif self.scale == 'rehearsal':
            from afa.runs.rehearsal import rehearse
            plain = rehearse(plain)
            stages.append(('the rehearsal scale', copy.deepcopy(plain)))
        plain['work_dir'] = self._folder_path  # mmcv's name for the run folder
        stages.append(('the run layout (RUNS_ROOT/SCALE/RUN_ID)', copy.deepcopy(plain)))
        apply_precision(plain, self.precision)
        stages.append(('--precision %s' % self.precision, plain))
        self.overridden = overridden_options(self.cfg_options, stages)
        for key, what in sorted(self.overridden.items()):
            print('afa: the option %s=%r is overridden by %s: the run uses %r (run.json records both)'
                  % (key, what['given'], what['by'], what['used']), file=sys.stderr, flush=True)
        return Config(plain, filename=self.config_path)

    def describe(self):
        return {'run_id': self.run_id, 'row': self.row.id if self.row else None, 'variant': self.variant,
                'config': self.config_path, 'scale': self.scale, 'precision': self.precision,
                'requested_precision': self.requested_precision, 'seed': self.seed,
                'data_root': self.data_root, 'backbone_weights': self.backbone_weights, 'cfg_options': self.cfg_options,
                'cfg_options_overridden': dict(self.overridden), 'batch': self.batch,
                'recipe_batch': self.batch == self.recipe_batch}


def row_of_config_file(path, zoo):
    """The row id whose config ``path`` is (the same file: it is that row, whatever the path), else None after
    refusing a file named like a row: its run id would be the row's, so its run would take the row's folder and
    line in the tables while training something else. A run counts for a row by what it trains, never by a name."""
    for row in zoo:
        other = row.config_path()
        if os.path.isfile(other) and os.path.samefile(path, other):
            return row.id
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        named = layout.parse_run_id(stem)
    except ValueError:
        return None
    if named.row in zoo.ids():
        raise AfaError('config file %s is named like the row %s, but it is not that row\'s config (%s): its run '
                       'would take the row\'s run folder and line in the tables. Rename the file (e.g. my_%s.py) to '
                       'train it as a run of its own, or train the row by its id (`afa train %s`)'
                       % (path, named.row, zoo.row(named.row)['config'], stem, named.row))
    return None


ADD_PREFIX = '+'
_MISSING = object()


def _leaves(key, value):
    """(dotted key, value) of every leaf of one option (a dict value sets each of its keys; _delete_ is mmcv's)."""
    key = key[len(ADD_PREFIX):] if key.startswith(ADD_PREFIX) else key
    if isinstance(value, dict):
        for k, v in value.items():
            if k != '_delete_':
                for leaf in _leaves('%s.%s' % (key, k), v):
                    yield leaf
    else:
        yield key, value


def _get(plain, key):
    node = plain
    for part in key.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _as_lists(value):
    return [_as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def _same(a, b):
    return _as_lists(a) == _as_lists(b)


def overridden_options(options, stages):
    """{key: {'given', 'used', 'by'}} of the option leaves whose value in the final config is not the one given,
    with the first stage ((name, config) in order) that changed it."""
    found = {}
    for option, value in options.items():
        for key, given in _leaves(option, value):
            for name, plain in stages:
                used = _get(plain, key)
                if not _same(used, given):
                    final = _get(stages[-1][1], key)
                    found[key] = {'given': given, 'used': None if final is _MISSING else final, 'by': name}
                    break
    return found


def check_overrides(plain, options, config_path):
    """The --cfg-options with every key checked against the config (mmcv would silently add a misspelt key)
    and every number given a number; ``+KEY`` adds a key the config lacks on purpose. Returns the options as
    mmcv's merge_from_dict takes them."""
    merged = {}
    for key, value in options.items():
        add = key.startswith(ADD_PREFIX)
        key = key[len(ADD_PREFIX):] if add else key
        node, parts = plain, key.split('.')
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = '.'.join(parts[:depth]) or 'the config'
            if isinstance(node, dict) and part in node:
                child = node[part]
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                child = node[int(part)]
            elif last and add and isinstance(node, dict):
                child = None
                break
            else:
                known = ', '.join(sorted(map(str, node))[:12]) if isinstance(node, dict) else (
                    'indices 0-%d' % (len(node) - 1) if isinstance(node, (list, tuple)) else 'nothing (a value)')
                raise AfaError('--cfg-options %s: %s has no key %r (it has %s) in %s; check the spelling, or write '
                               '%s%s=... to add a new key on purpose' % (key, where, part, known, config_path,
                                                                         ADD_PREFIX, key))
            node = child
        _check_type(key, child, value)
        merged[key] = value
    return merged


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(key, current, value):
    if value is None or current is None:
        return
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise AfaError('--cfg-options %s needs true or false (now %s), got %r' % (key, current, value))
    elif _is_number(current):
        if not _is_number(value):
            raise AfaError('--cfg-options %s needs a number (now %s), got %r' % (key, current, value))
    elif isinstance(current, (list, tuple)) and current and all(_is_number(v) for v in current):
        if not (_is_number(value) or (isinstance(value, (list, tuple)) and all(_is_number(v) for v in value))):
            raise AfaError('--cfg-options %s needs numbers like %s, got %r' % (key, list(current), value))


def config_hash(cfg):
    """sha256 of the fully resolved config (sorted JSON of its dict), independent of file layout."""
    text = json.dumps(cfg._cfg_dict.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _dir(path):
    return path if path.endswith('/') else path + '/'


def _rebase(node, old, new):
    """Replace the prefix ``old`` of every string path in a nested structure by ``new``."""
    if old == new:
        return node
    if isinstance(node, dict):
        return {k: _rebase(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, old, new) for v in node]
    if isinstance(node, tuple):
        return tuple(_rebase(v, old, new) for v in node)
    if isinstance(node, str) and node.startswith(old):
        return new + node[len(old):]
    return node


def _set_classes(data, classes):
    def visit(node):
        if node.get('type') == 'CocoDataset':
            node['classes'] = classes
    walk_dicts(data, visit)

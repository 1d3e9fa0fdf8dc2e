"""The row list (configs/zoo.yaml): every table row with its config, metadata and the paper's numbers.

Light on purpose (PyYAML only): the CLI, Snakemake and the table generator read it without torch or mmdet.
"""
import difflib
import os

import yaml

from afa.runs.layout import VARIANT_SEPARATOR
from afa.utils.errors import AfaError
from afa.utils.repo import REPO_ROOT

DEFAULT_ZOO = os.path.join(REPO_ROOT, 'configs', 'zoo.yaml')
ROW_FIELDS = ('id', 'config', 'table', 'schedule', 'model', 'module', 'backbone', 'gpus', 'imgs_per_gpu', 'paper')
PAPER_FIELDS = ('box_val', 'box_testdev', 'mask_val', 'mask_testdev')
# mmdet's convention for a config outside the zoo: 8 GPUs x 2 images.
PAPER_GPUS = 8
PAPER_IMGS_PER_GPU = 2


class ZooError(AfaError, ValueError):
    """A problem with the row list or a row name, phrased for the user."""


class Row(dict):
    """One row of configs/zoo.yaml (a dict with attribute access for the common fields)."""

    @property
    def id(self):
        return self['id']

    @property
    def control(self):
        return bool(self.get('control', False))

    def config_path(self, root=REPO_ROOT):
        return os.path.join(root, self['config'])


def recipe_batch(row):
    """Images per optimizer step in a row's recipe (gpus x imgs_per_gpu of configs/zoo.yaml): the effective batch
    that every layout of the row keeps (afa/planning/batch.py). ``row`` None: a config outside the zoo."""
    if row is None:
        return PAPER_GPUS * PAPER_IMGS_PER_GPU
    return int(row['gpus']) * int(row['imgs_per_gpu'])


class Zoo(object):
    """The parsed and validated row list."""

    def __init__(self, path=DEFAULT_ZOO):
        self.path = path
        try:
            with open(path) as f:
                data = yaml.safe_load(f)
        except OSError as e:
            raise ZooError('cannot read the row list %s: %s' % (path, e))
        except yaml.YAMLError as e:
            raise ZooError('%s is not valid YAML: %s' % (path, e))
        self.tables = data.get('tables') or {}
        self.variants = data.get('variants') or {}
        self.rows = [Row(r) for r in data.get('rows') or []]
        self._validate()
        self._by_id = {r.id: r for r in self.rows}

    def _validate(self):
        seen = set()
        for index, row in enumerate(self.rows):
            where = '%s, row %d (%s)' % (self.path, index + 1, row.get('id', 'no id'))
            missing = [f for f in ROW_FIELDS if f not in row]
            if missing:
                raise ZooError('%s: missing field(s) %s' % (where, ', '.join(missing)))
            if row.id in seen:
                raise ZooError('%s: duplicate id %r' % (where, row.id))
            if VARIANT_SEPARATOR in row.id:
                raise ZooError('%s: ids may not contain %r' % (where, VARIANT_SEPARATOR))
            seen.add(row.id)
            if row['table'] not in self.tables:
                raise ZooError('%s: table %r is not declared under "tables" (%s)'
                               % (where, row['table'], ', '.join(self.tables)))
            bad = [f for f in PAPER_FIELDS if f not in (row['paper'] or {})]
            if bad:
                raise ZooError('%s: paper numbers lack %s (use null where the paper gives none)'
                               % (where, ', '.join(bad)))
        for name, variant in self.variants.items():
            unknown = [r for r in variant.get('applies_to', []) if r not in seen]
            if unknown:
                raise ZooError('%s: variant %r applies to unknown row(s) %s' % (self.path, name, unknown))

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def ids(self):
        return [r.id for r in self.rows]

    def row(self, row_id):
        """The row named ``row_id``; an unknown name is an error that lists close matches."""
        if row_id in self._by_id:
            return self._by_id[row_id]
        close = difflib.get_close_matches(row_id, self.ids(), n=3)
        hint = ('; did you mean %s?' % ' or '.join(close)) if close else '; `afa zoo` lists them'
        raise ZooError('unknown row %r in %s%s' % (row_id, self.path, hint))

    def select(self, tables=None, row_ids=None):
        """Rows of the given tables (names from ``tables``) and/or ids, in the file's order."""
        if tables:
            unknown = [t for t in tables if t not in self.tables]
            if unknown:
                raise ZooError('unknown table(s) %s; known: %s' % (unknown, ', '.join(self.tables)))
        wanted = set(row_ids or [])
        for row_id in wanted:
            self.row(row_id)
        return [r for r in self.rows
                if (not tables and not wanted) or (tables and r['table'] in tables) or r.id in wanted]

    def lookup(self, target):
        """(row, variant name or None, cfg_options) for ``ROW`` or ``ROW+VARIANT``."""
        row_id, _, variant = target.partition(VARIANT_SEPARATOR)
        row = self.row(row_id)
        if not variant:
            return row, None, {}
        if variant not in self.variants:
            raise ZooError('unknown variant %r; known: %s' % (variant, ', '.join(self.variants) or 'none'))
        spec = self.variants[variant]
        if row.id not in spec.get('applies_to', []):
            raise ZooError('variant %r does not apply to %s (it applies to %s)'
                           % (variant, row.id, ', '.join(spec.get('applies_to', []))))
        return row, variant, dict(spec.get('cfg_options') or {})


def load(path=None):
    """The row list at ``path`` (default: configs/zoo.yaml of this checkout, or $AFA_ZOO)."""
    return Zoo(path or os.environ.get('AFA_ZOO') or DEFAULT_ZOO)

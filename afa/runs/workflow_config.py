"""The workflow's config checked before any rule is read: `--config` values coerced, the schema's verdict and
unknown rows as one line each (Snakemake would print a jsonschema dump or traceback frames).

Snakemake passes list items given on the command line as strings (``--config seeds=[0,1,2]`` gives
``['0', '1', '2']``): where the schema wants integers or numbers, a string that spells one is converted first,
so the README's commands work as written. jsonschema is imported here only (Snakemake's environment has it).
"""
import re
import sys

from afa.utils.errors import AfaError

_INTEGER = re.compile(r'^[+-]?[0-9]+$')
_NUMBER = re.compile(r'^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$')


class WorkflowConfigError(AfaError):
    """A config value the workflow cannot run with; the message names the key."""


def _types(schema):
    kind = schema.get('type')
    return set(kind) if isinstance(kind, list) else {kind}


def coerce(value, schema):
    """``value`` with the strings that spell the schema's integers or numbers converted (recursively)."""
    if not isinstance(schema, dict):
        return value
    kinds = _types(schema)
    if isinstance(value, str) and 'string' not in kinds:
        text = value.strip()
        if 'integer' in kinds and _INTEGER.match(text):
            return int(text)
        if 'number' in kinds and _NUMBER.match(text):
            return float(text)
        if 'boolean' in kinds and text.lower() in ('true', 'false'):
            return text.lower() == 'true'
    if isinstance(value, list) and isinstance(schema.get('items'), dict):
        return [coerce(v, schema['items']) for v in value]
    if isinstance(value, dict):
        props = schema.get('properties') or {}
        return {k: coerce(v, props.get(k)) for k, v in value.items()}
    return value


def _where(error):
    return '.'.join(str(p) if not isinstance(p, int) else '[%d]' % p for p in error.absolute_path).replace('.[', '[')


def describe(error):
    """One line for a jsonschema ValidationError: the key, what it must be, what it is."""
    where = _where(error) or 'the config'
    kind, expected, got = error.validator, error.validator_value, error.instance
    if kind == 'minimum':
        what = 'must be >= %s, got %r' % (expected, got)
    elif kind == 'maximum':
        what = 'must be <= %s, got %r' % (expected, got)
    elif kind == 'type':
        what = 'must be %s, got %r' % (' or '.join(expected) if isinstance(expected, list) else expected, got)
    elif kind == 'enum':
        what = 'must be one of %s, got %r' % (', '.join(map(str, expected)), got)
    elif kind == 'pattern':
        what = '%r is not allowed (it must match %s)' % (got, expected)
    elif kind in ('minItems', 'minLength'):
        what = 'must have at least %s item(s)' % expected if kind == 'minItems' else 'must not be empty'
    elif kind == 'uniqueItems':
        what = 'lists a value twice: %r' % (got,)
    elif kind == 'additionalProperties':
        known = sorted((error.schema.get('properties') or {}))
        extra = sorted(set(got) - set(known)) if isinstance(got, dict) else []
        what = 'has unknown key(s) %s (known: %s)' % (', '.join(extra), ', '.join(known))
    elif kind == 'required':
        what = error.message
    else:
        what = error.message.splitlines()[0]
    return 'config %s: %s' % (where, what)


def check(config, schema_path, zoo=None):
    """Coerce ``config`` in place and check it against the schema and the zoo's rows; WorkflowConfigError
    (one line) for the first problem."""
    import jsonschema
    import yaml
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    config.update(coerce(dict(config), schema))
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise WorkflowConfigError(describe(error))
    rows = config.get('rows') or []
    if rows:
        from afa.runs import zoo as zoo_mod
        zoo = zoo or zoo_mod.load()
        for name in rows:
            try:
                zoo.lookup(name)
            except AfaError as e:
                raise WorkflowConfigError('config rows: %s (`afa zoo --ids` lists the rows)' % e) from None
            except KeyError as e:
                raise WorkflowConfigError('config rows: %s (`afa zoo --ids` lists the rows)' % e.args[0]) from None


def check_or_exit(config, schema_path):
    """check(), ending the Snakemake process with one line and exit status 2 when the config is wrong."""
    try:
        check(config, schema_path)
    except WorkflowConfigError as e:
        print('afa workflow: error: %s' % e, file=sys.stderr, flush=True)
        sys.exit(2)


def read(path):
    """A workflow config file (config/config.yaml, .test/config/config.yaml) as a dict; one line when it cannot
    be read as one."""
    import yaml
    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise AfaError('--config %s: cannot read it as a workflow config (%s)' % (path, e)) from None
    if not isinstance(config, dict):
        raise AfaError('--config %s is not a workflow config (it holds a %s, not YAML keys such as rows, seeds, '
                       'scale); pass config/config.yaml or .test/config/config.yaml' % (path, type(config).__name__))
    return config


def selected_targets(config, zoo):
    """ROW or ROW+VARIANT names a workflow config selects: its explicit rows (each checked, an unknown one named
    with the nearest), else every row of its tables. The workflow and `afa status --config` both ask here."""
    rows = list(config.get('rows') or [])
    for name in rows:
        zoo.lookup(name)
    return rows or [r.id for r in zoo.select(tables=config.get('tables'))]

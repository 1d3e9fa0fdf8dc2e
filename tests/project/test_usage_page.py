"""docs/usage.md's reference is generated from its owners (the `afa` parsers, the Makefile, the workflow's config
schema) and committed: it fails here when the page is out of date, and the generator is checked against an
independent walk of the same owners (every flag, target and key appears)."""
import argparse
import os
import re

import pytest
import yaml

from afa import usage_page
from conftest import REPO


def committed():
    with open(os.path.join(REPO, usage_page.PAGE), encoding='utf-8') as f:
        return f.read()


def test_the_committed_page_is_up_to_date():
    page = committed()
    assert usage_page.render(page) == page, (
        '%s is out of date: run `python -m afa.usage_page` and commit it' % usage_page.PAGE)
    assert usage_page.main(['--check']) == 0


def _parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_command_flag_target_and_config_key_is_on_the_page():
    reference = committed().split(usage_page.MARKER)[1]
    flags = {o for p in _parsers(usage_page.top_parser()) for a in p._actions for o in a.option_strings}
    flags -= {'-h', '--help'}
    missing = sorted(f for f in flags if '`%s' % f not in reference)
    with open(os.path.join(REPO, 'Makefile')) as f:
        targets = [t for t in re.findall(r'^([a-z][\w-]*):', f.read(), re.M) if t not in ('help', 'setup')]
    missing += ['make ' + t for t in targets if '`make %s`' % t not in reference]
    with open(os.path.join(REPO, usage_page.SCHEMA)) as f:
        schema = yaml.safe_load(f)

    def keys(node, prefix=''):
        for key, sub in node.get('properties', {}).items():
            yield prefix + key
            yield from keys(sub, prefix + key + '.')
    missing += ['config ' + k for k in keys(schema) if '| `%s` |' % k not in reference]
    assert not missing, 'not in %s: %s' % (usage_page.PAGE, missing)


def test_a_new_flag_or_key_changes_the_page(tmp_path):
    parser = usage_page.top_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices['zoo'].add_argument('--brand-new', action='store_true', help='a flag nobody documented')
    assert '| `--brand-new` |  | a flag nobody documented |' in usage_page.generated(parser=parser)
    page = committed()
    assert usage_page.render(page, parser=parser) != page
    for name in ('Makefile', usage_page.SCHEMA) + tuple(path for _, path in usage_page.CONFIGS):
        os.makedirs(os.path.dirname(str(tmp_path / name)), exist_ok=True)
        with open(os.path.join(REPO, name)) as f, open(str(tmp_path / name), 'w') as out:
            out.write(f.read())
    schema_path = str(tmp_path / usage_page.SCHEMA)
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    schema['properties']['brand_new'] = {'type': 'boolean', 'description': 'a key nobody documented'}
    with open(schema_path, 'w') as f:
        yaml.safe_dump(schema, f)
    assert '| `brand_new` | boolean |  |  | a key nobody documented |' in usage_page.config_reference(str(tmp_path))


def test_a_page_without_its_marker_is_refused():
    with pytest.raises(ValueError, match='no marker line'):
        usage_page.render('# Usage\n\nno marker here\n')

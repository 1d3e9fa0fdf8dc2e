"""The reference part of docs/usage.md, generated from its owners so that it cannot drift: every `afa` command and
flag from the CLI's argument parsers, every `make` target from the Makefile's help, every workflow config key from
workflow/schemas/config.schema.yaml (with its value in the real run's and the smoke run's config files).

    python -m afa.usage_page           # rewrite docs/usage.md below its marker line
    python -m afa.usage_page --check   # exit 1 when the committed page is out of date (tests/project)

Everything above the marker is written by hand; everything below it is this module's. The text is built from the
parsers' actions, not from argparse's help output, whose layout changes between Python versions.
"""
import argparse
import os
import re
import sys

import yaml

from afa.utils.repo import REPO_ROOT as REPO

PAGE = os.path.join('docs', 'usage.md')
MARKER = '<!-- Generated below by `python -m afa.usage_page` from the parsers, the Makefile and the config schema: ' \
         'do not edit by hand. -->'
SCHEMA = os.path.join('workflow', 'schemas', 'config.schema.yaml')
CONFIGS = (('real run', os.path.join('config', 'config.yaml')), ('smoke run', os.path.join('.test', 'config',
                                                                                           'config.yaml')))


def top_parser():
    """The `afa` command's parser, from the CLI that owns it."""
    from afa import cli
    return cli.build_parser()


# ---------------------------------------------------------------------------------------------- commands

def _cell(text):
    return ' '.join(str(text).split()).replace('|', '\\|')


def _help(action, prog):
    """An action's help with argparse's %(...)s expanded, as `--help` prints it."""
    if not action.help or action.help == argparse.SUPPRESS:
        return ''
    params = dict(vars(action), prog=prog)
    for key, value in list(params.items()):
        if isinstance(value, (list, tuple)):
            params[key] = ', '.join(str(v) for v in value)
    return action.help % params


def _value(action):
    """How an option's value is written: METAVAR, {a|b}, with nargs' repetition."""
    if action.nargs == 0:
        return ''
    if action.metavar is not None:
        name = action.metavar if isinstance(action.metavar, str) else ' '.join(action.metavar)
    elif action.choices is not None:
        name = '{%s}' % '|'.join(str(c) for c in action.choices)
    else:
        name = action.dest.upper() if action.option_strings else action.dest
    if action.nargs == '?':
        return '[%s]' % name
    if action.nargs == '*':
        return '[%s ...]' % name
    if action.nargs == '+':
        return '%s [%s ...]' % (name, name)
    if isinstance(action.nargs, int) and action.nargs > 1:
        return ' '.join([name] * action.nargs)
    return name


def _default(action):
    if action.option_strings and action.nargs == 0:  # flags: store_true/false, counts, help, version
        return ''
    if action.default is None or action.default == argparse.SUPPRESS or action.required:
        return ''
    if isinstance(action.default, (list, tuple)):
        return ' '.join(str(v) for v in action.default)
    return str(action.default)


def _argument(action):
    value = _value(action)
    if not action.option_strings:
        return value
    return ', '.join('%s %s' % (o, value) if value else o for o in action.option_strings)


def _subcommands(parser):
    """(subparsers action, [(name, help, parser)]) of a parser, or (None, [])."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            return action, [(name, helps.get(name) or '', sub) for name, sub in action.choices.items()
                            if name in helps]
    return None, []


def _expand(text, prog):
    try:
        return text % dict(prog=prog)
    except (KeyError, ValueError, TypeError):
        return text


def _command_section(name, help_text, parser, depth, lines, seen):
    """One command's section, then its subcommands'. Arguments an earlier command already listed with the same
    meaning and default (the run options of train, plan and test) are named in one line instead of repeated."""
    lines += ['', '#' * depth + ' `%s`' % name, '']
    help_text = _expand(help_text, name)
    if help_text:
        lines += [help_text[0].upper() + help_text[1:] + ('' if help_text.endswith('.') else '.'), '']
    sub_action, subs = _subcommands(parser)
    rows = []
    for action in parser._actions:
        if action is sub_action or isinstance(action, argparse._HelpAction):
            continue
        rows.append(('| `%s`%s | %s | %s |' % (
            _cell(_argument(action)), ' (required)' if action.required and action.option_strings else '',
            _cell(_default(action)), _cell(_help(action, name))), action))
    shared = [(row, action) for row, action in rows if row in seen]
    by_command = {}
    for row, action in shared:
        by_command.setdefault(seen[row], []).append(action)
    folded = {row for row, _ in shared if len(by_command[seen[row]]) >= 3}
    own = [row for row, _ in rows if row not in folded]
    for row in own:
        seen.setdefault(row, name)
    if own:
        lines += ['| argument | default | what |', '|---|---|---|'] + own
    for command, actions in by_command.items():
        if len(actions) >= 3:
            lines += ['' if own else None, 'The options of `%s`, with the same meaning and defaults: %s.' % (
                command, ', '.join('`%s`' % (a.option_strings[-1] if a.option_strings else _argument(a))
                                   for a in actions))]
    lines[:] = [line for line in lines if line is not None]
    if subs:
        if rows:
            lines.append('')
        lines.append('Subcommands: %s.' % ', '.join('`%s`' % s for s, _, _ in subs))
        for sub_name, sub_help, sub_parser in subs:
            _command_section('%s %s' % (name, sub_name), sub_help, sub_parser, min(depth + 1, 4), lines, seen)


def commands_reference(parser=None):
    """Every command and flag of `afa`, one section per (sub)command, in the parsers' order."""
    parser = parser or top_parser()
    lines = ['## Reference: `afa` commands', '',
             '`afa --help` and `afa COMMAND --help` print the same. Bad input is one line naming the file or field '
             'and what to do (exit 2); `afa --debug COMMAND ...` shows the traceback instead.']
    _command_section('afa', '', parser, 3, lines, {})
    return lines


# ---------------------------------------------------------------------------------------------- make targets

def make_targets(makefile):
    """[(target, what)] from the Makefile's `help` target: `@echo "make TARGET   what"` and its continuations."""
    targets = []
    for text in re.findall(r'^\t@echo "(.*)"\s*$', makefile, re.M):
        match = re.match(r'make (\S+)\s+(.*)', text)
        if match:
            targets.append([match.group(1), match.group(2)])
        elif targets and text.startswith(' '):
            targets[-1][1] += ' ' + text.strip()
    return [tuple(t) for t in targets]


def make_reference(root=REPO):
    with open(os.path.join(root, 'Makefile')) as f:
        targets = make_targets(f.read())
    lines = ['## Reference: `make` targets', '', 'Each target sets up `.venv` first (seconds once it is ready).', '',
             '| target | what |', '|---|---|']
    lines += ['| `make %s` | %s |' % (name, _cell(what)) for name, what in targets]
    return lines


# ---------------------------------------------------------------------------------------------- config keys

def _type(node):
    kind = node.get('type', 'object' if 'properties' in node else '')
    kind = ' or '.join(kind) if isinstance(kind, list) else kind
    if 'enum' in node:
        return ' | '.join(str(v) for v in node['enum'])
    if kind == 'array' and 'items' in node:
        item = node['items']
        return 'list of %s' % (' | '.join(str(v) for v in item['enum']) if 'enum' in item else item.get('type'))
    return kind


def _shown(value):
    """A config value as YAML in one line."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    text = re.sub(r'\n\.\.\.$', '', text)
    return '`%s`' % _cell(text if text != "''" else '""')


_UNSET = object()


def _merged(base, over):
    """``over`` merged into ``base`` key by key, nested mappings too, as Snakemake merges config files."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _keys(node, prefix, required, configs, lines):
    for key, sub in node.get('properties', {}).items():
        name = prefix + key
        values = []
        for config in configs:
            for part in name.split('.'):
                config = config.get(part, _UNSET) if isinstance(config, dict) else _UNSET
            values.append('' if config is _UNSET or 'properties' in sub else _shown(config))  # objects: by key
        what = sub.get('description', '')
        if key in required:
            what += ' (required)'
        if 'default' in sub:
            what += ' (default: %s)' % _shown(sub['default'])
        lines.append('| `%s` | %s | %s | %s |' % (name, _cell(_type(sub)), ' | '.join(values), _cell(what)))
        _keys(sub, name + '.', sub.get('required', []), configs, lines)


def config_reference(root=REPO):
    """Every key of the workflow's config schema, with its value in each config file the repository ships."""
    with open(os.path.join(root, SCHEMA)) as f:
        schema = yaml.safe_load(f)
    configs = []
    for _, path in CONFIGS:
        with open(os.path.join(root, path)) as f:
            configs.append(yaml.safe_load(f) or {})
    real, smoke = configs
    lines = ['## Reference: workflow config keys', '',
             'Set in `%s` (the real run, always read first), in `%s` (the smoke run, merged over it) or on the '
             'command line (`--config KEY=VALUE`). A nested key is written with dots here and as YAML on the '
             'command line (`--config slurm="{partition: gpu}"`). Empty cells: not set there.'
             % (CONFIGS[0][1], CONFIGS[1][1]), '',
             '| key | type | %s | what |' % ' | '.join(label for label, _ in CONFIGS), '|---|---|---|---|---|']
    _keys(schema, '', schema.get('required', []), [real, _merged(real, smoke)], lines)
    return lines


# ---------------------------------------------------------------------------------------------- the page

def generated(root=REPO, parser=None):
    parts = [commands_reference(parser), make_reference(root), config_reference(root)]
    return '\n'.join(line for part in parts for line in [''] + part).lstrip('\n') + '\n'


def render(current, root=REPO, parser=None):
    """The page: ``current``'s hand-written part up to the marker, then the generated reference."""
    if MARKER not in current:
        raise ValueError('%s has no marker line %r: put it where the generated reference begins' % (PAGE, MARKER))
    return current[:current.index(MARKER)] + MARKER + '\n\n' + generated(root, parser)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m afa.usage_page', description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true', help='exit 1 when the committed page is out of date')
    args = parser.parse_args(argv)
    path = os.path.join(REPO, PAGE)
    with open(path, encoding='utf-8') as f:
        current = f.read()
    page = render(current)
    if args.check:
        if page != current:
            print('%s is out of date: run `python -m afa.usage_page` and commit the result' % PAGE, file=sys.stderr)
            return 1
        return 0
    if page != current:
        from afa.utils import atomic
        atomic.write_text(path, page)
        print('rewrote %s' % PAGE)
    return 0


if __name__ == '__main__':
    sys.exit(main())

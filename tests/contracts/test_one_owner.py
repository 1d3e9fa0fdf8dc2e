"""One owner per contract: each name the pipeline agrees on is spelled in one module and imported (or asked of the
`afa` command) everywhere else. A second spelling in code fails here, naming the file, the line and the owner.

Code is the package, the workflow (Snakemake, its YAML configs and profiles), the scripts, the images' entry points,
the benchmarks and the tests. Documentation (docstrings, help texts, markdown, YAML comments) may mention a name;
code may not construct it: the checks look for quoted literals and shell path pieces, not for words in prose. A
file that cannot import its owner (the workflow's JSON schema) holds a copy that a test below checks against it.
"""
import os
import re
import subprocess

import pytest

from conftest import REPO

from afa.runs import layout

# Files whose code is checked.
CODE_SUFFIXES = ('.py', '.smk', '.sh', '.yaml', '.yml')
CODE_FILES_WITHOUT_SUFFIX = ('Snakefile', 'workflow/Snakefile', 'docker/reproduce', 'docker/Dockerfile',
                             'docker/Dockerfile.modern', 'pyproject.toml')
CODE_FOLDERS = ('afa/', 'workflow/', 'scripts/', 'docker/', 'benchmarks/', 'tests/', 'config/', 'configs/', '.test/')
THIS_FILE = 'tests/contracts/test_one_owner.py'  # the checker spells the patterns it looks for
SCHEMA = 'workflow/schemas/config.schema.yaml'   # JSON Schema cannot import: test_the_schema_agrees_with_its_owners
NOT_SCANNED = (THIS_FILE, SCHEMA)
YAML_COMMENT = re.compile(r'(^|\s)#.*$')


def _tracked_files(root):
    """The files of ``root``: git's list in a checkout, every file below it in a copy without one."""
    if os.path.isdir(os.path.join(root, '.git')) or os.path.isfile(os.path.join(root, '.git')):
        return subprocess.check_output(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=root,
                                       universal_newlines=True).split()
    return [os.path.relpath(os.path.join(folder, name), root).replace(os.sep, '/')
            for folder, _, names in os.walk(root) for name in names]


def _code_files(root=REPO):
    return [f for f in _tracked_files(root) if os.path.isfile(os.path.join(root, f)) and (
        f in CODE_FILES_WITHOUT_SUFFIX or (f.startswith(CODE_FOLDERS) and f.endswith(CODE_SUFFIXES)))]


def _quoted(name):
    """A literal holding exactly ``name`` (or a path ending in it): 'x', "x", '/x', "{d}/x"."""
    return r'''(['"/])%s['"]''' % re.escape(name)


FILE_NAMES = [layout.RUN_FILE, layout.DONE_FILE, layout.METRICS_FILE, layout.RELEASED_METRICS_FILE,
              layout.LOCK_FILE, layout.FINGERPRINT_FILE, layout.COCO_VERIFIED, layout.SYNTHETIC_MARKER,
              layout.RELEASE_MARKER, layout.CURVES_FILE, layout.ALARM_FILE, layout.SEGMENTS_FILE, layout.ESTIMATE_FILE,
              layout.LATEST_CHECKPOINT, layout.CHECKPOINT_STAGING_PREFIX] + list(layout.TABLE_FILES.values())
# layout.TENSORBOARD_DIR is not checked: 'tensorboard' is also the package's name in pyproject.toml's groups.

CONTRACTS = [
    # (what, pattern of a second spelling, the one owner)
    ('the run-id grammar', r'\[a-z0-9_\]\+', 'afa/runs/layout.py'),
    ('the precision names', r'''['"]?fp32['"]?\s*[,|]\s*['"]?amp\b''', 'afa/runs/layout.py'),
    ('the paper necks', r'''['"]MSSAAdp['"]\s*,\s*['"]MSSAAdpMS['"]''', 'afa/models/necks/paper_necks.py'),
    ('the package version', r'''^\s*__version__\s*=|^version\s*=\s*['"]|AFA_VERSION=\d''', 'afa/__init__.py'),
    ('the checkpoint file names', r'epoch_(\{\}|%d|\{epoch\})(_iter_\S*)?\.pth|iter_(\{\}|%d)\.pth',
     'afa/runs/layout.py'),
] + [('the file name %s' % name, _quoted(name), 'afa/runs/layout.py') for name in FILE_NAMES]


def _second_spellings(pattern, owner, root=REPO):
    found = []
    for rel in _code_files(root):
        if rel == owner or rel in NOT_SCANNED:
            continue
        with open(os.path.join(root, rel), encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                code = YAML_COMMENT.sub('', line) if rel.endswith(('.yaml', '.yml')) else line
                if re.search(pattern, code, re.M):
                    found.append('%s:%d: %s' % (rel, number, line.strip()))
    return found


@pytest.mark.parametrize('what,pattern,owner', CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_each_contract_has_one_owner(what, pattern, owner):
    assert os.path.isfile(os.path.join(REPO, owner))
    found = _second_spellings(pattern, owner)
    assert not found, '%s is owned by %s; spelled again at:\n%s' % (what, owner, '\n'.join(found))


@pytest.mark.parametrize('rel,text', [
    ('afa/_contract_probe.py', 'DONE = %r\n' % layout.DONE_FILE),
    ('tests/runs/test_probe.py', "assert os.path.exists(os.path.join(run, '%s'))\n" % layout.DONE_FILE),
    ('workflow/profiles/probe/config.yaml', 'marker: "%s/%s"\n' % ('runs', layout.DONE_FILE)),
], ids=['package', 'test', 'yaml'])
def test_the_check_finds_a_second_spelling(tmp_path, rel, text):
    """The check itself can fail: a copied file name is found in a module, a test and a YAML file of a copy of
    the tree (never written into the source tree), and not in a YAML comment."""
    for owned in ('afa/runs/layout.py', rel):
        os.makedirs(os.path.dirname(str(tmp_path / owned)), exist_ok=True)
    with open(str(tmp_path / 'afa/runs/layout.py'), 'w') as f:
        f.write('DONE_FILE = %r\n' % layout.DONE_FILE)
    with open(str(tmp_path / rel), 'w') as f:
        f.write(text + '# the marker, %r, is written last\n' % layout.DONE_FILE * rel.endswith('.yaml'))
    found = _second_spellings(_quoted(layout.DONE_FILE), 'afa/runs/layout.py', root=str(tmp_path))
    assert found == ['%s:1: %s' % (rel, text.strip())]


def test_the_schema_agrees_with_its_owners():
    """The workflow's schema cannot import the package: its enums and patterns are checked against their owners."""
    import yaml
    from afa.data.coco import load_manifest
    from afa.runs import zoo as zoo_mod
    with open(os.path.join(REPO, SCHEMA)) as f:
        properties = yaml.safe_load(f)['properties']
    assert properties['precision']['enum'] == list(layout.PRECISIONS)
    assert sorted(properties['scale']['enum']) == sorted(layout.SCALES)
    assert properties['rows']['items']['pattern'] == '^{row}(\\+{row})?$'.format(row=layout.ROW_PATTERN)
    assert properties['tables']['items']['enum'] == list(zoo_mod.load().tables)
    assert sorted(properties['data']['properties']['coco_parts']['items']['enum']) == sorted(load_manifest()['parts'])


def test_the_version_has_one_source():
    """pyproject.toml reads the version from the package (no second copy to forget)."""
    import afa
    with open(os.path.join(REPO, 'pyproject.toml')) as f:
        text = f.read()
    assert re.search(r'^dynamic\s*=\s*\[.*"version".*\]', text, re.M)
    assert re.search(r'version\s*=\s*\{\s*attr\s*=\s*"afa.__version__"\s*\}', text)
    assert re.match(r'^\d+\.\d+\.\d+$', afa.__version__)

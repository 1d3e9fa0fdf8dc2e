"""One owner per contract: each name the pipeline agrees on is spelled in one module and imported (or asked of the
`afa` command) everywhere else. A second spelling in code fails here, naming the file, the line and the owner.

Documentation (docstrings, help texts, markdown) may mention a name; code may not construct it: the checks look for
quoted literals and shell path pieces, not for words in prose.
"""
import os
import re
import subprocess

import pytest

from conftest import REPO

from afa.runs import layout

# Files whose code is checked: the package, the workflow, the scripts, the images' entry points, the benchmarks.
CODE_SUFFIXES = ('.py', '.smk', '.sh')
CODE_FILES_WITHOUT_SUFFIX = ('Snakefile', 'workflow/Snakefile', 'docker/reproduce', 'docker/Dockerfile',
                             'docker/Dockerfile.modern')
CODE_FOLDERS = ('afa/', 'workflow/', 'scripts/', 'docker/', 'benchmarks/')


def _code_files():
    tracked = subprocess.check_output(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                                      universal_newlines=True).split()
    return [f for f in tracked if os.path.isfile(os.path.join(REPO, f)) and (
        f in CODE_FILES_WITHOUT_SUFFIX or (f.startswith(CODE_FOLDERS) and f.endswith(CODE_SUFFIXES)))]


def _quoted(name):
    """A literal holding exactly ``name`` (or a path ending in it): 'x', "x", '/x', "{d}/x"."""
    return r'''(['"/])%s['"]''' % re.escape(name)


FILE_NAMES = [layout.RUN_FILE, layout.DONE_FILE, layout.METRICS_FILE, layout.RELEASED_METRICS_FILE,
              layout.LOCK_FILE, layout.FINGERPRINT_FILE, layout.COCO_VERIFIED, layout.SYNTHETIC_MARKER,
              layout.RELEASE_MARKER, layout.CURVES_FILE, layout.ALARM_FILE] + list(layout.TABLE_FILES.values())
# layout.TENSORBOARD_DIR is not checked: 'tensorboard' is also the package's name in pyproject.toml's groups.

CONTRACTS = [
    # (what, pattern of a second spelling, the one owner)
    ('the run-id grammar', r'\[a-z0-9_\]\+', 'afa/runs/layout.py'),
    ('the precision names', r'''['"]?fp32['"]?\s*[,|]\s*['"]?amp\b''', 'afa/runs/layout.py'),
    ('the paper necks', r'''['"]MSSAAdp['"]\s*,\s*['"]MSSAAdpMS['"]''', 'afa/models/necks/paper_necks.py'),
    ('the package version', r'''^\s*__version__\s*=|^version\s*=\s*['"]|AFA_VERSION=\d''', 'afa/__init__.py'),
] + [('the file name %s' % name, _quoted(name), 'afa/runs/layout.py') for name in FILE_NAMES]


def _second_spellings(pattern, owner):
    found = []
    for rel in _code_files() + ['pyproject.toml']:
        if rel == owner or rel.startswith('tests/'):
            continue
        with open(os.path.join(REPO, rel), encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                if re.search(pattern, line, re.M):
                    found.append('%s:%d: %s' % (rel, number, line.strip()))
    return found


@pytest.mark.parametrize('what,pattern,owner', CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_each_contract_has_one_owner(what, pattern, owner):
    assert os.path.isfile(os.path.join(REPO, owner))
    found = _second_spellings(pattern, owner)
    assert not found, '%s is owned by %s; spelled again at:\n%s' % (what, owner, '\n'.join(found))


def test_the_check_finds_a_second_spelling(tmp_path, monkeypatch):
    """The check itself can fail: a copied file name in a new module is found."""
    stray = os.path.join(REPO, 'afa', '_contract_probe.py')
    with open(stray, 'w') as f:
        f.write("DONE = %r\n" % layout.DONE_FILE)
    try:
        found = _second_spellings(_quoted(layout.DONE_FILE), 'afa/runs/layout.py')
        assert "afa/_contract_probe.py:1: DONE = %r" % layout.DONE_FILE in found
    finally:
        os.remove(stray)


def test_the_version_has_one_source():
    """pyproject.toml reads the version from the package (no second copy to forget)."""
    import afa
    with open(os.path.join(REPO, 'pyproject.toml')) as f:
        text = f.read()
    assert re.search(r'^dynamic\s*=\s*\[.*"version".*\]', text, re.M)
    assert re.search(r'version\s*=\s*\{\s*attr\s*=\s*"afa.__version__"\s*\}', text)
    assert re.match(r'^\d+\.\d+\.\d+$', afa.__version__)

"""The project's own files: ruff is clean, the optional dependency groups name what requirements/ pins, and the
changelog, contributing note and citation are there and agree with the package."""
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO



def requirement_names(name):
    with open(os.path.join(REPO, 'requirements', name)) as f:
        return [m.group(1) for m in (re.match(r'^([A-Za-z0-9_.\-]+)==', line.strip()) for line in f) if m]


def pyproject():
    tomllib = pytest.importorskip('tomllib')  # Python 3.11+: the orchestrator environment
    with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
        return tomllib.load(f)


@pytest.mark.orchestrator
def test_ruff_is_clean():
    ruff = os.path.join(os.path.dirname(sys.executable), 'ruff')
    result = subprocess.run([ruff, 'check', '--output-format', 'concise', '--no-cache', '.'], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    findings = [line for line in result.stdout.splitlines() if re.match(r'^\S+:\d+:\d+: ', line)]
    assert result.returncode in (0, 1) and (findings or result.returncode == 0), result.stdout + result.stderr
    assert not findings, '\n'.join(findings)


def test_ruff_configuration():
    ruff = pyproject()['tool']['ruff']
    assert ruff['line-length'] == 120 and ruff['target-version'] == 'py37'
    assert sorted(ruff['lint']['select']) == ['B', 'E', 'F', 'W']


def test_optional_dependency_groups_name_what_the_requirements_files_pin():
    groups = pyproject()['project']['optional-dependencies']
    assert sorted(groups) == ['cpu', 'dev', 'paper']
    assert not set(groups['cpu']) & set(groups['dev'])
    assert sorted(groups['cpu'] + groups['dev']) == sorted(requirement_names('cpu.txt'))
    assert sorted(groups['paper']) == sorted(requirement_names('paper.txt'))
    assert not [d for ds in groups.values() for d in ds if re.search(r'[=<>~]', d)], 'versions belong in requirements/'


def test_changelog_has_an_entry_for_each_version_it_names():
    text = open(os.path.join(REPO, 'CHANGELOG.md')).read()
    versions = re.findall(r'^## \[?(\d+\.\d+\.\d+)\]?', text, re.M)
    import afa
    assert versions and versions[0] == afa.__version__, (versions, afa.__version__)
    assert versions == sorted(versions, key=lambda v: [int(x) for x in v.split('.')], reverse=True)


def test_citation_file_is_valid_cff():
    import afa
    cff = yaml.safe_load(open(os.path.join(REPO, 'CITATION.cff')))
    assert cff['cff-version'] == '1.2.0' and str(cff['version']) == afa.__version__
    for key in ('message', 'title', 'authors'):
        assert cff[key], key
    paper = cff['preferred-citation']
    assert paper['type'] == 'conference-paper' and paper['title'] == 'Attention-based Feature Aggregation'
    assert paper['year'] == 2022 and 'CVPR' in paper['conference']['name'] and paper['authors']


def test_contributing_names_the_test_commands_and_the_contracts_section():
    text = open(os.path.join(REPO, 'CONTRIBUTING.md')).read()
    for needed in ('make test', 'make test-all', 'make test-paper', '## Contracts'):
        assert needed in text, needed
    makefile = open(os.path.join(REPO, 'Makefile')).read()
    for target in re.findall(r'`make ([\w-]+)', text):
        assert re.search(r'^%s:' % re.escape(target), makefile, re.M), 'CONTRIBUTING names make %s' % target

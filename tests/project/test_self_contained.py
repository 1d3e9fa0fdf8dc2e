"""No file of the repository points outside it: a clone has no ../shared/ or /work/ notes, so the design lives
in docs/ and every reference points there."""
import os
import re
import subprocess

from conftest import REPO

# Paths of one development machine, and the reference notes that were outside the repository before docs/. No
# exception: even .ci/run finds CI's optional wheel folder beside the clone, not at one machine's path.
OUTSIDE = re.compile(r'\.\./shared|/work/|shared/design|(?<![\w/.])design/[\w-]+\.md')


def tracked_files():
    out = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO)
    return [p for p in out.decode().split('\0') if p and os.path.isfile(os.path.join(REPO, p))]


def test_no_tracked_file_points_outside_the_repository():
    found = []
    for rel in tracked_files():
        if rel == 'tests/project/test_self_contained.py':
            continue  # this file spells the patterns out
        try:
            text = open(os.path.join(REPO, rel), encoding='utf-8').read()
        except UnicodeDecodeError:
            continue  # binary (figures)
        for number, line in enumerate(text.splitlines(), 1):
            if not OUTSIDE.search(line):
                continue
            found.append('%s:%d: %s' % (rel, number, line.strip()[:160]))
    assert not found, 'files that point outside the repository (move the note into docs/):\n' + '\n'.join(found)


def test_the_pattern_catches_what_it_is_for():
    for line in ('see ../shared/design/x.md', 'from /work/shared/paper', 'shared/design/pipeline.md',
                 '(design/afa-necks.md)', 'CPU time (design/neck-profile.md).'):
        assert OUTSIDE.search(line), line
    for line in ('see docs/necks.md', 'docs/design/x.md is fine', 'workflow/rules/common.smk'):
        assert not OUTSIDE.search(line), line


def test_docs_links_resolve():
    """Every relative link of docs/, the READMEs and CONTRIBUTING names a file of the repository."""
    broken = []
    docs = ['docs/' + name for name in os.listdir(os.path.join(REPO, 'docs'))]
    for rel in ['README.md', 'CONTRIBUTING.md', 'docker/README.md', 'benchmarks/README.md'] + docs:
        path = os.path.join(REPO, rel)
        if not os.path.exists(path):
            continue
        for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', open(path, encoding='utf-8').read()):
            if '://' in target:
                continue
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target))):
                broken.append('%s -> %s' % (rel, target))
    assert not broken, broken

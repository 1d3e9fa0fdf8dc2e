"""docs/output.md names every file and folder the pipeline writes: each name afa/runs/layout.py owns (the one
owner of file names) appears on the page, so that a new record file cannot go undocumented."""
import os
import re

from afa.runs import layout
from conftest import REPO

PAGE = os.path.join('docs', 'output.md')
FILE_NAME = re.compile(r'(_FILE|_DIR|_MANIFEST|_MARKER|_CHECKPOINT|_VERIFIED|_SUFFIX|_STAGING_PREFIX|_WEIGHTS'
                       r'|_RESULT)$')


def owned_names():
    names = {name: value for name, value in vars(layout).items()
             if FILE_NAME.search(name) and isinstance(value, str)}
    names.update(('TABLE_FILES[%s]' % key, value) for key, value in layout.TABLE_FILES.items())
    return names


def test_every_file_name_of_the_layout_is_on_the_page():
    with open(os.path.join(REPO, PAGE), encoding='utf-8') as f:
        page = f.read()
    names = owned_names()
    assert len(names) > 20  # the selection above finds the layout's names
    missing = ['%s (%r)' % (name, value) for name, value in sorted(names.items())
               if not re.search(re.sub(r'\\\{[^}]*\\\}', '[A-Za-z0-9_]+', re.escape(value)), page)]
    assert not missing, 'file names of afa/runs/layout.py missing from %s: %s' % (PAGE, missing)

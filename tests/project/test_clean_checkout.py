"""A clone stays clean: everything `make smoke`, `make rehearsal`, `make report`, `make smoke-paper` and the tests
write into the checkout is ignored by git and none of it is committed (a newcomer's `git status` is empty after the
first commands). What is committed under results/: the paper scale's tables.md and summary.csv, the reproduction's
record; the smoke scale's files are rewritten by every smoke run."""
import os
import re
import subprocess

import yaml

from afa.data.pretrained import WEIGHTS
from afa.runs import layout
from conftest import REPO

SMOKE_RUN = 'cmrcn_r50_sumup_1x'


def git(*args, **kwargs):
    return subprocess.run(['git'] + list(args), cwd=REPO, capture_output=True, text=True, timeout=60, **kwargs)


def smoke_config():
    profile = yaml.safe_load(open(os.path.join(REPO, 'workflow', 'profiles', 'smoke', 'config.yaml')))
    return yaml.safe_load(open(os.path.join(REPO, profile['configfile'])))


def makefile_value(name):
    """A `--config` value the Makefile's smoke-paper target passes (runs_root=..., results_root=...)."""
    return re.search(r'\b%s=(\S+)' % name, open(os.path.join(REPO, 'Makefile')).read()).group(1)


def written_by_the_commands():
    """Files the smoke commands and the test suite write into the checkout, named from their owners."""
    config = smoke_config()
    paths = []
    for runs_root, results_root in ((config['runs_root'], config['results_root']),
                                    (makefile_value('runs_root'), makefile_value('results_root'))):
        results = layout.results_dir(results_root, 'smoke')
        paths += [os.path.join(results, name) for name in layout.TABLE_FILES.values()]
        paths += [os.path.join(results, layout.CURVES_FILE), os.path.join(results, 'report.html'),
                  os.path.join(results, layout.LAST_COMPLETE_DIR, layout.TABLE_FILES['tables'])]
        run = layout.run_dir(runs_root, 'smoke', SMOKE_RUN)
        paths += [os.path.join(run, layout.METRICS_FILE), layout.done_path(run)]
    paths += [os.path.join(config['data']['root'], layout.SYNTHETIC_MARKER),
              os.path.join(config['pretrained_dir'], sorted(WEIGHTS)[0]),
              os.path.join('logs', 'smoke', 'train', SMOKE_RUN + '.log'),
              os.path.join('.snakemake', 'log', 'run.snakemake.log'),
              os.path.join('.pytest_cache', 'README.md'), os.path.join('afa', '__pycache__', 'cli.cpython-311.pyc')]
    # `make rehearsal`: the same files at its own scale (runs/, data/ and logs/ are covered above)
    for scale in layout.SYNTHETIC_SCALES:
        results = layout.results_dir(config['results_root'], scale)
        paths += [os.path.join(results, name) for name in layout.TABLE_FILES.values()]
    # the paper scale's figures and last-complete copy (its tables are committed, below)
    paper = layout.results_dir(layout.RESULTS_ROOT, 'paper')
    paths += [os.path.join(paper, layout.TABLE_FILES['figure']), os.path.join(paper, layout.CURVES_FILE),
              os.path.join(paper, layout.LAST_COMPLETE_DIR, layout.TABLE_FILES['tables'])]
    return paths


def test_what_the_commands_write_is_ignored_and_not_committed():
    paths = written_by_the_commands()
    # a committed path counts as not ignored here (check-ignore without --no-index)
    result = git('check-ignore', '--stdin', '--verbose', '--non-matching', input='\n'.join(paths) + '\n')
    assert result.returncode in (0, 1), result.stderr
    not_ignored = [line.split('\t')[-1] for line in result.stdout.splitlines() if line.startswith('::')]
    assert not not_ignored, 'written by make smoke/test but not in .gitignore: %s' % not_ignored
    committed = git('ls-files', '--', *paths + [layout.results_dir(layout.RESULTS_ROOT, 'smoke')]).stdout.split()
    assert not committed, 'generated files that are committed (git rm --cached them): %s' % committed


def test_the_paper_scale_tables_are_the_committed_record():
    paper = layout.results_dir(layout.RESULTS_ROOT, 'paper')
    record = [os.path.join(paper, layout.TABLE_FILES[key]) for key in ('tables', 'summary')]
    assert sorted(git('ls-files', '--', *record).stdout.split()) == sorted(record)
    assert sorted(git('ls-files', '--', layout.RESULTS_ROOT).stdout.split()) == sorted(record)

""".ci/run's own logic (real bash and make, on a copy whose Makefile stands in for the hour-long targets): the two
stacks' suites run side by side, every stage's time reaches the closing table, and a failure of either suite fails
CI with its output shown."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO

# Each target says it ran; the modern suite waits (WAIT_TICKS x 0.1 s, 30 s at most) for the paper suite to have
# started (or WAIT_FOR=smoke-ran: for the paper smoke DAG to have run): it can only pass when they run side by
# side. PAPER_STATUS / MODERN_STATUS make a suite fail; PAPER_HANGS makes the paper suite's child process hang (its
# pid in hung.pid). The paper suite keeps one core busy for a second.
MAKEFILE = '''\
setup paper-env:
\t@echo "ran $@"
smoke-paper:
\t@touch smoke-ran; echo "ran $@"
test-paper-all:
\t@touch paper-started; echo "paper suite output"; timeout 1 sh -c 'while :; do :; done'; true
\t@if [ -n "$${PAPER_HANGS:-}" ]; then sh -c 'echo $$$$ > hung.pid; exec sleep 600'; fi; exit $${PAPER_STATUS:-0}
test-all:
\t@for i in $$(seq $${WAIT_TICKS:-300}); do [ -f $${WAIT_FOR:-paper-started} ] && break; sleep 0.1; done
\t@[ -f $${WAIT_FOR:-paper-started} ] && echo "modern suite output on $(TEST_WORKERS) workers" && \\
\t    exit $${MODERN_STATUS:-0}
'''


def run_ci(tmp_path, **env):  # the checkout's folder is tmp_path/clone
    checkout = tmp_path / 'clone'
    (checkout / '.ci').mkdir(parents=True)
    shutil.copy(os.path.join(REPO, '.ci', 'run'), checkout / '.ci' / 'run')
    (checkout / 'Makefile').write_text(MAKEFILE)
    result = subprocess.run(['bash', '.ci/run'], cwd=checkout, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, **env))
    return result, result.stdout + result.stderr


def table(output):
    return output[output.index('[ci] stage times'):]


def test_both_suites_run_side_by_side_and_every_stage_reaches_the_table(tmp_path):
    result, output = run_ci(tmp_path)
    assert result.returncode == 0, output
    closing = table(output)
    for name in ('setup: .venv', 'setup: .venv-paper', 'modern stack: make test-all',
                 'paper stack: make test-paper-all', 'paper stack: make smoke-paper', 'total'):
        assert '[ci]   ' + name in closing, closing
    assert 'paper suite output' in output and 'modern suite output on 3 workers' in output
    assert output.index('ran smoke-paper') > output.index('paper suite output')  # after the paper suite
    # each line says how busy the cores were ('?' where no clock tick passed); the paper suite's was busy
    busy = dict(re.findall(r'\[ci\]   (\S.*?)\s+(?:\d+ min|failed).*cores (\d+% busy|\?)\)', closing))
    assert len(busy) == 6 and all(b == '?' or 0 <= int(b[:-6]) <= 100 for b in busy.values()), closing
    assert int(busy['paper stack: make test-paper-all'][:-6]) > 0, closing


def test_the_paper_smoke_dag_runs_beside_the_modern_suite(tmp_path):
    """The modern suite is the longest stage: the paper stack's suite and then its smoke DAG both fit beside it."""
    result, output = run_ci(tmp_path, WAIT_FOR='smoke-ran')
    assert result.returncode == 0, output
    assert 'failed' not in table(output), table(output)


@pytest.mark.parametrize('failing', ['PAPER_STATUS', 'MODERN_STATUS'])
def test_a_failing_suite_fails_ci_with_its_output_and_the_other_suite_still_reported(tmp_path, failing):
    result, output = run_ci(tmp_path, **{failing: '3'})
    assert result.returncode != 0, output
    closing = table(output)
    suite = 'paper stack: make test-paper-all' if failing == 'PAPER_STATUS' else 'modern stack: make test-all'
    other = 'modern stack: make test-all' if failing == 'PAPER_STATUS' else 'paper stack: make test-paper-all'
    assert '[ci]   %s' % suite in closing and 'failed (exit' in closing.split(suite)[1].splitlines()[0], closing
    assert 'failed' not in closing.split(other)[1].splitlines()[0], closing
    assert 'paper suite output' in output and 'modern suite output' in output
    # a failed paper suite stops its sequence; the smoke DAG beside a failed modern suite still reports
    assert ('ran smoke-paper' in output) == (failing == 'MODERN_STATUS')


def test_ci_serial_runs_one_suite_after_the_other(tmp_path):
    result, output = run_ci(tmp_path, CI_SERIAL='1', WAIT_TICKS='5')
    # the modern suite, first and alone, never sees the paper suite start: serial means exactly that
    assert result.returncode != 0 and 'paper suite output' not in output, output


def test_a_hung_stage_is_stopped_at_the_deadline_with_its_processes_and_ci_still_closes_its_table(tmp_path):
    """CI cuts a run off at 90 minutes and shows nothing of it then (a crashed pytest-xdist worker's replacement
    once hung the paper suite for an hour): each test stage ends by .ci/run's deadline, hung or not."""
    result, output = run_ci(tmp_path, PAPER_HANGS='1', CI_DEADLINE_S='8')
    assert result.returncode != 0, output
    closing = table(output)
    assert 'failed (exit 124)' in closing.split('paper stack: make test-paper-all')[1].splitlines()[0], closing
    assert 'stopped at the CI deadline' in output and 'modern suite output' in output
    hung = int((tmp_path / 'clone' / 'hung.pid').read_text())
    assert not running(hung)  # stopped with its stage, not left behind


def running(pid):
    """Is the process alive (a zombie, killed and waiting for its reaper, is not)?"""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False

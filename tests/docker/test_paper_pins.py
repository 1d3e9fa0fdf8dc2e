"""The environments equal their pin files: the one source of the paper stack's pins (requirements/paper*.txt) is
what the host setup installs, and whichever environment runs these tests has exactly its pinned versions."""
import os
import re

from conftest import REPO, running_paper_stack

REQ = os.path.join(REPO, 'requirements')
PAPER_FILES = ('paper-torch.txt', 'paper-build.txt', 'paper.txt')
CPU_FILES = ('torch-cpu.txt', 'build.txt', 'cpu.txt')


def pins(name):
    """{distribution: version} of the exact (==) pins of one requirements file."""
    found = {}
    with open(os.path.join(REQ, name)) as f:
        for line in f:
            match = re.match(r'^([A-Za-z0-9_.\-]+)==([^\s;#]+)', line.strip())
            if match:
                found[match.group(1).lower().replace('_', '-')] = match.group(2)
    return found


def test_every_pin_is_exact_and_agrees_across_files():
    for files in (PAPER_FILES, CPU_FILES):
        seen = {}
        for name in files:
            with open(os.path.join(REQ, name)) as f:
                lines = [text.strip() for text in f if text.strip() and not text.startswith('#')]
            for line in lines:
                assert re.match(r'^[A-Za-z0-9_.\-]+(\[[a-z,]+\])?(==|>=|<)', line), '%s: %r' % (name, line)
            for dist, version in pins(name).items():
                # numpy and OpenCV are pinned for mmcv's build and again for the runtime: they must agree
                assert seen.setdefault(dist, (name, version))[1] == version, \
                    '%s: %s in %s, %s in %s' % (dist, seen[dist][1], seen[dist][0], version, name)
    assert pins('paper.txt')['mmcv-full'] == '1.3.11' and pins('paper-torch.txt')['torch'] == '1.9.0'


def test_the_cpu_only_torch_is_the_default_torch_built_without_cuda():
    """AFA_TORCH=cpu-only (scripts/setup_env.sh) swaps PyTorch's build, never its version."""
    default, cpu_only = pins('torch-cpu.txt'), pins('torch-cpu-index.txt')
    assert cpu_only == {name: version + '+cpu' for name, version in default.items()}
    with open(os.path.join(REQ, 'torch-cpu-index.txt')) as f:
        options = [line.split() for line in f if line.startswith('-')]
    assert options == [['--extra-index-url', 'https://download.pytorch.org/whl/cpu']]


def test_the_host_setup_installs_every_paper_pin_file():
    with open(os.path.join(REPO, 'scripts', 'setup_paper_env.sh')) as f:
        script = f.read()
    installed = set(re.findall(r'-r "\$req/([\w.-]+)"', script))
    assert installed == set(PAPER_FILES)
    assert 'mmcv_wheel.sh' in script  # mmcv-full: the hash-pinned sdist, built or seeded once


def test_this_environment_has_exactly_its_pinned_versions():
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7
        import importlib_metadata as metadata
    files = PAPER_FILES if running_paper_stack() else CPU_FILES
    wanted = {}
    for name in files:
        wanted.update(pins(name))
    wrong = {}
    for dist, version in sorted(wanted.items()):
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or have.split('+')[0] != version:
            wrong[dist] = (version, have)
    if not running_paper_stack():  # build tools the CPU setup may leave at pip's choice inside its range
        wrong.pop('setuptools', None)
    assert not wrong, 'installed versions differ from %s: %s (rerun the setup)' % (', '.join(files), wrong)

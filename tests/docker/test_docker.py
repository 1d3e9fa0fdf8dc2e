"""The two images, checked where no Docker engine exists: each Dockerfile's pins against its pin files
(requirements/*.txt for Python packages, docker/*-env.json for the rest), hadolint, shellcheck, the build and
GPU check scripts' argument handling, and the `reproduce` entry point run on the host, with its paths pointed at
temporary folders and each image's layout (PATH, AFA_COMMAND) rebuilt from its Dockerfile's ENV."""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

from afa.runs import layout
from afa.runs import zoo as zoo_mod

REPO = zoo_mod.REPO_ROOT
BIN = os.path.dirname(sys.executable)
REPRODUCE = os.path.join(REPO, 'docker', 'reproduce')
REQUIREMENTS = os.path.join(REPO, 'requirements')
# image name -> (Dockerfile, non-pip pins, the requirements files it installs: its whole family)
# requirements files that no image installs: tools for checks on the host (cuobjdump, for make image-modern and
# tests/docker/test_cuda_compile.py), and the host's opt-in CPU-only torch (scripts/setup_env.sh, AFA_TORCH=cpu-only)
TOOLS = {'cuda-inspect.txt'}
HOST_ONLY = TOOLS | {'torch-cpu-index.txt'}
IMAGES = {
    'paper': ('Dockerfile', 'paper-env.json', sorted(glob.glob(os.path.join(REQUIREMENTS, 'paper*.txt')))),
    'modern': ('Dockerfile.modern', 'modern-env.json',
               sorted(p for p in set(glob.glob(os.path.join(REQUIREMENTS, '*.txt')))
                      - set(glob.glob(os.path.join(REQUIREMENTS, 'paper*.txt')))
                      if os.path.basename(p) not in HOST_ONLY)),
}
# ARGs that are not pins: the digest comes from docker/build.sh, the rest describe the build itself
NOT_PINS = {'BASE_DIGEST', 'AFA_VERSION', 'GIT_COMMIT', 'MAX_JOBS'}
# modern ARGs whose one source is scripts/setup_env.sh (the host builds the same sdist)
SETUP_ENV_PINS = {'MMCV_VERSION': 'mmcv_version', 'MMCV_SDIST_SHA256': 'mmcv_sdist_sha256'}


def dockerfile_text(image):
    return open(os.path.join(REPO, 'docker', IMAGES[image][0])).read()


def instructions(image):
    """(INSTRUCTION, text) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r'\\\n', ' ', '\n'.join(line for line in dockerfile_text(image).splitlines()
                                             if not line.lstrip().startswith('#')))
    return [tuple(line.split(None, 1)) for line in joined.splitlines() if line.strip()]


def dockerfile_args(image):
    return dict(re.findall(r'^ARG (\w+)=(.*)$', dockerfile_text(image), re.M))


def env_json(image):
    return json.load(open(os.path.join(REPO, 'docker', IMAGES[image][1])))


def requirement_pins(path):
    """name -> version of each `name==version` line (names normalised as pip does)."""
    pins = {}
    for line in open(path):
        match = re.match(r'^([A-Za-z0-9][\w.-]*)==([^\s;#]+)', line)
        if match:
            pins[re.sub(r'[-_.]+', '-', match.group(1)).lower()] = match.group(2)
    return pins


def setup_env_value(name):
    return re.search(r'^%s=(\S+)$' % name, open(os.path.join(REPO, 'scripts', 'setup_env.sh')).read(), re.M).group(1)


def expand(text, variables):
    return re.sub(r'\$\{(\w+)\}', lambda m: variables.get(m.group(1), m.group(0)), text)


def image_env(image):
    """The environment a container of the image starts with, as far as its Dockerfile sets it."""
    variables = dict(dockerfile_args(image))
    for instruction, text in instructions(image):
        if instruction == 'ENV':
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', text):
                variables[key] = expand(value.strip('"'), variables)
    return variables


@pytest.mark.parametrize('image', sorted(IMAGES))
def test_non_pip_pins_equal_the_env_json(image):
    pins, args = env_json(image)['pins'], dockerfile_args(image)
    assert {k: args.get(k) for k in pins} == pins
    unpinned = set(args) - set(pins) - NOT_PINS - (set(SETUP_ENV_PINS) if image == 'modern' else set())
    assert not unpinned, 'ARGs of docker/%s missing from docker/%s: %s' % (IMAGES[image][0], IMAGES[image][1],
                                                                          sorted(unpinned))


@pytest.mark.parametrize('image', sorted(IMAGES))
def test_no_python_pin_is_restated_outside_the_requirements_files(image):
    pins = {}
    for path in glob.glob(os.path.join(REQUIREMENTS, '*.txt')):
        pins.update(requirement_pins(path))
    args, env = dockerfile_args(image), env_json(image)
    for name in pins:
        arg = re.sub(r'\W', '_', name).upper()
        assert arg + '_VERSION' not in args and arg + '_VERSION' not in env['pins'], \
            '%s is pinned in requirements/; docker/%s restates it' % (name, IMAGES[image][0])
    code = '\n'.join(text for _, text in instructions(image))
    # name==${ARG} is allowed for what no requirements file pins (uv, the mmcv-full sdist built in the image)
    family = {}
    for path in IMAGES[image][2]:
        family.update(requirement_pins(path))
    inline = [(name, version) for name, version in re.findall(r'([A-Za-z][\w.-]*)==([\w.${}+*!-]+)', code)
              if name.lower() in family or not re.fullmatch(r'\$\{\w+\}', version)]
    assert not inline, 'pins in docker/%s instead of requirements/: %s' % (IMAGES[image][0], inline)


@pytest.mark.parametrize('image', sorted(IMAGES))
def test_the_image_installs_exactly_its_requirements_files(image):
    copied, used = set(), set()
    for instruction, text in instructions(image):
        if instruction == 'COPY' and 'requirements/' in text:
            copied |= set(re.findall(r'requirements/([\w.-]+\.txt)', text))
        if instruction == 'RUN':
            used |= {(flag, name) for flag, name in re.findall(r'(-[rc]) /tmp/requirements/([\w.-]+\.txt)', text)}
    installed = {name for flag, name in used if flag == '-r'}
    assert installed == {os.path.basename(p) for p in IMAGES[image][2]}
    assert {name for _, name in used} <= copied


def test_paper_image_cuda_torch_and_mmcv_agree():
    env, args = env_json('paper'), dockerfile_args('paper')
    torch_pins = requirement_pins(os.path.join(REQUIREMENTS, 'paper-torch.txt'))
    tag = 'cu' + env['cuda'].replace('.', '')
    assert ('cuda:%s' % env['cuda']) in args['BASE_IMAGE'] and 'cudnn%s' % env['cudnn'] in args['BASE_IMAGE']
    assert args['TORCH_INDEX'].rstrip('/').endswith('/' + tag) and 'torch_stable' not in args['TORCH_INDEX']
    assert '/%s/torch%s/' % (tag, torch_pins['torch']) in args['MMCV_INDEX']
    assert requirement_pins(os.path.join(REQUIREMENTS, 'paper.txt'))['mmcv-full'] == '1.3.11'


def cuda_nvcc_pins():
    return requirement_pins(os.path.join(REQUIREMENTS, 'cuda-nvcc.txt'))


def test_modern_image_takes_every_input_from_debian_and_pypi():
    """No CUDA base image and no PyTorch index: Debian's Python, PyPI's torch (the CUDA 13.0 build CI tests), nvcc
    from PyPI for the build only."""
    env, args = env_json('modern'), dockerfile_args('modern')
    code = '\n'.join(t for _, t in instructions('modern'))
    assert args['BASE_IMAGE'].startswith('debian:bookworm') and 'nvidia/cuda' not in code
    assert not re.search(r'(-f|--find-links|--extra-index-url|--index-url)[ =]\S*(http|/)', code)
    assert 'download.pytorch.org' not in code
    apt = next(t for ins, t in instructions('modern') if ins == 'RUN' and 'apt-get install' in t)
    assert {'python3', 'python3-venv', 'python3-dev', 'build-essential'} <= set(apt.split())
    assert "assert v == '${PYTHON_VERSION}'" in apt and 'uv' not in code.split()
    # the Python of the CPU environment (scripts/setup_env.sh) is Debian bookworm's python3
    assert 'python%s' % args['PYTHON_VERSION'] == setup_env_value('python').split(':-')[-1].rstrip('}"')
    assert args['TORCH_CUDA'] == env['cuda'] and "torch.version.cuda == '${TORCH_CUDA}'" in code
    assert set(args['TORCH_CUDA_ARCH_LIST'].split(';')) >= {'8.0', '9.0'}
    for arg, name in SETUP_ENV_PINS.items():
        assert args[arg] == setup_env_value(name)


def test_modern_image_builds_mmcv_cuda_ops_with_the_pinned_nvcc():
    steps = [t for ins, t in instructions('modern') if ins == 'RUN']
    build = next(t for t in steps if 'pip wheel' in t)
    assert 'pip install -r /tmp/requirements/cuda-nvcc.txt' in build
    assert '"${cuda_home}/bin/nvcc" --version | grep "release ${TORCH_CUDA}," ' in build
    assert re.search(r'CUDA_HOME="\$\{cuda_home\}" MMCV_WITH_OPS=1 FORCE_CUDA=1 MAX_JOBS=', build)
    assert 'patch_mmcv_cxx_std.py /tmp/mmcv/mmcv-full-${MMCV_VERSION}/setup.py c++20 --nvcc' in build
    assert 'sha256sum --check' in build and 'get_compiling_cuda_version' in build
    # the objects in a build cache that survives a stopped build, keyed by what changes them, out of the image
    assert build.startswith('--mount=type=cache,id=afa-mmcv-build,target=/var/cache/afa-mmcv-build '), build[:200]
    assert re.search(r'objects="/var/cache/afa-mmcv-build/\$\{MMCV_VERSION\}-cuda\$\{TORCH_CUDA\}-sm.*'
                     r'TORCH_CUDA_ARCH_LIST', build)
    assert 'ln -s "${objects}" /tmp/mmcv/mmcv-full-${MMCV_VERSION}/build' in build
    # nvcc leaves with the build: every package of cuda-nvcc.txt but the runtime, which torch needs
    removed = build.split('pip uninstall -y', 1)[1].split('&&')[0].split()
    assert set(removed) == set(cuda_nvcc_pins()) - {'nvidia-cuda-runtime'}
    assert image_env('modern')['TORCH_CUDA_ARCH_LIST'] == dockerfile_args('modern')['TORCH_CUDA_ARCH_LIST']


def test_nvcc_pins_are_one_cuda_release_and_torchs():
    """nvcc and its companions of one CUDA release, torch's: an nvvm of another release writes PTX the 13.0
    ptxas rejects."""
    pins, cuda = cuda_nvcc_pins(), env_json('modern')['cuda']
    assert set(pins) == {'nvidia-cuda-nvcc', 'nvidia-cuda-crt', 'nvidia-cuda-cccl', 'nvidia-nvvm',
                         'nvidia-cuda-runtime'}
    assert all(version.startswith(cuda + '.') for version in pins.values()), pins
    assert pins['nvidia-cuda-nvcc'] == pins['nvidia-cuda-crt'] == pins['nvidia-nvvm']
    assert requirement_pins(os.path.join(REQUIREMENTS, 'torch-cpu.txt'))['torch'] == '2.14.1'


def installed_version(name):
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7: the paper environment, which has no CUDA packages
        return None
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.skipif(installed_version('cuda-toolkit') is None,
                    reason='no cuda-toolkit metapackage: this torch is not PyPI\'s CUDA build (paper environment)')
def test_nvcc_pins_are_the_ones_this_torch_names():
    """torch's cuda-toolkit metapackage names the nvcc, crt, cccl, nvvm and runtime of its release (extras): the
    pins are those, and the runtime is the one installed with torch."""
    from importlib import metadata
    named = {}
    for requirement in metadata.requires('cuda-toolkit') or []:
        match = re.match(r'([\w.-]+)\s*==\s*([\w.]+?)(\.\*)?\s*;', requirement)
        if match:
            named[re.sub(r'[-_.]+', '-', match.group(1)).lower()] = match.group(2)
    pins = cuda_nvcc_pins()
    assert {name: named.get(name) for name in pins} == pins
    assert installed_version('nvidia-cuda-runtime') == pins['nvidia-cuda-runtime']


def test_paper_apex_is_fetched_by_commit():
    env, args, text = env_json('paper'), dockerfile_args('paper'), dockerfile_text('paper')
    assert re.fullmatch(r'[0-9a-f]{40}', args['APEX_COMMIT'])
    assert 'fetch -q --depth 1 ${APEX_REPO} ${APEX_COMMIT}' in text and 'rev-parse HEAD)" = "${APEX_COMMIT}"' in text
    assert env['apex_branch'] in text and 'APEX_REF' not in text


def test_paper_orchestrator_takes_its_versions_from_the_cpu_environment():
    cpu = requirement_pins(os.path.join(REQUIREMENTS, 'cpu.txt'))
    run = [text for instruction, text in instructions('paper') if instruction == 'RUN' and 'uv pip install' in text
           and '-c /tmp/requirements/cpu.txt' in text][0]
    names = run.split('-c /tmp/requirements/cpu.txt', 1)[1].split('&&')[0].split()
    assert 'snakemake' in names and all(name in cpu for name in names), names


@pytest.mark.parametrize('image', sorted(IMAGES))
def test_no_moving_or_unverified_input(image):
    text = dockerfile_text(image)
    steps = instructions(image)
    assert not re.search(r'curl[^\n|]*\|\s*(ba)?sh', text), 'a script piped into a shell'
    assert [t for ins, t in steps if ins == 'FROM'] == ['${BASE_IMAGE}${BASE_DIGEST:+@}${BASE_DIGEST}']
    guard = next(i for i, (ins, t) in enumerate(steps) if ins == 'RUN' and 'BASE_DIGEST' in t)
    assert "grep -Eqx 'sha256:[0-9a-f]{64}'" in steps[guard][1] and 'exit 1' in steps[guard][1]
    assert any('org.opencontainers.image.base.digest="${BASE_DIGEST}"' in t for ins, t in steps if ins == 'LABEL')
    assert '"base_digest": "%s"' in text and '/opt/afa-image.json' in text
    digest = env_json(image)['base_digest']
    assert digest is None or re.fullmatch(r'sha256:[0-9a-f]{64}', digest)
    if image == 'paper':
        update = next(t for ins, t in steps if ins == 'RUN' and 'apt-get update' in t)
        assert update.index('rm -f /etc/apt/sources.list.d/cuda*.list /etc/apt/sources.list.d/nvidia-ml*.list') \
            < update.index('apt-get update')
        assert '"uv==${UV_VERSION}"' in text and 'uv python install ${' in text


@pytest.mark.parametrize('image', sorted(IMAGES))
def test_the_image_layout_matches_the_entry_point(image):
    env, text = image_env(image), dockerfile_text(image)
    assert env['AFA_REPO'] == '/opt/afa' and 'COPY . ${AFA_REPO}' in text
    assert 'mkdir -p /data /results' in text and 'chown afa:afa /data /results' in text
    assert 'install -m 0755 ${AFA_REPO}/docker/reproduce /usr/local/bin/reproduce' in text
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/reproduce"\]$', text, re.M)
    assert re.search(r'^USER 1000:1000$', text, re.M) and 'useradd --create-home --uid 1000 afa' in text
    python = shlex.split(env['AFA_COMMAND'])[0]
    venv_root = os.path.dirname(os.path.dirname(python))
    variables = image_env(image)
    made = [expand(t, variables) for ins, t in instructions(image) if ins == 'RUN']
    assert any(re.search(r'venv (--\S+ )*(--python \S+ )*(--\S+ \S+ )*%s\b' % re.escape(venv_root), t)
               for t in made), 'no RUN creates %s' % venv_root
    assert env['PATH'].split(':')[0].endswith('/bin')
    if image == 'paper':
        # uv's Python must land where uid 1000 can run it (uv's default is under root's home), for both uv commands
        assert env['UV_PYTHON_INSTALL_DIR'].startswith('/opt/') and '--install-dir' not in text


@pytest.mark.orchestrator
@pytest.mark.parametrize('image', sorted(IMAGES))
def test_hadolint_is_clean(image):
    path = os.path.join(REPO, 'docker', IMAGES[image][0])
    result = subprocess.run([os.path.join(BIN, 'hadolint'), path], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.orchestrator
def test_shellcheck_is_clean():
    scripts = [REPRODUCE, os.path.join(REPO, 'docker', 'build.sh'), os.path.join(REPO, '.ci', 'run')] + sorted(
        glob.glob(os.path.join(REPO, 'scripts', '*.sh')))
    result = subprocess.run([os.path.join(BIN, 'shellcheck')] + scripts, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_the_context_small():
    ignored = open(os.path.join(REPO, '.dockerignore')).read().split()
    assert {'.git', '.venv', 'data', 'runs'} <= set(ignored)


def test_patch_sets_the_standard_of_both_compilers(tmp_path):
    setup = tmp_path / 'setup.py'
    original = ("                extra_compile_args['cxx'] = ['-std=c++17']\n"
                "                extra_compile_args['nvcc'] += ['-std=c++17']\n")
    setup.write_text(original)
    script = os.path.join(REPO, 'scripts', 'patch_mmcv_cxx_std.py')
    subprocess.run([sys.executable, script, str(setup), 'c++20'], check=True)
    assert setup.read_text() == original.replace("['-std=c++17']\n", "['-std=c++20']\n", 1)
    setup.write_text(original)
    subprocess.run([sys.executable, script, str(setup), 'c++20', '--nvcc'], check=True)
    assert setup.read_text() == original.replace('c++17', 'c++20')
    again = subprocess.run([sys.executable, script, str(setup), 'c++20', '--nvcc'], capture_output=True, text=True)
    assert again.returncode != 0 and 'found 0' in again.stderr


def build_sh(*args, **env):
    return subprocess.run(['bash', os.path.join(REPO, 'docker', 'build.sh')] + list(args), capture_output=True,
                          text=True, env=dict(os.environ, **dict(dict(DOCKER='docker-client', PYTHON=sys.executable),
                                                                 **env)))


@pytest.mark.parametrize('image', sorted(IMAGES))
def test_build_script_pins_the_base_image_and_passes_the_digest(image):
    result = build_sh(image, '--dry-run', '--tag', 'x:1', '--', '--build-arg', 'TORCH_CUDA_ARCH_LIST=9.0')
    assert result.returncode == 0, result.stderr
    base = env_json(image)['pins']['BASE_IMAGE']
    assert '+ docker-client pull %s\n' % base in result.stderr
    build = [line for line in result.stderr.splitlines() if line.startswith('+ docker-client build')][0]
    assert '-f %s/docker/%s -t x:1' % (REPO, IMAGES[image][0]) in build
    import afa
    assert re.search(r'--build-arg BASE_DIGEST=sha256:0{64} --build-arg GIT_COMMIT=\S+ --build-arg AFA_VERSION=%s '
                     r'--build-arg TORCH_CUDA_ARCH_LIST=9.0 %s$' % (re.escape(afa.__version__), re.escape(REPO)), build)


def test_build_script_takes_a_local_base_by_its_digest(tmp_path):
    """--local-base (make image-modern: a base made by debootstrap): no pull, the digest the local store gives."""
    result = build_sh('modern', '--dry-run', '--local-base')
    assert result.returncode == 0, result.stderr
    assert ' pull ' not in result.stderr and '--build-arg BASE_DIGEST=sha256:' + '0' * 64 in result.stderr
    client = tmp_path / 'client'
    client.write_text('#!/bin/sh\n[ "$1 $2 $3 $4" = "image inspect --format {{.Digest}}" ] || exit 9\n'
                      'echo "$AFA_TEST_DIGEST"\n')
    client.chmod(0o755)
    digest = 'sha256:' + 'cd' * 32
    result = build_sh('modern', '--local-base', AFA_TEST_DIGEST=digest, DOCKER=str(client))
    assert result.returncode == 9 and 'local base %s@%s' % (env_json('modern')['pins']['BASE_IMAGE'], digest) \
        in result.stderr  # the build itself reaches the fake client, which refuses it
    result = build_sh('modern', '--local-base', AFA_TEST_DIGEST='<none>', DOCKER=str(client))
    assert result.returncode == 2 and 'reports no digest for' in result.stderr


def test_tool_requirements_are_used_by_the_image_check():
    script = open(os.path.join(REPO, 'scripts', 'image_here.sh')).read()
    assert all('requirements/%s' % name in script for name in TOOLS)


@pytest.mark.parametrize('args, message', [
    (['--max-jobs', '0'], "--max-jobs must be a positive number, not '0'"),
    (['--frobnicate'], "unknown option '--frobnicate'"),
])
def test_image_here_argument_errors(args, message):
    result = subprocess.run(['bash', os.path.join(REPO, 'scripts', 'image_here.sh')] + args, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize('args, message', [
    (['newest'], "the image is 'paper' or 'modern', not 'newest'"),
    (['paper', '--tagg'], "unknown option '--tagg'"),
])
def test_build_script_argument_errors(args, message):
    result = build_sh(*args)
    assert result.returncode == 2 and message in result.stderr


def gpu_check(tmp_path, *args, **env):
    return subprocess.run(['bash', os.path.join(REPO, 'scripts', 'gpu_check.sh'), '--work', str(tmp_path / 'gc')]
                          + list(args), capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, AFA_GPU_PYTHON=sys.executable, **env))


def test_gpu_check_dry_run_plans_build_training_and_benchmarks(tmp_path):
    result = gpu_check(tmp_path, '--dry-run', '--iters', '120', '--rows', 'cmrcn_r50_sumup_1x cmrcn_r50_msca_adp_1x',
                       '--arch', '9.0')
    assert result.returncode == 0, result.stderr
    err = result.stderr
    version = setup_env_value('mmcv_version')
    assert 'FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0' in err and 'mmcv-full==%s' % version in err
    assert 'setup.py c++20 --nvcc' in err
    for row in ('cmrcn_r50_sumup_1x', 'cmrcn_r50_msca_adp_1x'):
        assert re.search(r'afa.cli train %s --smoke --smoke-epochs 3 --precision amp --gpus 1 ' % row, err)
        done = layout.done_path(layout.run_dir(layout.RUNS_ROOT, 'smoke', layout.run_id(row, 'amp')))
        assert re.search(r'afa.cli test %s \S+/%s --smoke --precision amp ' % (row, re.escape(done)), err)
    assert 'benchmarks/neck_cost.py --device cuda' in err
    assert not (tmp_path / 'gc').exists(), 'a dry run wrote files'


def test_gpu_check_offline_wheelhouse(tmp_path):
    (tmp_path / 'wheels').mkdir()
    result = gpu_check(tmp_path, '--dry-run', '--wheelhouse', str(tmp_path / 'wheels'))
    assert result.returncode == 0, result.stderr
    installs = [line for line in result.stderr.splitlines() if ' -m pip install' in line or ' -m pip download' in line]
    assert len(installs) == 3 and all('--no-index --find-links %s/wheels' % tmp_path in line for line in installs)
    # nvcc too: the pinned packages from the wheelhouse (make wheelhouse puts them there)
    nvcc = [line for line in result.stderr.splitlines() if 'cuda_tools.sh' in line]
    assert len(nvcc) == 1 and 'AFA_WHEELHOUSE=%s/wheels ' % tmp_path in nvcc[0]
    assert nvcc[0].endswith('requirements/cuda-nvcc.txt %s/gc/venv/bin/python' % tmp_path)


def test_gpu_check_builds_with_the_pinned_nvcc_or_the_machines(tmp_path):
    pinned = gpu_check(tmp_path, '--dry-run', '--arch', '9.0')
    assert pinned.returncode == 0, pinned.stderr
    build = [line for line in pinned.stderr.splitlines() if ' -m pip wheel ' in line][0]
    assert re.search(r'env CUDA_HOME=%s/gc/cache/cuda/cuda-nvcc-\S+/nvidia/cu13 '
                     r'CPLUS_INCLUDE_PATH=\S+/nvidia/cu13/include ' % tmp_path, build)
    system = gpu_check(tmp_path, '--dry-run', '--arch', '9.0', '--nvcc', 'system')
    assert system.returncode == 0, system.stderr
    assert 'cuda_tools.sh' not in system.stderr and 'CUDA_HOME=' not in system.stderr


@pytest.mark.parametrize('args, message', [
    (['--iters', '0'], "--iters must be a positive number, not '0'"),
    (['--rows', 'cmrcn_r50_nonexistent_1x'], "unknown row 'cmrcn_r50_nonexistent_1x'"),
    (['--arch', 'sm_90'], "--arch must look like '8.0;9.0', not 'sm_90'"),
    (['--wheelhouse', '/nonexistent'], '--wheelhouse /nonexistent is not a folder'),
    (['--nvcc', 'conda'], "--nvcc must be pinned or system, not 'conda'"),
    (['--frobnicate'], "unknown option '--frobnicate'"),
])
def test_gpu_check_argument_errors(tmp_path, args, message):
    result = gpu_check(tmp_path, '--dry-run', *args)
    assert result.returncode == 2 and message in result.stderr


def test_gpu_check_refuses_a_machine_without_gpu(tmp_path):
    result = gpu_check(tmp_path, CUDA_VISIBLE_DEVICES='')
    assert result.returncode == 2 and 'no CUDA GPU visible to torch' in result.stderr
    assert not (tmp_path / 'gc' / 'venv').exists()


@pytest.fixture
def mounts(tmp_path):
    data, results, fakebin = tmp_path / 'data', tmp_path / 'results', tmp_path / 'bin'
    for folder in (data, results, fakebin):
        folder.mkdir()
    env = dict(os.environ, AFA_REPO=REPO, AFA_DATA=str(data), AFA_RESULTS=str(results),
               AFA_SNAKEMAKE=os.path.join(BIN, 'snakemake'), NVIDIA_SMI=str(fakebin / 'nvidia-smi'),
               AFA_COMMAND='%s -m afa.cli' % sys.executable)
    return dict(data=data, results=results, fakebin=fakebin, env=env, root=tmp_path)


def reproduce(mounts, *args):
    return subprocess.run(['bash', REPRODUCE] + list(args), env=mounts['env'], capture_output=True, text=True,
                          timeout=600)


def fake_gpus(mounts, count):
    smi = mounts['fakebin'] / 'nvidia-smi'
    smi.write_text('#!/bin/sh\n' + ''.join('echo "GPU %d: NVIDIA A100-SXM4-40GB (UUID: GPU-%d)"\n' % (i, i)
                                           for i in range(count)))
    smi.chmod(0o755)


def image_layout(mounts, image, python=sys.executable):
    """The image's environment on the host: its /opt paths moved under a temporary root, its Snakemake (the first
    PATH entry) and its AFA_COMMAND interpreter there as wrappers around this machine's, AFA_SNAKEMAKE unset as
    in the image (reproduce finds snakemake on PATH)."""
    root = str(mounts['root'] / 'image')
    env = image_env(image)
    reroot = lambda path: root + path if path.startswith('/opt/') else path  # noqa: E731
    command = [reroot(word) for word in shlex.split(env['AFA_COMMAND'])]
    orchestrator_bin = reroot(env['PATH'].split(':')[0])
    for wrapper, target in ((command[0], python), (os.path.join(orchestrator_bin, 'snakemake'),
                                                   os.path.join(BIN, 'snakemake'))):
        os.makedirs(os.path.dirname(wrapper), exist_ok=True)
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec %s "$@"\n' % shlex.quote(target))
        os.chmod(wrapper, 0o755)
    mounts['env'].pop('AFA_SNAKEMAKE')
    mounts['env'].update(AFA_COMMAND=' '.join(command), AFA_IMAGE=env['AFA_IMAGE'],
                         PATH='%s:%s' % (orchestrator_bin, os.environ['PATH']))
    return ' '.join(command)


def test_help_lists_the_options(mounts):
    result = reproduce(mounts, '--help')
    assert result.returncode == 0
    # as the README runs it: `docker run IMAGE reproduce ...`, the entry point being reproduce itself
    assert reproduce(mounts, 'reproduce', '--help').stdout == result.stdout
    for option in ('--table', '--rows', '--gpus', '--smoke', '--dry-run'):
        assert option in result.stdout
    assert 'GPU' not in result.stdout.split('--smoke', 1)[1].split('--dry-run')[0].replace('no GPU needed', '')


@pytest.mark.parametrize('args, message', [
    (['--table', '2x'], "--table must be 1x, 3x, control or all, not '2x'"),
    (['--gpus', 'many'], '--gpus must be a number from 1 to 8'),
    (['--rows'], '--rows needs at least one row id'),
    (['--rows', 'Bad-Row!'], "unknown row 'Bad-Row!'"),
    (['--frobnicate'], "unknown option '--frobnicate'"),
    (['--smoke', '--gpus', '1'], '--smoke runs on CPU: drop --gpus'),
])
def test_bad_arguments_are_clear_errors(mounts, args, message):
    result = reproduce(mounts, *args)
    assert result.returncode == 2 and message in result.stderr


def test_missing_results_mount(mounts):
    mounts['env']['AFA_RESULTS'] = str(mounts['results'] / 'absent')
    result = reproduce(mounts, '--dry-run')
    assert result.returncode == 2 and 'mount a host folder for the results' in result.stderr


def test_no_gpu_visible(mounts):
    result = reproduce(mounts, '--table', '1x')
    assert result.returncode == 2 and 'run the container with --gpus all' in result.stderr


def test_too_few_gpus(mounts):
    fake_gpus(mounts, 2)
    result = reproduce(mounts, '--gpus', '8')
    assert result.returncode == 2 and '8 GPUs requested but 2 visible' in result.stderr


@pytest.mark.orchestrator
@pytest.mark.parametrize('image', sorted(IMAGES))
def test_dry_run_plans_the_table_with_the_mounts_in_each_image_layout(mounts, image):
    command = image_layout(mounts, image)
    result = reproduce(mounts, '--table', '3x', '--gpus', '4', '--dry-run')
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r'^train\s+4$', out, re.M)
    run = layout.run_dir(str(mounts['results'] / layout.RUNS_ROOT), 'paper', 'cmrcn_r50_mssa_adp_3x')
    assert layout.done_path(run) in out
    assert '%s train cmrcn_r50_mssa_adp_3x' % command in out
    assert '--gpus 4' in out and '--data-root %s/coco/' % mounts['data'] in out
    config = open(str(mounts['results'] / '.afa' / 'reproduce.yaml')).read()
    assert 'gpus_per_run: 4' in config and 'tables: [3x]' in config


@pytest.mark.orchestrator
def test_smoke_dry_run_needs_neither_gpu_nor_data(mounts):
    mounts['env']['AFA_DATA'] = '/nonexistent'
    result = reproduce(mounts, '--smoke', '--dry-run', '--rows', 'cmrcn_r50_msca_adp_1x')
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'^train\s+1$', result.stdout, re.M) and '--smoke' in result.stdout
    assert 'on CPU' in result.stderr and 'gpus_per_run' not in open(
        str(mounts['results'] / '.afa' / 'reproduce.yaml')).read()


@pytest.mark.orchestrator
def test_a_results_mount_with_a_space_reaches_the_workflow_whole(mounts):
    """Issue 21: reproduce writes the path into its config file and the workflow quotes it in every command
    (the commands themselves run with spaces in tests/workflow/test_workflow.py)."""
    spaced = mounts['root'] / 'my results'
    spaced.mkdir()
    mounts['env']['AFA_RESULTS'] = str(spaced)
    result = reproduce(mounts, '--smoke', '--dry-run', '--rows', 'cmrcn_r50_msca_adp_1x')
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--runs-root '%s/runs'" % spaced in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.orchestrator
def test_smoke_run_on_cpu_in_the_modern_layout_writes_the_tables(mounts):
    """The whole smoke pipeline for one row through the entry point, no GPU visible: what `docker run IMAGE
    reproduce --smoke` does, minus the container."""
    image_layout(mounts, 'modern')
    mounts['env']['AFA_DATA'] = '/nonexistent'
    result = reproduce(mounts, '--smoke', '--rows', 'cmrcn_r50_sumup_1x', '--cores', '2')
    assert result.returncode == 0, result.stderr[-5000:]
    tables = mounts['results'] / 'tables' / 'smoke' / layout.TABLE_FILES['tables']
    assert tables.exists() and 'cmrcn_r50_sumup_1x' in tables.read_text()
    run = layout.run_dir(str(mounts['results'] / layout.RUNS_ROOT), 'smoke', 'cmrcn_r50_sumup_1x')
    metrics = json.load(open(layout.metrics_path(run)))
    assert metrics['provenance']['versions']['image'] == 'modern'
    assert metrics['provenance']['versions']['gpu'] is None


@pytest.mark.skipif(not hasattr(os, 'geteuid') or os.geteuid() != 0 or not os.path.exists('/usr/bin/setpriv'),
                    reason='needs root and setpriv to act as the image user (uid 1000)')
def test_results_mount_not_writable_by_the_image_user(mounts):
    """The image runs as uid 1000: a results folder it cannot write is refused before anything runs."""
    results = tempfile.mkdtemp(prefix='afa-results-')  # outside pytest's folder, which only root may enter
    try:
        os.chmod(results, 0o755)  # owned by root, as a host folder created by root would be
        mounts['env']['AFA_RESULTS'] = results
        # The entry point as the image holds it: readable by every user, wherever this checkout lives (a clone in a
        # private folder is not readable by uid 1000).
        entry = os.path.join(results, 'reproduce')
        shutil.copy(REPRODUCE, entry)
        os.chmod(entry, 0o755)
        as_uid_1000 = ['setpriv', '--reuid', '1000', '--regid', '1000', '--clear-groups', 'bash', entry]
        result = subprocess.run(as_uid_1000 + ['--smoke', '--dry-run'], env=mounts['env'], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 2 and '%s is not writable by uid 1000' % results in result.stderr, result.stderr
        assert sorted(os.listdir(results)) == ['reproduce']  # nothing written
    finally:
        shutil.rmtree(results)


def test_metrics_provenance_names_the_image_and_its_stack(monkeypatch):
    """What the tables print under each table: the image (AFA_IMAGE, set by both Dockerfiles) and the stack."""
    from afa.utils import provenance
    monkeypatch.delenv('AFA_IMAGE', raising=False)
    assert 'image' not in provenance.package_versions()
    monkeypatch.setenv('AFA_IMAGE', image_env('modern')['AFA_IMAGE'])
    versions = provenance.package_versions()
    assert versions['image'] == 'modern' and image_env('paper')['AFA_IMAGE'] == 'paper'
    assert {'torch', 'mmcv', 'mmdet', 'cuda', 'python'} <= set(versions)


def test_build_script_pulls_a_recorded_digest(tmp_path):
    """With base_digest recorded in docker/IMAGE-env.json, the build pulls exactly that and passes it on."""
    (tmp_path / 'docker').mkdir()
    shutil.copy(os.path.join(REPO, 'docker', 'build.sh'), str(tmp_path / 'docker'))
    env = env_json('paper')
    env['base_digest'] = 'sha256:' + 'ab' * 32
    (tmp_path / 'docker' / 'paper-env.json').write_text(json.dumps(env))
    result = subprocess.run(['bash', str(tmp_path / 'docker' / 'build.sh'), 'paper', '--dry-run'], text=True,
                            capture_output=True, env=dict(os.environ, DOCKER='docker-client', PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr
    assert '+ docker-client pull %s@%s\n' % (env['pins']['BASE_IMAGE'], env['base_digest']) in result.stderr
    assert '--build-arg BASE_DIGEST=%s --build-arg GIT_COMMIT=unknown --build-arg AFA_VERSION=unknown ' \
        % env['base_digest'] in result.stderr
    env['base_digest'] = 'latest'
    (tmp_path / 'docker' / 'paper-env.json').write_text(json.dumps(env))
    result = subprocess.run(['bash', str(tmp_path / 'docker' / 'build.sh'), 'paper', '--dry-run'], text=True,
                            capture_output=True, env=dict(os.environ, DOCKER='docker-client', PYTHON=sys.executable))
    assert result.returncode == 2 and 'is not sha256:<64 hex digits>' in result.stderr

"""mmcv-full's CUDA ops compile with the pinned nvcc (requirements/cuda-nvcc.txt) against the CPU environment's
torch, which is the modern image's: one source (roi_align_cuda.cu) for sm_90 with C++20, the way
docker/Dockerfile.modern builds all of them for sm_80 and sm_90. CI has no GPU and the whole build takes hours
on its cores; this takes about a minute of CPU, so that a pin change that breaks the GPU build fails CI."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from afa.runs import zoo as zoo_mod

torch = pytest.importorskip('torch')

REPO = zoo_mod.REPO_ROOT
REQUIREMENTS = os.path.join(REPO, 'requirements')
CACHE = os.environ.get('AFA_CACHE', os.path.expanduser('~/.cache/afa'))
SOURCE = 'mmcv/ops/csrc/pytorch/cuda/roi_align_cuda.cu'

pytestmark = pytest.mark.skipif(
    not (torch.version.cuda or '').startswith('13.'),
    reason='torch %s carries CUDA %s, not 13: the modern image compiles against PyPI\'s torch 2.14.1 (CUDA 13.0), '
           'the CPU environment\'s' % (torch.__version__, torch.version.cuda))


def setup_env_value(name):
    text = open(os.path.join(REPO, 'scripts', 'setup_env.sh')).read()
    return re.search(r'^%s=(\S+)$' % name, text, re.M).group(1)


def cuda_tools(requirements):
    """The folder scripts/cuda_tools.sh installs a requirements file's pinned packages into (cached)."""
    result = subprocess.run(['bash', os.path.join(REPO, 'scripts', 'cuda_tools.sh'),
                             os.path.join(REQUIREMENTS, requirements), sys.executable],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def mmcv_sdist():
    """mmcv-full's sdist, checked against scripts/setup_env.sh's sha256, downloaded once into the cache."""
    version, sha256 = setup_env_value('mmcv_version'), setup_env_value('mmcv_sdist_sha256')
    folder = os.path.join(CACHE, 'sdists')
    path = os.path.join(folder, 'mmcv-full-%s.tar.gz' % version)
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        tmp = path + '.download'
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--disable-pip-version-check',
                        '--no-deps', '--no-binary', ':all:', '--no-build-isolation', '-d', tmp,
                        'mmcv-full==%s' % version], check=True, timeout=600)
        os.replace(os.path.join(tmp, os.path.basename(path)), path)
        shutil.rmtree(tmp)
    digest = subprocess.run(['sha256sum', path], capture_output=True, text=True, check=True).stdout.split()[0]
    assert digest == sha256, '%s is not the pinned sdist (sha256 %s)' % (path, digest)
    return path, version


def torch_flags(cuda_home, arch):
    """torch's own include paths, nvcc flags and -gencode flags for ARCH, as its extension builder gives them
    to mmcv's setup.py (CUDA_HOME is read when torch.utils.cpp_extension is imported: a fresh interpreter)."""
    code = ('import json, torch, torch.utils.cpp_extension as c; print(json.dumps({'
            '"include": c.include_paths(device_type="cuda"), "nvcc": c.COMMON_NVCC_FLAGS, '
            '"arch": c._get_cuda_arch_flags(), "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI)}))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                            env=dict(os.environ, CUDA_HOME=cuda_home, TORCH_CUDA_ARCH_LIST=arch))
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_cuda_headers(cuda_dir):
    """site-packages/nvidia/cuXX/include of torch's CUDA packages (cuBLAS, cuSPARSE, cuSOLVER headers)."""
    import nvidia
    for path in nvidia.__path__:
        include = os.path.join(path, cuda_dir, 'include')
        if os.path.exists(os.path.join(include, 'cublas_v2.h')):
            return include
    pytest.fail('torch %s has no nvidia/%s/include with cublas_v2.h' % (torch.__version__, cuda_dir))


@pytest.mark.slow
def test_an_mmcv_cuda_source_compiles_for_sm90_with_the_pinned_nvcc(tmp_path):
    toolkit = cuda_tools('cuda-nvcc.txt')
    cuda_home = glob.glob(os.path.join(toolkit, 'nvidia', 'cu*'))[0]
    nvcc = os.path.join(cuda_home, 'bin', 'nvcc')
    version = subprocess.run([nvcc, '--version'], capture_output=True, text=True, check=True).stdout
    assert 'release %s,' % torch.version.cuda in version, version

    sdist, mmcv_version = mmcv_sdist()
    top = 'mmcv-full-%s/' % mmcv_version
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers()
                   if m.name == top + 'setup.py' or m.name.startswith(top + 'mmcv/ops/csrc/')]
        archive.extractall(tmp_path, members=members)
    src = tmp_path / top
    # the C++ standard: the one the image's patch gives nvcc in mmcv's setup.py
    subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'patch_mmcv_cxx_std.py'),
                    str(src / 'setup.py'), 'c++20', '--nvcc'], check=True)
    stds = re.findall(r"extra_compile_args\['nvcc'\] \+= \['(-std=c\+\+\d+)'\]", (src / 'setup.py').read_text())
    assert '-std=c++20' in stds and '-std=c++17' not in stds, stds

    flags = torch_flags(cuda_home, '9.0')
    assert flags['arch'] == ['-gencode=arch=compute_90,code=sm_90'], flags['arch']
    csrc = src / 'mmcv' / 'ops' / 'csrc'
    includes = flags['include'] + [torch_cuda_headers(os.path.basename(cuda_home)),
                                   str(csrc / 'common'), str(csrc / 'common' / 'cuda')]
    obj = tmp_path / 'roi_align_cuda.o'
    command = ([nvcc, '-c', str(src / SOURCE), '-o', str(obj), '-std=c++20', '-DMMCV_WITH_CUDA',
                '-DTORCH_API_INCLUDE_EXTENSION_H', '-DTORCH_EXTENSION_NAME=_ext',
                '-D_GLIBCXX_USE_CXX11_ABI=%d' % flags['abi'], '--compiler-options', '-fPIC']
               + flags['nvcc'] + flags['arch'] + ['-I' + path for path in includes])
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    print('nvcc %s: %s for sm_90 in %.0f s' % (torch.version.cuda, SOURCE, time.time() - start))

    cuobjdump = glob.glob(os.path.join(cuda_tools('cuda-inspect.txt'), 'nvidia', 'cu*', 'bin', 'cuobjdump'))[0]
    listing = subprocess.run([cuobjdump, '--list-elf', str(obj)], capture_output=True, text=True, check=True)
    assert set(re.findall(r'\.(sm_\d+)\.', listing.stdout)) == {'sm_90'}, listing.stdout

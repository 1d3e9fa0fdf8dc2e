"""Where a result came from: package versions, git commit, file checksums, date. Written next to every output."""
import datetime
import os
import platform
import subprocess
import sys

from afa.utils.repo import REPO_ROOT

PACKAGES = ('torch', 'torchvision', 'mmcv', 'mmdet', 'numpy', 'pycocotools', 'apex')


GIT_TIMEOUT = 60  # seconds: a git on a hung network file system must not hold a run's record forever


def git_commit(root=REPO_ROOT):
    """The checkout's commit, with '+dirty' when tracked files changed; None outside a git checkout."""
    try:
        commit = subprocess.check_output(['git', '-C', root, 'rev-parse', 'HEAD'], stderr=subprocess.DEVNULL,
                                         universal_newlines=True, timeout=GIT_TIMEOUT).strip()
        dirty = subprocess.call(['git', '-C', root, 'diff', '--quiet', 'HEAD'], stderr=subprocess.DEVNULL,
                                timeout=GIT_TIMEOUT)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return os.environ.get('AFA_GIT_COMMIT')  # set in the Docker image, which has no .git
    return commit + ('+dirty' if dirty else '')


def package_versions(names=PACKAGES):
    """Versions of the packages that decide the numbers (None when not installed)."""
    versions = {'python': platform.python_version()}
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except Exception:
                versions[name] = None
                continue
        versions[name] = getattr(module, '__version__', 'unknown')
    if os.environ.get('AFA_IMAGE'):
        versions['image'] = os.environ['AFA_IMAGE']  # docker/Dockerfile: paper; docker/Dockerfile.modern: modern
    try:
        import torch
        versions['cuda'] = torch.version.cuda
        versions['cudnn'] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
        versions['gpu'] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return versions


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def record(**extra):
    """The provenance block written into metrics and run records."""
    info = {'git_commit': git_commit(), 'date': now(), 'host': platform.node(), 'versions': package_versions()}
    info.update(extra)
    return info

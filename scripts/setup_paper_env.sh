#!/usr/bin/env bash
# Create or update the paper environment in .venv-paper: the pins of the paper's image (requirements/paper*.txt:
# torch 1.9.0, torchvision 0.10.0, mmcv-full 1.3.11, mmdet 2.16.0) on a Python 3.8, running on CPU.
#
# Why: the image's stack is what users run; this is the same stack on a host without a GPU, so that CI executes
# every stage under the paper's pins. The interpreter: $AFA_PAPER_PYTHON, else the newest pyenv 3.8. mmcv-full
# comes from scripts/mmcv_wheel.sh (cached, seeded or built from the hash-pinned sdist, with progress). A stamp of
# the pin files makes a run on a ready machine return in seconds.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${AFA_PAPER_VENV:-$repo/.venv-paper}"
req="$repo/requirements"
stamp="$venv/.afa-setup-stamp"
# sha256 of mmcv-full-1.3.11.tar.gz on PyPI (its simple index lists the same digest)
mmcv_sdist_sha256=1a99b683b6416f649bd0de3661c08f16897e41faca3ffcfc4e3793fafdae941c
mmcv_version=$(sed -n 's/^mmcv-full==\([0-9.]*\).*/\1/p' "$req/paper.txt")

log() { printf '[paper-env] %s\n' "$*" >&2; }

python=${AFA_PAPER_PYTHON:-}
if [[ -z $python ]]; then
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    python=$(find "$root/versions" -maxdepth 3 -path '*/3.8.*/bin/python3.8' 2>/dev/null | sort -V | tail -n 1)
fi
if [[ -z $python || ! -x $python ]] \
    || ! "$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 8) else 1)' 2>/dev/null; then
    log "error: the paper environment needs a Python 3.8 interpreter (torch 1.9.0 has no wheel for newer ones);"
    log "none found${python:+ ($python is not 3.8)}. Install one (e.g. 'pyenv install 3.8.18') or set"
    log "AFA_PAPER_PYTHON=/path/to/python3.8."
    exit 2
fi

want=$(cat "$req"/paper-torch.txt "$req"/paper-build.txt "$req"/paper.txt "$repo"/pyproject.toml "$0" \
    "$repo/scripts/mmcv_wheel.sh" | sha256sum | cut -c1-16)
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    log "environment $venv is up to date (stamp $want)"
    exit 0
fi

if [[ ! -x $venv/bin/python ]]; then
    log "creating $venv with $("$python" --version) ($python)"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

log "installing the build prerequisites (requirements/paper-build.txt) and torch (paper-torch.txt, about 850 MB)"
"${pip[@]}" install --progress-bar on -r "$req/paper-build.txt"
"${pip[@]}" install --progress-bar on -r "$req/paper-torch.txt"

wheel=$(bash "$repo/scripts/mmcv_wheel.sh" "$venv" "$mmcv_version" "$mmcv_sdist_sha256")

# --no-build-isolation: pycocotools 2.0.4 is sdist-only and must compile against numpy 1.21.6 (and cython<3)
# from paper-build.txt, not against the newest numpy in an isolated build.
log "installing mmcv-full $mmcv_version, mmdet and the rest (requirements/paper.txt) and the afa package"
"${pip[@]}" install --progress-bar on --no-build-isolation -f "$(dirname "$wheel")" -r "$req/paper.txt"
"${pip[@]}" install --no-deps --no-build-isolation -e "$repo"

log "checking the stack imports"
"$venv/bin/python" - <<'PY'
import mmcv, mmdet, torch, scipy  # noqa: F401
from mmcv.ops import RoIAlign, nms  # noqa: F401  (fails when the ops were not compiled)
import afa.models  # noqa: F401  (registers the necks)
print("[paper-env] torch %s, mmcv-full %s, mmdet %s: ok" % (torch.__version__, mmcv.__version__, mmdet.__version__))
PY
echo "$want" > "$stamp"
log "ready: $venv"

#!/usr/bin/env bash
# Create or update the project's CPU environment in .venv at the repo root.
#
# Why a script: mmcv-full 1.7.2 has no wheel for Python 3.11 / torch 2.x, so it is built from its sdist
# (about 20 minutes on 2 cores) by scripts/mmcv_wheel.sh, once, into a cache keyed by mmcv, torch and Python
# versions ($AFA_CACHE, default ~/.cache/afa), or seeded from a verified wheelhouse ($AFA_WHEELHOUSE). A stamp
# file holding the hash of the pin files makes a second run on a ready machine return in seconds.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${AFA_VENV:-$repo/.venv}"
python="${AFA_PYTHON:-python3.11}"
mmcv_version=1.7.2
# sha256 of mmcv-full-1.7.2.tar.gz on PyPI
mmcv_sdist_sha256=aa276a2c68fa84db9bbcdcf6ae941e30f0cb4a7f175bd283516669e00bab3759
req="$repo/requirements"
stamp="$venv/.afa-setup-stamp"

log() { printf '[setup] %s\n' "$*" >&2; }

# Which torch build: "pypi" (default, what CI installs: PyPI's torch, which brings CUDA 13 libraries and triton,
# about 4 GB that a CPU never loads) or "cpu-only" (the same versions from PyTorch's own CPU index, for machines
# that reach it: requirements/torch-cpu-index.txt). Switching an existing .venv keeps the NVIDIA packages already
# installed: remove .venv first to get the smaller one.
case "${AFA_TORCH:-pypi}" in
    pypi) torch_req="$req/torch-cpu.txt" ;;
    cpu-only) torch_req="$req/torch-cpu-index.txt" ;;
    *) log "error: AFA_TORCH=$AFA_TORCH is not a torch build; use pypi (the default) or cpu-only"; exit 2 ;;
esac

command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 9) else 1)' || {
    log "error: $python is $("$python" --version 2>&1); the CPU environment needs Python 3.9+ (3.11 tested)."
    log "Set AFA_PYTHON to a newer interpreter."
    exit 2
}

want=$(cat "$torch_req" "$req"/build.txt "$req"/cpu.txt "$repo"/pyproject.toml "$0" "$repo/scripts/mmcv_wheel.sh" \
    | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "environment $venv is up to date (stamp $want)"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating virtual environment $venv with $("$python" --version)"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

log "installing torch and build requirements (pinned in requirements/$(basename "$torch_req"), build.txt)"
"${pip[@]}" install --progress-bar on -r "$torch_req" -r "$req/build.txt"

wheel=$(bash "$repo/scripts/mmcv_wheel.sh" "$venv" "$mmcv_version" "$mmcv_sdist_sha256")

log "installing mmcv-full, mmdet and the rest (requirements/cpu.txt) and the afa package"
"${pip[@]}" install --progress-bar on "$wheel" -r "$req/cpu.txt"
"${pip[@]}" install --no-deps --no-build-isolation -e "$repo"

log "checking the stack imports"
"$venv/bin/python" - <<'EOF'
import mmcv, mmdet, torch
from mmcv.ops import RoIAlign, nms  # noqa: F401  (fails when the ops were not compiled)
import afa  # noqa: F401  (registers the necks)
print("[setup] torch %s, mmcv-full %s, mmdet %s: ok" % (torch.__version__, mmcv.__version__, mmdet.__version__))
EOF
echo "$want" > "$stamp"
log "ready: $venv"

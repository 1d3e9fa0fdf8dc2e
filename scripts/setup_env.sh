#!/usr/bin/env bash
# Create or update the project's CPU environment in .venv at the repo root.
#
# Why a script: mmcv-full 1.7.2 has no wheel for Python 3.11 / torch 2.x, so it is built from its sdist
# (about 20 minutes on 2 cores). The wheel is built once into a cache keyed by mmcv, torch and Python
# versions ($AFA_CACHE, default ~/.cache/afa) and reused by every later setup. A stamp file holding the hash
# of the pin files makes a second run on a ready machine return in seconds. AFA_WHEELHOUSE may name a folder of
# prebuilt wheels with a SHA256SUMS file: a verified mmcv-full wheel from it seeds an empty cache.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${AFA_VENV:-$repo/.venv}"
cache="${AFA_CACHE:-$HOME/.cache/afa}"
python="${AFA_PYTHON:-python3.11}"
mmcv_version=1.7.2
# sha256 of mmcv-full-1.7.2.tar.gz on PyPI
mmcv_sdist_sha256=aa276a2c68fa84db9bbcdcf6ae941e30f0cb4a7f175bd283516669e00bab3759
req="$repo/requirements"
stamp="$venv/.afa-setup-stamp"

log() { printf '[setup] %s\n' "$*" >&2; }

command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 9) else 1)' || {
    log "error: $python is $("$python" --version 2>&1); the CPU environment needs Python 3.9+ (3.11 tested)."
    log "Set AFA_PYTHON to a newer interpreter."
    exit 2
}

want=$(cat "$req"/torch-cpu.txt "$req"/build.txt "$req"/cpu.txt "$repo"/pyproject.toml "$0" | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "environment $venv is up to date (stamp $want)"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating virtual environment $venv with $("$python" --version)"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

log "installing torch and build requirements (pinned in requirements/torch-cpu.txt, build.txt)"
"${pip[@]}" install --progress-bar on -r "$req/torch-cpu.txt" -r "$req/build.txt"

py_tag=$("$venv/bin/python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
wheel_dir="$cache/wheels/mmcv-full-$mmcv_version/torch-$torch_version-$py_tag"
mkdir -p "$wheel_dir"
wheel=$(find "$wheel_dir" -maxdepth 1 -name "mmcv_full-$mmcv_version-*.whl" | head -n 1)
if [[ -z "$wheel" && -n "${AFA_WHEELHOUSE:-}" ]]; then
    wheel=$(bash "$repo/scripts/seed_wheel.sh" "$AFA_WHEELHOUSE" "mmcv_full-$mmcv_version-$py_tag-" "$wheel_dir") || wheel=
fi

if [[ -z "$wheel" ]]; then
    log "building mmcv-full $mmcv_version with CPU ops against torch $torch_version ($py_tag)"
    log "this happens once per machine (about 12-20 minutes on 2 cores); the wheel is cached in $wheel_dir"
    build_log="$wheel_dir/build.log"
    tmp=$(mktemp -d "$wheel_dir/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "${pip[@]}" download --quiet --no-deps --no-build-isolation --no-binary :all: -d "$tmp" "mmcv-full==$mmcv_version"
    echo "$mmcv_sdist_sha256  $tmp/mmcv-full-$mmcv_version.tar.gz" | sha256sum --check --quiet || {
        log "error: the mmcv-full $mmcv_version sdist from the index does not match its pinned sha256"; exit 1; }
    tar -xzf "$tmp/mmcv-full-$mmcv_version.tar.gz" -C "$tmp"
    src="$tmp/mmcv-full-$mmcv_version"
    # torch >= 2.10 headers need C++20; mmcv 1.7.2's setup.py hard-codes -std=c++17 for torch > 1.12.1.
    if grep -q 'C++20 or later' "$venv"/lib/python*/site-packages/torch/include/ATen/ATen.h 2>/dev/null; then
        log "torch $torch_version needs C++20: compiling mmcv's ops with -std=c++20"
        "$venv/bin/python" "$repo/scripts/patch_mmcv_cxx_std.py" "$src/setup.py" c++20
    fi
    start=$SECONDS
    # ninja prints "[i/n] c++ ..." for each compile: show those as progress, keep the full log on disk.
    if ! MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${pip[@]}" wheel -v --no-deps --no-build-isolation -w "$tmp" "$src" 2>&1 \
        | tee "$build_log" \
        | while IFS= read -r line; do
            if [[ $line =~ ^[[:space:]]*\[([0-9]+)/([0-9]+)\] ]]; then
                log "mmcv-full build: ${BASH_REMATCH[1]}/${BASH_REMATCH[2]} sources compiled, $((SECONDS - start)) s"
            fi
        done; then
        log "error: the mmcv-full build failed; the full log is $build_log"
        exit 1
    fi
    built=$(find "$tmp" -maxdepth 1 -name "mmcv_full-*.whl" | head -n 1)
    [[ -n "$built" ]] || { log "error: no wheel produced, see $build_log"; exit 1; }
    mv "$built" "$wheel_dir/"
    wheel="$wheel_dir/$(basename "$built")"
    log "built $(basename "$wheel") in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
else
    log "using cached mmcv-full wheel $wheel"
fi

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

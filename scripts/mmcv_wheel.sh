#!/usr/bin/env bash
# Print the path of an mmcv-full wheel with CPU ops for a virtual environment's torch and Python, making it once:
# from the wheel cache ($AFA_CACHE, default ~/.cache/afa), else from a verified wheelhouse ($AFA_WHEELHOUSE: a
# folder of prebuilt wheels with SHA256SUMS), else built from the hash-pinned PyPI sdist (progress on stderr,
# the full log kept beside the cached wheel). Shared by the CPU and the paper environment's setups.
# Usage: mmcv_wheel.sh VENV MMCV_VERSION SDIST_SHA256
set -euo pipefail
venv=$1 version=$2 sdist_sha256=$3
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${AFA_CACHE:-$HOME/.cache/afa}"
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)
log() { printf '[setup] %s\n' "$*" >&2; }

py_tag=$("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
torch_version=$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')
wheel_dir="$cache/wheels/mmcv-full-$version/torch-$torch_version-$py_tag"
mkdir -p "$wheel_dir"
wheel=$(find "$wheel_dir" -maxdepth 1 -name "mmcv_full-$version-*.whl" | head -n 1)
if [[ -n $wheel ]]; then
    log "using cached mmcv-full wheel $wheel"
    echo "$wheel"
    exit 0
fi
if [[ -n ${AFA_WHEELHOUSE:-} ]] \
    && wheel=$(bash "$repo/scripts/seed_wheel.sh" "$AFA_WHEELHOUSE" "mmcv_full-$version-$py_tag-" "$wheel_dir"); then
    echo "$wheel"
    exit 0
fi

log "building mmcv-full $version with CPU ops against torch $torch_version ($py_tag)"
log "this happens once per machine (8-20 minutes on 2 cores); the wheel is cached in $wheel_dir"
build_log="$wheel_dir/build.log"
tmp=$(mktemp -d "$wheel_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"${pip[@]}" download --quiet --no-deps --no-build-isolation --no-binary :all: -d "$tmp" "mmcv-full==$version"
echo "$sdist_sha256  $tmp/mmcv-full-$version.tar.gz" | sha256sum --check --quiet || {
    log "error: the mmcv-full $version sdist from the index does not match its pinned sha256 $sdist_sha256"
    exit 1
}
tar -xzf "$tmp/mmcv-full-$version.tar.gz" -C "$tmp"
src="$tmp/mmcv-full-$version"
# torch >= 2.10 headers need C++20; mmcv 1.7.2's setup.py hard-codes -std=c++17 for torch > 1.12.1.
if grep -q 'C++20 or later' "$venv"/lib/python*/site-packages/torch/include/ATen/ATen.h 2>/dev/null; then
    log "torch $torch_version needs C++20: compiling mmcv's ops with -std=c++20"
    "$py" "$repo/scripts/patch_mmcv_cxx_std.py" "$src/setup.py" c++20
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
[[ -n $built ]] || { log "error: no wheel produced, see $build_log"; exit 1; }
mv "$built" "$wheel_dir/"
log "built $(basename "$built") in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
echo "$wheel_dir/$(basename "$built")"

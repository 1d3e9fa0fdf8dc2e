#!/usr/bin/env bash
# Fill a folder from which scripts/gpu_check.sh installs everything it needs on a GPU machine without network,
# besides that machine's own torch (make wheelhouse):
#   - mmcv-full's sdist, checked against scripts/setup_env.sh's sha256;
#   - the wheels of requirements/build.txt and cpu.txt and of everything they pull in (sdist-only packages, such
#     as some of Snakemake's, built into wheels here), never torch;
#   - nvcc and its companions, requirements/cuda-nvcc.txt (`pip install --target`, by scripts/cuda_tools.sh);
#   - SHA256SUMS of every file.
# The wheels are for PYTHON's version (default .venv/bin/python, 3.11) on x86-64 Linux: pass an interpreter of
# the GPU machine's Python version. Copy the folder and a checkout of this repository to the GPU machine, then
#   scripts/gpu_check.sh --python /path/to/python-with-torch --wheelhouse DIR
#
#   scripts/wheelhouse.sh DIR [PYTHON]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 1 && $1 != -* ]] || { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dir=$1
py=${2:-$repo/.venv/bin/python}
req=$repo/requirements
log() { printf '[wheelhouse] %s\n' "$*" >&2; }
pip=("$py" -m pip --disable-pip-version-check)

"$py" -c 'import torch' 2>/dev/null \
    || { log "error: $py has no torch: mmcv-full's setup.py imports it to describe its sdist (make setup)"; exit 2; }
mmcv_version=$(sed -n 's/^mmcv_version=//p' "$repo/scripts/setup_env.sh")
mmcv_sha256=$(sed -n 's/^mmcv_sdist_sha256=//p' "$repo/scripts/setup_env.sh")
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

log "mmcv-full $mmcv_version sdist"
"${pip[@]}" download --quiet --no-deps --no-binary :all: --no-build-isolation -d "$dir" "mmcv-full==$mmcv_version"
echo "$mmcv_sha256  $dir/mmcv-full-$mmcv_version.tar.gz" | sha256sum --check --quiet \
    || { log "error: the mmcv-full sdist does not match its pinned sha256 $mmcv_sha256"; exit 1; }

log "wheels of requirements/build.txt and cpu.txt for Python $("$py" -c 'import platform; print(platform.python_version())')"
"${pip[@]}" wheel --quiet -w "$dir" -r "$req/build.txt" -r "$req/cpu.txt"

log "nvcc and its companions (requirements/cuda-nvcc.txt)"
"${pip[@]}" download --quiet --no-deps --only-binary :all: -d "$dir" -r "$req/cuda-nvcc.txt"

if find "$dir" -maxdepth 1 -name 'torch-*' | grep -q .; then
    log "error: torch came into $dir: the GPU machine's own torch must be the one built against"
    exit 1
fi
sums=$(cd "$dir" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort | xargs sha256sum)
printf '%s\n' "$sums" > "$dir/SHA256SUMS"
log "$(($(wc -l < "$dir/SHA256SUMS"))) files, $(du -sh "$dir" | cut -f1) in $dir"

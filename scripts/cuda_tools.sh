#!/usr/bin/env bash
# Print a folder that holds the pip packages of one requirements file (requirements/cuda-nvcc.txt: nvcc and its
# companions; cuda-inspect.txt: cuobjdump), installed once with `pip install --target` into the cache
# ($AFA_CACHE, default ~/.cache/afa) under a name keyed by the file's content, so that a pin change installs
# afresh. The toolkit is then FOLDER/nvidia/cu13 (bin/nvcc, bin/ptxas, include/, nvvm/; bin/cuobjdump).
# Offline: AFA_WHEELHOUSE=DIR installs from that folder only (make wheelhouse fills one).
# Usage: cuda_tools.sh REQUIREMENTS_FILE [PYTHON]
set -euo pipefail
req=$1
py=${2:-python3}
cache="${AFA_CACHE:-$HOME/.cache/afa}"
log() { printf '[cuda-tools] %s\n' "$*" >&2; }

[[ -f $req ]] || { log "error: no requirements file $req"; exit 2; }
key=$(sha256sum "$req" | cut -c1-16)
dir="$cache/cuda/$(basename "$req" .txt)-$key"
if [[ -f $dir/.complete ]]; then
    echo "$dir"
    exit 0
fi
source=()
[[ -n ${AFA_WHEELHOUSE:-} ]] && source=(--no-index --find-links "$AFA_WHEELHOUSE")
mkdir -p "$cache/cuda"
tmp=$(mktemp -d "$cache/cuda/.install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "installing $(grep -c '==' "$req") pinned packages of $req into $dir (once)"
# --no-deps: every package is pinned in the file, nothing else may come in
"$py" -m pip install --quiet --disable-pip-version-check --no-deps "${source[@]}" --only-binary :all: \
    --target "$tmp" -r "$req"
# torch's extension builder links -lcudart: the runtime package ships only libcudart.so.13
for lib in "$tmp"/nvidia/cu*/lib/libcudart.so.*; do
    if [[ -e $lib ]]; then ln -sf "$(basename "$lib")" "$(dirname "$lib")/libcudart.so"; fi
done
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"

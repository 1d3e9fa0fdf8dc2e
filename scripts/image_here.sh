#!/usr/bin/env bash
# Build the modern image (docker/Dockerfile.modern) on this machine with podman, every input from Debian and
# PyPI, and check it (make image-modern):
#   1. the base: Debian bookworm made by debootstrap from deb.debian.org (minbase, as the official slim image),
#      imported into podman under the name docker/modern-env.json gives (debian:bookworm-slim); kept once made;
#   2. the image, through docker/build.sh --local-base (the base pinned by the digest podman gives it), in Docker's
#      format (podman's default OCI format ignores SHELL, and RUN would lose bash's pipefail), with the host
#      network and the host's CA bundle for pip (mounted for the build only), MAX_JOBS parallel compiles;
#   3. what it holds: its size, the ops mmcv.ops lists, and `cuobjdump --list-elf` of mmcv's _ext .so (the GPU
#      architectures compiled: each of TORCH_CUDA_ARCH_LIST must be there);
#   4. `reproduce --smoke` (CPU) in a container as the image's user (uid 1000), results on a mounted folder: the
#      smoke tables must be written.
# Everything lands in WORK (default build/image-modern): build.log, smoke.log, report.txt, results/.
#
#   scripts/image_here.sh [--work DIR] [--tag NAME] [--max-jobs N] [--skip-build] [--skip-smoke]
#
# Needs root, podman, runc and debootstrap (make image-tools: apt-get install podman buildah debootstrap runc).
# The CUDA build is slow on a small machine (sm_80 + sm_90, 56 CUDA sources and the CPU ops: about 2 hours on
# 2 busy cores): run it under `nice -n 19` with MAX_JOBS 1 or 2 where others work.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$repo/build/image-modern
max_jobs=${MAX_JOBS:-2}
build=true
smoke=true
tag=afa-repro:modern
ca_bundle=${AFA_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
mirror=${AFA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# podman run as it works on these machines: runc, and limits that fit inside the host's
podman_run=(podman --runtime runc run --rm --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

log() { printf '[image-here] %s\n' "$*" >&2; }
die() { printf 'image_here: error: %s\n' "$1" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --work) [[ $# -ge 2 ]] || die "--work needs a folder"; work=$2; shift 2 ;;
        --tag) [[ $# -ge 2 ]] || die "--tag needs an image name"; tag=$2; shift 2 ;;
        --max-jobs) [[ $# -ge 2 ]] || die "--max-jobs needs a number"; max_jobs=$2; shift 2 ;;
        --skip-build) build=false; shift ;;
        --skip-smoke) smoke=false; shift ;;
        *) die "unknown option '$1' (see scripts/image_here.sh --help)" ;;
    esac
done
[[ $max_jobs =~ ^[1-9][0-9]*$ ]] || die "--max-jobs must be a positive number, not '$max_jobs'"
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: make image-tools (apt-get install podman buildah debootstrap runc)"
done
[[ -f $ca_bundle ]] || die "no CA bundle at $ca_bundle: set AFA_CA_BUNDLE"
mkdir -p "$work"
work=$(cd "$work" && pwd)
report=$work/report.txt

read -r base arch_list < <(python3 - "$repo/docker/modern-env.json" <<'EOF'
import json, sys
pins = json.load(open(sys.argv[1]))['pins']
print(pins['BASE_IMAGE'], pins['TORCH_CUDA_ARCH_LIST'])
EOF
)
# podman stores a short name under its registry: debian:TAG is docker.io/library/debian:TAG
ref=$base
[[ ${base%%:*} == */* ]] || ref=docker.io/library/$base
release=${base#*:}
release=${release%%-*}

# 1. The base image, made by debootstrap (once).
if ! podman image exists "$ref"; then
    rootfs=$work/rootfs
    log "making $base with debootstrap ($release, minbase) from $mirror"
    rm -rf "$rootfs"
    debootstrap --variant=minbase "$release" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed: $work/debootstrap.log"; }
    # the official image's apt sources: the release, its updates and security
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
        "$mirror" "$release" "$mirror" "$release" "$release" > "$rootfs/etc/apt/sources.list"
    rm -f "$rootfs"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$rootfs" -c . | podman import - "$ref" >/dev/null
    rm -rf "$rootfs"
    log "imported $ref (Debian $("${podman_run[@]}" "$ref" cat /etc/debian_version))"
fi

# 2. The image.
if $build; then
    log "building $tag (MAX_JOBS $max_jobs, TORCH_CUDA_ARCH_LIST $arch_list): log in $work/build.log"
    start=$SECONDS
    if ! DOCKER=podman bash "$repo/docker/build.sh" modern --tag "$tag" --local-base -- \
        --format docker --runtime runc --network host --pull=never \
        --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        --volume "$ca_bundle:/run/afa-build/ca.crt:ro" --build-arg PIP_CERT=/run/afa-build/ca.crt \
        --build-arg MAX_JOBS="$max_jobs" > "$work/build.log" 2>&1; then
        tail -n 30 "$work/build.log" >&2
        die "the image build failed: $work/build.log"
    fi
    build_s=$((SECONDS - start))
    {
        echo "image $tag built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((build_s / 60)) min $((build_s % 60)) s (MAX_JOBS $max_jobs, $(nproc) cores)"
        grep -E '^mmcv-full .* built in [0-9]+ s' "$work/build.log" || true
    } > "$report"
fi
$build || : > "$report"
podman image exists "$tag" || die "no image $tag: build it first (without --skip-build)"

# 3. What the image holds.
{
    echo "image: $tag, size $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.2f GB (%.0f bytes)", $1 / 1e9, $1}')"
    echo "base: $(podman image inspect --format '{{index .Labels "org.opencontainers.image.base.name"}}@{{index .Labels "org.opencontainers.image.base.digest"}}' "$tag")"
    "${podman_run[@]}" --entrypoint cat "$tag" /opt/afa-image.json || echo "(no /opt/afa-image.json in $tag)"
    "${podman_run[@]}" --entrypoint /opt/afa-env/bin/python "$tag" -c '
import mmcv, mmcv.ops, torch
from mmcv.ops import get_compiling_cuda_version
print("torch %s (CUDA %s), mmcv-full %s, ops compiled with CUDA %s" % (
    torch.__version__, torch.version.cuda, mmcv.__version__, get_compiling_cuda_version()))
print("mmcv.ops (%d): %s" % (len(mmcv.ops.__all__), " ".join(sorted(mmcv.ops.__all__))))'
} >> "$report"
ext=$("${podman_run[@]}" --entrypoint /opt/afa-env/bin/python "$tag" -c \
    'import glob, os, mmcv; print(glob.glob(os.path.join(os.path.dirname(mmcv.__file__), "_ext*.so"))[0])')
container=$(podman create "$tag")
podman cp "$container:$ext" "$work/$(basename "$ext")"
podman rm "$container" >/dev/null
inspect=$(bash "$repo/scripts/cuda_tools.sh" "$repo/requirements/cuda-inspect.txt")
cuobjdump=$(find "$inspect/nvidia" -path '*/bin/cuobjdump' | head -n 1)
[[ -x $cuobjdump ]] || die "no cuobjdump under $inspect"
# a library without device code makes cuobjdump fail: that is the error below, with its words in the report
elves=$("$cuobjdump" --list-elf "$work/$(basename "$ext")" 2>&1) || true
{
    echo "cuobjdump --list-elf $(basename "$ext") ($(du -h "$work/$(basename "$ext")" | cut -f1)): $(grep -c 'ELF file' <<< "$elves" || true) ELF objects"
    grep -o 'sm_[0-9]*' <<< "$elves" | sort | uniq -c | sed 's/^/   /' || true
    grep -q 'ELF file' <<< "$elves" || printf '   cuobjdump: %s\n' "$elves"
} >> "$report"
IFS=';' read -r -a arches <<< "$arch_list"
for a in "${arches[@]}"; do
    grep -q "sm_${a/./}\." <<< "$elves" || die "no sm_${a/./} code in $(basename "$ext"): see $report"
done

# 4. The smoke pipeline in a container, as the image's user, results on a mounted folder.
if $smoke; then
    results=$work/results
    rm -rf "$results"
    mkdir -p "$results"
    chown 1000:1000 "$results"
    log "reproduce --smoke in $tag (uid 1000, results in $results): log in $work/smoke.log"
    start=$SECONDS
    if ! "${podman_run[@]}" --volume "$results:/results" "$tag" reproduce --smoke --cores "$(nproc)" \
        > "$work/smoke.log" 2>&1; then
        tail -n 30 "$work/smoke.log" >&2
        die "reproduce --smoke failed in the container: $work/smoke.log"
    fi
    tables=$results/tables/smoke/tables.md
    [[ -s $tables ]] || die "reproduce --smoke wrote no $tables"
    owner=$(stat -c %u "$tables")
    [[ $owner == 1000 ]] || die "$tables belongs to uid $owner, not the image's user 1000"
    echo "reproduce --smoke (CPU, uid 1000): $((SECONDS - start)) s, tables in $tables" >> "$report"
fi
log "done: $report"
cat "$report"

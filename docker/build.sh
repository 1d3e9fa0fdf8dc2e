#!/usr/bin/env bash
# Build one of the two images with its base image pinned by digest and recorded inside (labels and
# /opt/afa-image.json):
#
#   docker/build.sh paper|modern [--tag NAME] [--local-base] [--dry-run] [-- DOCKER_BUILD_OPTIONS ...]
#
# The digest is docker/IMAGE-env.json's `base_digest` when someone recorded it there (the build then pulls
# exactly that), else the one the base image's tag resolves to now (printed, to be recorded). --local-base: the
# base image is in the local store already under its name (scripts/image_here.sh imports one that debootstrap
# made): its digest is taken from there and nothing is pulled (podman). DOCKER names the client (default docker;
# podman works the same).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=${DOCKER:-docker}
PYTHON=${PYTHON:-python3}

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    printf 'build.sh: error: %s\n' "$1" >&2
    exit 2
}

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case "$1" in
    -h|--help) usage; exit 0 ;;
    paper) dockerfile=docker/Dockerfile ;;
    modern) dockerfile=docker/Dockerfile.modern ;;
    *) die "the image is 'paper' or 'modern', not '$1'" ;;
esac
image=$1
shift
tag="afa-repro:$image"
dry_run=false
local_base=false
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a name"; tag=$2; shift 2 ;;
        --dry-run) dry_run=true; shift ;;
        --local-base) local_base=true; shift ;;
        --) shift; extra=("$@"); break ;;
        *) die "unknown option '$1' (see build.sh --help)" ;;
    esac
done

run() {  # print the command; run it unless --dry-run
    printf '+ %s\n' "$*" >&2
    $dry_run || "$@"
}

read -r base digest < <("$PYTHON" - "$repo/docker/$image-env.json" <<'EOF'
import json, sys
env = json.load(open(sys.argv[1]))
print(env['pins']['BASE_IMAGE'], env.get('base_digest') or '-')
EOF
)
if $local_base; then
    if $dry_run; then
        digest="sha256:$(printf '0%.0s' {1..64})"
    else
        digest=$("$DOCKER" image inspect --format '{{.Digest}}' "$base" 2>/dev/null) \
            || die "--local-base: no image $base in the local store (make image-modern imports one)"
        [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "--local-base: $DOCKER reports no digest for $base ('$digest')"
    fi
    printf 'build.sh: local base %s@%s\n' "$base" "$digest" >&2
elif [[ $digest == - ]]; then
    run "$DOCKER" pull "$base"
    if $dry_run; then
        digest="sha256:$(printf '0%.0s' {1..64})"
    else
        repo_digest=$("$DOCKER" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$base" \
                      | grep -m1 "^\(docker.io/\)\?${base%%:*}@sha256:" || true)
        [[ -n $repo_digest ]] || die "could not resolve the digest of $base (is it pulled from a registry?)"
        digest=${repo_digest#*@}
    fi
    printf 'build.sh: %s resolves to %s; to pin it, set "base_digest" in docker/%s-env.json\n' \
        "$base" "$digest" "$image" >&2
else
    [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "base_digest in docker/$image-env.json is not sha256:<64 hex digits>"
    run "$DOCKER" pull "$base@$digest"
fi

if commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null); then
    git -C "$repo" diff --quiet HEAD || commit="$commit+dirty"
else
    commit=unknown
fi
# The package's version, from its one definition (afa/__init__.py), for the image's label.
version=$(sed -n "s/^__version__ = '\(.*\)'$/\1/p" "$repo/afa/__init__.py" 2>/dev/null || true)
run "$DOCKER" build -f "$repo/$dockerfile" -t "$tag" \
    --build-arg "BASE_DIGEST=$digest" --build-arg "GIT_COMMIT=$commit" --build-arg "AFA_VERSION=${version:-unknown}" \
    "${extra[@]}" "$repo"
$dry_run || printf 'build.sh: built %s (base %s@%s)\n' "$tag" "$base" "$digest" >&2

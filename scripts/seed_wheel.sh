#!/usr/bin/env bash
# Seed an empty wheel cache from a wheelhouse: a folder of prebuilt wheels with a SHA256SUMS file.
# Usage: seed_wheel.sh WHEELHOUSE NAME_PREFIX CACHE_DIR. Prints the cached wheel's path; exits 1 (after saying
# why on stderr) when the folder has no such wheel or its checksum is missing or wrong, so the caller builds.
set -euo pipefail
house=$1 prefix=$2 dest=$3
log() { printf '[setup] %s\n' "$*" >&2; }
found=$(find "$house" -maxdepth 1 -name "$prefix*.whl" 2>/dev/null | sort | head -n 1)
if [[ -z $found ]]; then
    log "wheelhouse $house has no $prefix*.whl: building from source"
    exit 1
fi
name=$(basename "$found")
want=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1}' "$house/SHA256SUMS" 2>/dev/null | head -n 1)
if [[ -z $want ]]; then
    log "wheelhouse $house/SHA256SUMS lists no checksum for $name: not used, building from source"
    exit 1
fi
got=$(sha256sum "$found" | cut -d' ' -f1)
if [[ $got != "$want" ]]; then
    log "wheelhouse $name has sha256 $got, SHA256SUMS says $want: not used, building from source"
    exit 1
fi
mkdir -p "$dest"
cp "$found" "$dest/.$name.partial"
mv "$dest/.$name.partial" "$dest/$name"
log "seeded the wheel cache with $name from $house (sha256 verified)"
echo "$dest/$name"

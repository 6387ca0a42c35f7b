#!/usr/bin/env bash
# Checks that vendor/ is exactly the pinned crates from crates.io plus the
# patches in vendor/patches/, so a reviewer reads the patches (a few dozen
# lines), not 80 000 vendored ones.
#
#     vendor/verify.sh            # fetch, check digests, patch, compare
#     vendor/verify.sh --write    # after changing vendor/CRATE/src: rewrite the patches
#
# Each vendored crate keeps src/ whole; its Cargo.toml is trimmed (no
# examples, tests or dev-dependencies) and is not compared.
set -euo pipefail
cd "$(dirname "$0")"
write=false
[ "${1:-}" = --write ] && write=true
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
while read -r digest file; do
  crate="${file%-*}" version="${file##*-}"
  version="${version%.crate}"
  cached=$(ls ~/.cargo/registry/cache/*/"$file" 2>/dev/null | head -1 || true)
  if [ -n "$cached" ]; then
    cp "$cached" "$scratch/$file"
  else
    curl -sSfL --retry 3 "https://static.crates.io/crates/$crate/$file" -o "$scratch/$file"
  fi
  echo "$digest  $scratch/$file" | sha256sum --quiet -c - || { echo "!! $file does not match its pinned digest" >&2; exit 1; }
  tar xzf "$scratch/$file" -C "$scratch"
  pristine="$scratch/$crate-$version"
  patch_dir="patches/$crate"
  if $write; then
    echo "--write: the patches are numbered per change now (patches/$crate/NNNN-name.patch); write a new one by hand" >&2
    exit 2
  fi
  for patch_file in "$patch_dir"/[0-9][0-9][0-9][0-9]-*.patch; do
    (cd "$pristine" && patch -p1 -s -F0 --no-backup-if-mismatch < "$OLDPWD/$patch_file")
  done
  if diff -r "$pristine/src" "$crate/src" >"$scratch/diff" 2>&1; then
    echo "ok: vendor/$crate = $crate $version from crates.io + $patch_dir/*.patch"
  else
    echo "!! vendor/$crate differs from $crate $version + $patch_dir/*.patch:" >&2
    head -40 "$scratch/diff" >&2
    status=1
  fi
done < patches/SHA256SUMS
exit $status

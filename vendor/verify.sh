#!/usr/bin/env bash
# Proves that vendor/ is exactly the pinned crates from crates.io plus the
# numbered patches in vendor/patches/, so a reviewer reads the patches (one
# file per change, vendor/QRPAIR-PATCH.md says why each), not the 80 000
# vendored lines.
#
#     vendor/verify.sh                        # fetch, check digests, patch, compare: exit 1 on any difference
#     vendor/verify.sh --write CRATE NNNN-name  # write vendor/CRATE's edits as patches/CRATE/NNNN-name.patch
#
# What it checks, failing with a message that names the odd one out:
#
# - one set of crates: the directories of vendor/ (but patches/ and
#   test-upstream/), the .crate files pinned in patches/SHA256SUMS, the
#   directories of patches/, and the rows of the root Cargo.toml's
#   [patch.crates-io] (each `NAME = { path = "vendor/NAME" }`); and each
#   vendored Cargo.toml has the pinned version;
# - each .crate, from cargo's registry cache when cargo has it (offline),
#   else downloaded with curl from crates.io's static host, has its pinned
#   SHA-256;
# - patches/CRATE/ holds only NNNN-name.patch files (numbered by change;
#   0000-trim-cargo-toml.patch trims the Cargo.toml), OMITTED and ADDED;
#   they apply in number order, each exactly (no fuzz, no offset) on the
#   ones before it;
# - the result, less the paths patches/CRATE/OMITTED lists (upstream's
#   examples, tests, benches, packaging metadata; each must exist in the
#   .crate), plus the files patches/CRATE/ADDED names (each a file of
#   another pinned crate, byte for byte: the licence texts of crates whose
#   .crate ships none), equals vendor/CRATE: EVERY file, compared byte for
#   byte, none missing and none extra, and the same files executable;
# - every vendored crate carries the licence files its Cargo.toml's
#   `license` names (LICENSE-MIT, LICENSE-APACHE).
#
# Changing the fork: edit vendor/CRATE, then
#     vendor/verify.sh --write CRATE NNNN-short-name
# writes the difference between pristine + existing patches and
# vendor/CRATE as a new patch, NNNN being the change's number in
# QRPAIR-PATCH.md (above the crate's last; a change in two crates gets the
# same number in both). Given the name of the crate's LAST patch it
# rewrites that one instead (keeping its header), to amend it. An earlier
# patch cannot be regenerated from vendor/ (its edits are mixed with the
# later ones there): edit that .patch by hand, then run verify.sh, which
# says which later patch no longer applies.
set -euo pipefail
cd "$(dirname "$0")"
vendor_dir="$(pwd)"
root_manifest="../Cargo.toml"

write_crate="" write_name=""
case "${1:-}" in
  "") ;;
  --write)
    if [ $# -ne 3 ]; then
      sed -n '/^# Changing the fork/,/^set -euo/p' "$vendor_dir/$(basename "$0")" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
      echo "usage: vendor/verify.sh --write CRATE NNNN-short-name" >&2
      exit 2
    fi
    write_crate="$2" write_name="$3"
    if ! [[ "$write_name" =~ ^[0-9]{4}-[a-z0-9][a-z0-9.-]*$ ]]; then
      echo "!! --write: '$write_name' is not NNNN-short-name (lower case, digits, dashes)" >&2
      exit 2
    fi
    ;;
  *) echo "usage: vendor/verify.sh [--write CRATE NNNN-short-name]" >&2; exit 2 ;;
esac

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
fail() { echo "!! $*" >&2; status=1; }

# --- One set of crates -----------------------------------------------------

declare -A version_of=() digest_of=()
pinned=()
while read -r digest file; do
  [ -n "$digest" ] || continue
  if ! [[ "$file" =~ ^(.+)-([0-9]+\.[0-9]+\.[0-9]+[^/]*)\.crate$ ]]; then
    fail "patches/SHA256SUMS: '$file' is not NAME-VERSION.crate"
    continue
  fi
  crate="${BASH_REMATCH[1]}"
  version_of[$crate]="${BASH_REMATCH[2]}"
  digest_of[$crate]="$digest"
  pinned+=("$crate")
done < patches/SHA256SUMS

vendored=()
for d in */; do
  d="${d%/}"
  case "$d" in patches | test-upstream) continue ;; esac
  vendored+=("$d")
done

patch_dirs=()
for d in patches/*/; do
  [ -d "$d" ] && patch_dirs+=("$(basename "$d")")
done

# [patch.crates-io] of the root manifest: NAME = { path = "vendor/NAME" }.
in_cargo=()
while IFS= read -r line; do
  if [[ "$line" =~ ^[[:space:]]*([A-Za-z0-9_-]+)[[:space:]]*=[[:space:]]*\{[[:space:]]*path[[:space:]]*=[[:space:]]*\"([^\"]+)\"[[:space:]]*\}[[:space:]]*$ ]]; then
    name="${BASH_REMATCH[1]}" path="${BASH_REMATCH[2]}"
    [ "$path" = "vendor/$name" ] || fail "Cargo.toml [patch.crates-io]: $name points at '$path', not vendor/$name"
    in_cargo+=("$name")
  else
    fail "Cargo.toml [patch.crates-io]: cannot read '$line' (expected NAME = { path = \"vendor/NAME\" })"
  fi
done < <(awk '/^\[/{on = ($0 == "[patch.crates-io]"); next} on && NF && !/^[[:space:]]*#/' "$root_manifest")

has() { local x="$1"; shift; local y; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
all_names=$(printf '%s\n' "${pinned[@]}" "${vendored[@]}" "${patch_dirs[@]}" "${in_cargo[@]}" | sort -u)
for name in $all_names; do
  missing=()
  has "$name" "${vendored[@]}" || missing+=("a directory vendor/$name")
  has "$name" "${pinned[@]}" || missing+=("a digest in vendor/patches/SHA256SUMS")
  has "$name" "${patch_dirs[@]}" || missing+=("a directory vendor/patches/$name")
  has "$name" "${in_cargo[@]}" || missing+=("a row in Cargo.toml's [patch.crates-io]")
  if [ ${#missing[@]} -gt 0 ]; then
    fail "crate '$name' is vendored in part only: it lacks $(printf '%s; ' "${missing[@]}" | sed 's/; $//')"
  fi
done
for d in test-upstream/*/; do
  [ -d "$d" ] || continue
  has "$(basename "$d")" "${pinned[@]}" || fail "vendor/$d tests a crate that is not vendored"
done
if [ $status -ne 0 ]; then
  echo "!! the crate sets disagree; fix that first" >&2
  exit 1
fi

for crate in "${pinned[@]}"; do
  declared=$(awk '/^\[/{on = ($0 == "[package]"); next} on && /^version *=/' "$crate/Cargo.toml" | sed -E 's/^version *= *"([^"]*)".*/\1/')
  [ "$declared" = "${version_of[$crate]}" ] || fail "vendor/$crate/Cargo.toml says version '$declared', SHA256SUMS pins ${version_of[$crate]}"
done

# --- Fetch and extract every pinned crate ---------------------------------

mkdir -p "$scratch/crates" "$scratch/pristine" "$scratch/expected"
for crate in "${pinned[@]}"; do
  file="$crate-${version_of[$crate]}.crate"
  cached=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$file" 2>/dev/null | head -1 || true)
  if [ -n "$cached" ]; then
    cp "$cached" "$scratch/crates/$file"
  else
    curl -sSfL --retry 3 "https://static.crates.io/crates/$crate/$file" -o "$scratch/crates/$file" \
      || { echo "!! cannot get $file: not in cargo's registry cache, and crates.io did not answer" >&2; exit 1; }
  fi
  echo "${digest_of[$crate]}  $scratch/crates/$file" | sha256sum --quiet -c - \
    || { echo "!! $file does not match its pinned digest" >&2; exit 1; }
  tar xzf "$scratch/crates/$file" -C "$scratch/pristine"
done

# --- Each crate: pristine + patches - OMITTED + ADDED = vendor/CRATE ------

entries() { # the non-comment, non-blank lines of a list file
  [ -f "$1" ] && sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$1" || true
}

for crate in "${pinned[@]}"; do
  version="${version_of[$crate]}"
  expected="$scratch/expected/$crate"
  cp -a "$scratch/pristine/$crate-$version" "$expected"
  ok=true

  patches=()
  numbers=()
  for f in "patches/$crate"/*; do
    name="$(basename "$f")"
    case "$name" in
      OMITTED | ADDED) ;;
      *.patch)
        if [[ "$name" =~ ^([0-9]{4})-[a-z0-9][a-z0-9.-]*\.patch$ ]]; then
          if has "${BASH_REMATCH[1]}" "${numbers[@]}"; then
            fail "patches/$crate: two patches numbered ${BASH_REMATCH[1]}"; ok=false
          fi
          numbers+=("${BASH_REMATCH[1]}")
          patches+=("$f")
        else
          fail "patches/$crate/$name: not NNNN-short-name.patch"; ok=false
        fi
        ;;
      *) fail "patches/$crate/$name: unexpected file (only NNNN-name.patch, OMITTED, ADDED belong here)"; ok=false ;;
    esac
  done

  # --write on the crate's last patch regenerates it: leave it out here.
  rewrite=""
  if [ "$crate" = "$write_crate" ] && [ -f "patches/$crate/$write_name.patch" ]; then
    last="${patches[${#patches[@]}-1]}"
    if [ "$last" != "patches/$crate/$write_name.patch" ]; then
      echo "!! --write: $write_name is not the last patch of $crate ($(basename "$last")); only the last can be regenerated from vendor/$crate. Edit an earlier one by hand." >&2
      exit 2
    fi
    rewrite="$last"
    unset 'patches[${#patches[@]}-1]'
  fi

  applied=()
  for p in "${patches[@]}"; do
    header=$(sed '/^--- /,$d' "$p")
    if [ -z "$(tr -d '[:space:]' <<<"$header")" ] || grep -q 'SAY WHAT AND WHY' <<<"$header"; then
      fail "$p: its header (the text before the diff) must say which change it is and why"
      ok=false
    fi
    if ! out=$(patch -d "$expected" -p1 -F0 -N --batch --no-backup-if-mismatch -i "$vendor_dir/$p" 2>&1) \
      || grep -v '^patching file ' <<<"$out" | grep -qiE 'offset|fuzz|reject|fail|ignor|skip'; then
      fail "$p does not apply exactly on $crate $version + the patches before it:"
      sed 's/^/     /' <<<"$out" >&2
      ok=false
      break
    fi
    applied+=("$(basename "$p" .patch)")
  done
  $ok || continue

  omitted=()
  while IFS= read -r entry; do
    path="${entry%/}"
    if [[ "$path" == /* || "$path" == *..* || -z "$path" ]]; then
      fail "patches/$crate/OMITTED: '$entry' is not a path inside the crate"; ok=false; continue
    fi
    if [[ "$entry" == */ ]]; then
      [ -d "$expected/$path" ] || { fail "patches/$crate/OMITTED lists $entry, which $crate $version has no directory of"; ok=false; continue; }
    else
      [ -f "$expected/$path" ] || { fail "patches/$crate/OMITTED lists $entry, which $crate $version has no file of"; ok=false; continue; }
    fi
    rm -rf "${expected:?}/$path"
    omitted+=("$entry")
  done < <(entries "patches/$crate/OMITTED")

  added=()
  while read -r path source extra; do
    if [ -n "${extra:-}" ] || [ -z "${source:-}" ] || [[ "$path" == /* || "$path" == *..* ]]; then
      fail "patches/$crate/ADDED: '$path $source $extra' is not 'PATH CRATE'"; ok=false; continue
    fi
    if ! has "$source" "${pinned[@]}"; then
      fail "patches/$crate/ADDED: $path comes from '$source', which is not a pinned crate"; ok=false; continue
    fi
    from="$scratch/pristine/$source-${version_of[$source]}/$path"
    if [ ! -f "$from" ]; then
      fail "patches/$crate/ADDED: $source ${version_of[$source]} has no file $path"; ok=false; continue
    fi
    if [ -e "$expected/$path" ]; then
      fail "patches/$crate/ADDED: $crate $version already has $path (change it with a patch instead)"; ok=false; continue
    fi
    mkdir -p "$(dirname "$expected/$path")"
    cp "$from" "$expected/$path"
    added+=("$path (from $source)")
  done < <(entries "patches/$crate/ADDED")
  $ok || continue

  if [ "$crate" = "$write_crate" ]; then
    if [ -z "$rewrite" ]; then
      last_number="${numbers[*]:+$(printf '%s\n' "${numbers[@]}" | sort | tail -1)}"
      if [ -n "$last_number" ] && [[ ! "${write_name:0:4}" > "$last_number" ]]; then
        echo "!! --write: a new patch of $crate must be numbered above its last one ($last_number)" >&2
        exit 2
      fi
    fi
    out_file="patches/$crate/$write_name.patch"
    {
      if [ -n "$rewrite" ]; then
        sed '/^--- /,$d' "$rewrite"
      else
        printf 'qrpair change %d (vendor/QRPAIR-PATCH.md %d): SAY WHAT AND WHY.\n\n' "$((10#${write_name:0:4}))" "$((10#${write_name:0:4}))"
      fi
      (cd "$scratch/expected" && diff -ruN "$crate" "$vendor_dir/$crate" || true) \
        | sed -e '/^diff -ruN /d' -e "s|^--- $crate/|--- a/|" -e "s|^+++ $vendor_dir/$crate/|+++ b/|" -e 's|\t.*$||'
    } > "$scratch/new.patch"
    if ! grep -q '^@@' "$scratch/new.patch"; then
      echo "!! --write: vendor/$crate has no edits beyond its patches; nothing to write" >&2
      exit 2
    fi
    mv "$scratch/new.patch" "$out_file"
    echo "wrote vendor/$out_file ($(wc -l < "$out_file") lines): describe it in its header and in vendor/QRPAIR-PATCH.md, then run vendor/verify.sh"
    exit 0
  fi

  # Licence files, as the crate's Cargo.toml names its licences.
  license=$(awk '/^\[/{on = ($0 == "[package]"); next} on && /^license *=/' "$crate/Cargo.toml" | sed -E 's/^license *= *"([^"]*)".*/\1/')
  for id in $(tr '/' ' ' <<<"${license//OR/ }"); do
    case "$id" in
      MIT) want=LICENSE-MIT ;;
      Apache-2.0) want=LICENSE-APACHE ;;
      *) fail "vendor/$crate: licence '$id' has no rule here; add the file it needs and a case for it"; ok=false; continue ;;
    esac
    [ -s "$crate/$want" ] || { fail "vendor/$crate has no $want (its licence is '$license'); copy it from the .crate, or name it in patches/$crate/ADDED"; ok=false; }
  done
  [ -n "$license" ] || { fail "vendor/$crate/Cargo.toml names no licence"; ok=false; }

  # Every file, both ways, byte for byte; then which files are executable.
  if ! diff -r --no-dereference "$expected" "$crate" > "$scratch/diff" 2>&1; then
    fail "vendor/$crate differs from $crate $version + its patches (- expected, + vendor/$crate):"
    sed -e "s|$scratch/expected/|(expected) |g" "$scratch/diff" | head -40 >&2
    ok=false
  fi
  if ! diff <(cd "$expected" && find . -type f -perm /111 | sort) <(cd "$crate" && find . -type f -perm /111 | sort) > "$scratch/modes"; then
    fail "vendor/$crate: executable files differ from $crate $version + its patches:"
    head -20 "$scratch/modes" >&2
    ok=false
  fi

  if $ok; then
    echo "ok: vendor/$crate = $crate $version (sha256 pinned) + ${#applied[@]} patches (${applied[*]}), every file compared"
    echo "    omitted from the .crate: ${omitted[*]:-nothing}"
    echo "    added: $(IFS=,; echo "${added[*]:-nothing}" | sed 's/,/, /g')"
  fi
done

if [ -n "$write_crate" ]; then
  echo "!! --write: $write_crate is not a vendored crate" >&2
  exit 2
fi
[ $status -eq 0 ] && echo "vendor/ is the pinned crates plus vendor/patches, nothing else"
exit $status

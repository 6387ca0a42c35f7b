#!/usr/bin/env bash
# Runs a vendored crate's OWN test suite against qrpair's patches, plus
# qrpair's tests of them in vendor/test-upstream/CRATE/.
#
#     vendor/test-upstream.sh            # rtc-dtls (the default)
#     vendor/test-upstream.sh CRATE...
#
# vendor/ keeps no tests (a trimmed Cargo.toml, no dev-dependencies; see
# verify.sh), and qrpair's own tests reach the patched code only through
# whole connections. For rtc-dtls that is not enough: change 8
# (patches/rtc-dtls/0008-records-sealed-in-place.patch) rewrote how every
# application record is sealed and opened, AES-GCM in place. So this:
#
# 1. takes the pinned .crate (digest from patches/SHA256SUMS; cargo's
#    registry cache, else crates.io's static host, as verify.sh does),
#    which ships upstream's tests in src/ and its untrimmed Cargo.toml with
#    its dev-dependencies and Cargo.lock;
# 2. applies the crate's numbered patches but 0000 (which only trims
#    Cargo.toml; checked) and checks the resulting src/ is vendor/CRATE/src
#    byte for byte, so the tests run against exactly what qrpair builds;
# 3. adds vendor/test-upstream/CRATE/*.rs as integration tests, appending
#    vendor/test-upstream/CRATE/Cargo.append.toml to Cargo.toml (their
#    [[test]] targets and dev-dependencies), and a [workspace] line so the
#    crate, extracted under qrpair's target/, is not taken for a member of
#    qrpair's workspace;
# 4. runs `cargo test --release --tests` there: every unit test of the crate
#    (its src/**/*_test.rs and #[cfg(test)] modules) and the added tests.
#    Not its examples or benches, which test nothing.
#
# Builds go to target/vendor-test/ (QRPAIR_VENDOR_TEST_DIR overrides), kept
# between runs so a rerun compiles only the re-extracted crate. Cargo needs
# crates.io (its registry) for the dev-dependencies on a cold cache, and
# nothing else.
set -euo pipefail
cd "$(dirname "$0")"
vendor_dir="$(pwd)"
base="${QRPAIR_VENDOR_TEST_DIR:-$(cd .. && pwd)/target/vendor-test}"
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=(rtc-dtls)

mkdir -p "$base/crates" "$base/src"
total_passed=0 total_failed=0
for crate in "${crates[@]}"; do
  line=$(grep -E "^[0-9a-f]{64}  $crate-[0-9][^ ]*\.crate$" patches/SHA256SUMS || true)
  if [ -z "$line" ] || [ ! -d "$crate" ]; then
    echo "!! $crate is not a vendored crate (vendor/patches/SHA256SUMS)" >&2
    exit 2
  fi
  digest="${line%%  *}" file="${line##*  }"
  version="${file#"$crate"-}" version="${version%.crate}"
  started=$(date +%s)

  if [ ! -f "$base/crates/$file" ] || ! echo "$digest  $base/crates/$file" | sha256sum --quiet -c - >/dev/null 2>&1; then
    cached=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$file" 2>/dev/null | head -1 || true)
    if [ -n "$cached" ]; then
      cp "$cached" "$base/crates/$file"
    else
      curl -sSfL --retry 3 "https://static.crates.io/crates/$crate/$file" -o "$base/crates/$file" \
        || { echo "!! cannot get $file: not in cargo's registry cache, and crates.io did not answer" >&2; exit 1; }
    fi
    echo "$digest  $base/crates/$file" | sha256sum --quiet -c - \
      || { echo "!! $file does not match its pinned digest" >&2; exit 1; }
  fi

  work="$base/src/$crate-$version"
  rm -rf "$work"
  tar xzf "$base/crates/$file" -C "$base/src"

  applied=()
  for p in patches/"$crate"/[0-9][0-9][0-9][0-9]-*.patch; do
    if [[ "$(basename "$p")" == 0000-* ]]; then
      touched=$(grep '^+++ ' "$p" | sed 's/^+++ //' | sort -u)
      if [ "$touched" != "b/Cargo.toml" ]; then
        echo "!! $p touches more than Cargo.toml; this script skips it, so it must not" >&2
        exit 1
      fi
      continue
    fi
    patch -d "$work" -p1 -F0 -N --batch --no-backup-if-mismatch -s -i "$vendor_dir/$p"
    applied+=("$(basename "$p" .patch)")
  done
  if ! diff -r "$work/src" "$crate/src" >/dev/null; then
    echo "!! $crate $version + ${applied[*]} is not vendor/$crate/src; run vendor/verify.sh" >&2
    exit 1
  fi

  extra_tests=()
  if [ -d "test-upstream/$crate" ]; then
    mkdir -p "$work/tests"
    for t in test-upstream/"$crate"/*.rs; do
      [ -f "$t" ] || continue
      cp "$t" "$work/tests/"
      extra_tests+=("$(basename "$t" .rs)")
    done
    if [ -f "test-upstream/$crate/Cargo.append.toml" ]; then
      cat "test-upstream/$crate/Cargo.append.toml" >> "$work/Cargo.toml"
    fi
  fi
  printf '\n# Added by qrpair vendor/test-upstream.sh: a workspace of its own.\n[workspace]\n' >> "$work/Cargo.toml"

  echo "== $crate $version + ${applied[*]:-no patches}: upstream's tests${extra_tests[*]:+ and ${extra_tests[*]}}"
  log="$base/$crate-test.log"
  set +e
  CARGO_TARGET_DIR="$base/target" cargo test --release --tests --no-fail-fast --manifest-path "$work/Cargo.toml" 2>&1 | tee "$log" \
    | grep -E '^(test |running |     Running |error)|panicked|FAILED|failures:' | grep -vE '^test .* \.\.\. ok$'
  rc=${PIPESTATUS[0]}
  set -e
  read -r passed failed < <(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
  echo "$crate: $passed tests passed, $failed failed, in $(($(date +%s) - started)) s (log: $log)"
  if [ "$rc" -ne 0 ]; then
    echo "!! cargo test of $crate failed (exit $rc); the end of $log:" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  if [ "$passed" -eq 0 ]; then
    echo "!! no test of $crate ran" >&2
    exit 1
  fi
done
echo "vendored crates' own tests: $total_passed passed, $total_failed failed"

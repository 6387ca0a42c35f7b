#!/usr/bin/env bash
# Fuzz each target for SECONDS (default: all five), starting from the seeds
# in ../fixtures/fuzz/TARGET. A crash leaves its input in artifacts/TARGET/:
# copy it to ../fixtures/fuzz/TARGET/ so tests/integration/fuzz_regressions.rs replays it
# on every `cargo test`, then fix the code.
#
#     fuzz/run.sh 600                    # ten minutes each, as before a release
#     fuzz/run.sh 20 session_messages    # one target, briefly (CI runs all, briefly)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_payload decode_token sdp_rebuild scan_image session_messages)
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  cp -n ../fixtures/fuzz/"$target"/* "corpus/$target/" 2>/dev/null || true
  # Pictures decode slowly: keep generated ones small; the seeds show the way.
  # The scanner promises any picture in 2 s and 256 MiB; under the fuzzer's
  # sanitizer a few times that, so a slow or hungry input still fails here.
  max_len=4096 timeout=20 rss=2048
  [ "$target" = scan_image ] && max_len=16384 timeout=8 rss=1024
  echo "== $target: ${seconds}s"
  log="$(mktemp)"
  if cargo +nightly fuzz run --release "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb="$rss" -timeout="$timeout" -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
  else
    tail -n 40 "$log" >&2
    echo "!! $target failed: its input is in fuzz/artifacts/$target/" >&2
    status=1
  fi
  rm -f "$log"
done
exit $status

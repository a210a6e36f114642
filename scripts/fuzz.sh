#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang in build-fuzz/ and runs one for a bounded time.
#   scripts/fuzz.sh HARNESS [SECONDS]    HARNESS: frame | config | send_message | audit_verify; SECONDS: 60
# The seed corpus tests/fuzz/corpus/HARNESS/ is read, never written. Output goes to
# $CT_FUZZ_OUT/HARNESS/ (default build-fuzz/fuzz-out/HARNESS/):
#   corpus/     inputs the run found that reach new code (kept across runs: the next run resumes)
#   crashes/    crash-*, leak-*, timeout-*, oom-*: each a reproducer; see docs/reliability.md
#   fuzz.log    libFuzzer's output
# Knobs (environment):
#   CT_FUZZ_JOBS     parallel fuzzing processes (libFuzzer -fork=N); default 1
#   CT_FUZZ_MAX_LEN  largest input in bytes (-max_len); default 4096
#   CT_FUZZ_OUT      output directory; default build-fuzz/fuzz-out
#   CT_FUZZ_ARGS     further libFuzzer flags, e.g. "-only_ascii=1" or "-seed=N"
# tests/fuzz/HARNESS.dict, when present, is passed as the libFuzzer dictionary.
# Exits 0 when the run found nothing, 1 when it left a reproducer in crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."

harness=${1:-}
seconds=${2:-60}
case "$harness" in
frame | config | send_message | audit_verify) ;;
*)
  echo "usage: scripts/fuzz.sh frame|config|send_message|audit_verify [SECONDS]" >&2
  exit 2
  ;;
esac

scripts/deps.sh --test
scripts/deps.sh --fuzz

# clang warns about gcc-only options of the top-level CMakeLists (-Wno-format-truncation);
# CT_SANITIZE puts ASan and UBSan in the libraries the harness links, not only in the harness.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS=-Wno-unknown-warning-option -DCT_SANITIZE=ON -DCT_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "fuzz_$harness"

out=${CT_FUZZ_OUT:-build-fuzz/fuzz-out}/$harness
mkdir -p "$out/corpus" "$out/crashes"
before=$(find "$out/crashes" -type f | wc -l)

# The first directory is where libFuzzer writes new inputs; the seed corpus is only read.
args=(-max_total_time="$seconds" -max_len="${CT_FUZZ_MAX_LEN:-4096}" -timeout=10
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crashes/")
if [ -f "tests/fuzz/$harness.dict" ]; then
  args+=(-dict="tests/fuzz/$harness.dict")
fi
if [ "${CT_FUZZ_JOBS:-1}" -gt 1 ]; then
  args+=(-fork="$CT_FUZZ_JOBS" -ignore_crashes=1)
fi
# shellcheck disable=SC2206 # CT_FUZZ_ARGS is a list of flags on purpose
args+=(${CT_FUZZ_ARGS:-})

echo "fuzz: $harness for ${seconds}s; log $out/fuzz.log"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "build-fuzz/tests/fuzz_$harness" "${args[@]}" "$out/corpus" "tests/fuzz/corpus/$harness" \
  >"$out/fuzz.log" 2>&1
rc=$?
set -e
grep -E '^(stat::|#[0-9]+.*DONE|Done )' "$out/fuzz.log" || true

after=$(find "$out/crashes" -type f | wc -l)
if [ "$after" -gt "$before" ] || [ "$rc" -ne 0 ]; then
  echo "fuzz: $harness FAILED (exit $rc); reproducers in $out/crashes/, details in $out/fuzz.log" >&2
  exit 1
fi
echo "fuzz: $harness ran ${seconds}s without a failure; corpus $(find "$out/corpus" -type f | wc -l) inputs"

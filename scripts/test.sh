#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what is missing, then builds and runs
# every test twice, in a normal build (build/) and under AddressSanitizer + UndefinedBehavior-
# Sanitizer with leak checks (build-asan/). Exits non-zero if anything fails.
#   CT_TEST_JOBS   parallel ctest jobs (default: number of cores)
#   CT_SKIP_ASAN=1 skip the sanitizer pass (quicker local runs; CI never sets it)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test

jobs=${CT_TEST_JOBS:-$(nproc)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite() { # run_suite BUILD_DIR [cmake args...]
  local dir=$1; shift
  echo "== build $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCT_BUILD_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs")
}

run_suite build
if [ "${CT_SKIP_ASAN:-0}" != 1 ]; then
  run_suite build-asan -DCT_SANITIZE=ON
fi
echo "== all tests passed"

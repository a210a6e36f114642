#!/usr/bin/env bash
# Fails (exit 1) listing every C source or header that does not match .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}
bad=0
while IFS= read -r -d '' f; do
  if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: $cf -i $f)"
    bad=1
  fi
done < <(find common server client tests bench -name '*.[ch]' -print0 2>/dev/null)
[ "$bad" = 0 ] && echo "format: all sources match .clang-format"
exit "$bad"

#!/usr/bin/env bash
# Installs the Debian 12 packages careteam needs that are missing, and nothing else.
#   scripts/deps.sh          build + run (cmake, compiler, libuv, protobuf-c, OpenSSL, SQLite)
#   scripts/deps.sh --test   also what the test suite uses (Criterion, clang-format, python3 for
#                            the audit export checks of tests/integration/audit_check.py, rsyslog
#                            with its OpenSSL driver as the collector of test_syslog_fwd.c,
#                            scdoc so that the man pages are built and their rendering tested:
#                            the build itself never needs scdoc; testssl.sh for the TLS scan
#                            of tests/integration/test_testssl.c)
#   scripts/deps.sh --fuzz   also clang and lld, for the libFuzzer harnesses (scripts/fuzz.sh)
#   scripts/deps.sh --bench  also mosquitto and libmosquitto-dev, for bench/compare's Mosquitto
#                            side (bench/mosq-bench is built only when libmosquitto is found)
# Needs root (or sudo) only when something is missing.
set -euo pipefail

pkgs=(cmake make gcc pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev
      libsqlite3-dev openssl)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(libcriterion-dev clang-format python3 rsyslog rsyslog-openssl scdoc testssl.sh)
fi
if [ "${1:-}" = "--fuzz" ]; then
  pkgs+=(clang lld)
fi
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(mosquitto libmosquitto-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "deps: these packages are missing and you are not root: ${missing[*]}" >&2
    echo "deps: run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run rather than failing on its lock.
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Crash durability of careteamd (issue 5, section 4; docs/reliability.md).
#
# usage: tests/durability/run.sh [CYCLES]      (default 20)
#
# Makes a data directory (careteamd init, five members enrolled), then per cycle:
#   1. careteamd serve is running (started before the first cycle, restarted by the previous one);
#   2. durability_load connects the five members; four send messages to 2-3 others, each with a
#      window of unanswered requests, all acknowledge their deliveries, and every Ack and
#      DeliveryAck Ok is appended to the cycle's log (one write(2) per line);
#   3. once every member is welcomed, a random 100-1500 ms later, careteamd gets SIGKILL;
#   4. the load sees its connections drop and stops by itself (exit 0 required);
#   5. careteamd restarts on the same directory and must come up;
#   6. durability_check on the database: every acked client_msg_id is stored exactly once under
#      its message_id, with a delivery row per recipient (delivered or pending) and its audit
#      row; every acknowledged delivery is marked delivered; integrity_check is ok;
#   7. `careteamd audit verify DIR` exits 0 (skipped, with a message, if this careteamd has no
#      such subcommand).
# Step 6 checks the cycle's own log, and the logs of every cycle so far on the directory at its
# cycles 1, 2, 4, 8, ... and its last: a later crash must not lose what an earlier one kept.
# A data directory serves CT_DUR_CYCLES_PER_DIR cycles (so that a run of 1,000 does not check an
# ever larger database); then careteamd is stopped with SIGTERM and must exit 0 (a sanitizer
# build exits non-zero on a leak), and a fresh directory is made. The same stop ends the run.
#
# Prints one line per cycle and "N passed, N failed"; exits 1 if anything failed, 2 on a usage
# or setup error. Only the processes this script starts are signalled, by PID; its temp
# directory is removed on exit. Every wait is bounded.
#
# Environment:
#   CT_CARETEAMD, CT_DUR_LOAD, CT_DUR_CHECK  the binaries (default: under CT_BUILD_DIR)
#   CT_BUILD_DIR             build tree holding them (default: build/ at the repository root)
#   CT_DUR_SENDERS           sending members, 1-5 (default 4; the others only receive)
#   CT_DUR_WINDOW            unanswered SendMessages per sender (default 16)
#   CT_DUR_KILL_MIN_MS, CT_DUR_KILL_MAX_MS   the kill delay range (default 100 and 1500)
#   CT_DUR_CYCLES_PER_DIR    cycles on one data directory; 0 for all (default 50)
#   CT_DUR_SEED              seed of the kill delays and bodies (default: from the clock)
#   CT_DUR_KEEP=1            keep the temp directory (data, logs) and print where it is
#   TMPDIR                   where the temp directory is made (default /tmp)
set -euo pipefail

usage() {
  sed -n '4p' "$0" | sed 's/^# //' >&2
  exit 2
}

cycles=${1:-20}
[ $# -le 1 ] || usage
[[ $cycles =~ ^[1-9][0-9]*$ ]] || usage

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${CT_BUILD_DIR:-$root/build}
careteamd=${CT_CARETEAMD:-$build/careteamd}
load=${CT_DUR_LOAD:-$build/tests/durability_load}
check=${CT_DUR_CHECK:-$build/tests/durability_check}
senders=${CT_DUR_SENDERS:-4}
window=${CT_DUR_WINDOW:-16}
kill_min=${CT_DUR_KILL_MIN_MS:-100}
kill_max=${CT_DUR_KILL_MAX_MS:-1500}
per_dir=${CT_DUR_CYCLES_PER_DIR:-50}
seed=${CT_DUR_SEED:-$(( $(date +%s) % 32768 ))}
keep=${CT_DUR_KEEP:-0}

# Bounds, in ms: generous for a sanitizer build on a busy 2-core machine.
START_MS=30000       # careteamd serve until its ready file
LOAD_READY_MS=20000  # durability_load until every member is welcomed
REAP_MS=10000        # a SIGKILLed process until reaped
LOAD_STOP_MS=15000   # durability_load, after the kill, until it exits by itself
TERM_MS=30000        # careteamd after SIGTERM; durability_load after SIGTERM
CMD_S=120            # careteamd init / enroll / audit verify, durability_check (timeout(1))

for b in "$careteamd" "$load" "$check"; do
  [ -x "$b" ] || { echo "durability: $b is not an executable (build first, or set CT_*)" >&2; exit 2; }
done
for n in "$senders" "$window" "$kill_min" "$kill_max" "$per_dir" "$seed"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "durability: '$n' is not a number" >&2; exit 2; }
done
if [ "$senders" -lt 1 ] || [ "$senders" -gt 5 ] || [ "$kill_min" -gt "$kill_max" ]; then
  echo "durability: CT_DUR_SENDERS must be 1-5, and CT_DUR_KILL_MIN_MS <= CT_DUR_KILL_MAX_MS" >&2
  exit 2
fi
[ "$per_dir" != 0 ] || per_dir=$cycles

# The children die with this script even if it is killed outright (setpriv sets their parent-death
# signal, as PR_SET_PDEATHSIG does for the C tests); without setpriv, the trap below still applies.
pdeath=()
if command -v setpriv >/dev/null 2>&1; then
  pdeath=(setpriv --pdeathsig KILL)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/careteam-durability.XXXXXX")
data=$tmp/data          # the current data directory
db=$data/careteam.db
logs=$tmp/logs          # the acked logs of the cycles on the current directory
creds=$tmp/members      # member certificates and keys
dlog=$tmp/careteamd.log # everything careteamd said, across restarts and directories
daemon_pid=0
load_pid=0

now_ms() { # sets $now to the wall clock in ms, without a fork
  local us=${EPOCHREALTIME//[!0-9]/}
  now=$((us / 1000))
}

alive() { # alive PID: the process exists and is not a zombie waiting to be reaped
  local state=""
  [ -r "/proc/$1/stat" ] || return 1
  read -r _ _ state _ <"/proc/$1/stat" 2>/dev/null || return 1
  [ "$state" != Z ]
}

# reap PID MS: waits until our child PID has exited, at most MS, and reaps it; sets $status
# (128+N for a signal). Returns 1 on timeout (the child is then still running and still ours).
reap() {
  local pid=$1 deadline
  now_ms; deadline=$((now + $2))
  while alive "$pid"; do
    now_ms
    [ "$now" -lt "$deadline" ] || return 1
    sleep 0.01
  done
  status=0
  wait "$pid" 2>/dev/null || status=$?
}

# kill9 PID: SIGKILL to our child PID, and waits (bounded) until it is gone. The child is first
# dropped from the job table, so bash reaps it without its "Killed" notice; its status is
# known (137). Returns 1 if it is still there after REAP_MS.
kill9() {
  disown "$1" 2>/dev/null || true
  kill -KILL "$1" 2>/dev/null || true
  local deadline
  now_ms; deadline=$((now + REAP_MS))
  while alive "$1"; do
    now_ms
    [ "$now" -lt "$deadline" ] || return 1
    sleep 0.01
  done
}

# term PID MS: SIGTERM to our child PID, waits up to MS, then SIGKILL. Sets $status (124 if it
# had to be killed).
term() {
  kill -TERM "$1" 2>/dev/null || true
  if ! reap "$1" "$2"; then
    echo "durability: PID $1 still running $2 ms after SIGTERM; killing it"
    kill9 "$1" || true
    status=124
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$load_pid" != 0 ]; then term "$load_pid" 5000; fi
  if [ "$daemon_pid" != 0 ]; then kill9 "$daemon_pid" || true; fi
  if [ "$keep" = 1 ]; then
    echo "durability: kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tail_log() { # tail_log FILE: its last lines, indented, for a failure report
  [ -f "$1" ] && tail -n 20 "$1" | sed 's/^/    | /'
  return 0
}

indent() { # indent TEXT: TEXT's last lines, indented
  [ -z "$1" ] || printf '%s\n' "$1" | tail -n 25 | sed 's/^/    | /'
}

# Starts careteamd serve and waits for its ready file; sets $addr. Returns 1 if it does not
# come up (the reason is printed).
start_daemon() {
  local ready=$tmp/ready deadline as_root=
  [ "$(id -u)" != 0 ] || as_root=1
  rm -f "$ready"
  # serve refuses root unless told (docs/operations.md); CI runs the tests as root.
  "${pdeath[@]}" "$careteamd" serve "$data" --listen 127.0.0.1:0 --ready-file "$ready" \
    ${as_root:+--allow-root} </dev/null >>"$dlog" 2>&1 &
  daemon_pid=$!
  now_ms; deadline=$((now + START_MS))
  while :; do
    if [ -s "$ready" ]; then
      addr=$(head -n 1 "$ready")
      [ -z "$addr" ] || return 0
    fi
    if ! alive "$daemon_pid"; then
      reap "$daemon_pid" "$REAP_MS" || true
      daemon_pid=0
      echo "  careteamd serve exited with status $status before it was ready:"
      tail_log "$dlog"
      return 1
    fi
    now_ms
    if [ "$now" -ge "$deadline" ]; then
      echo "  careteamd serve not ready within $START_MS ms:"
      tail_log "$dlog"
      kill9 "$daemon_pid" || true
      daemon_pid=0
      return 1
    fi
    sleep 0.01
  done
}

# Stops careteamd with SIGTERM; returns 1 unless it exits 0 within TERM_MS.
stop_daemon() {
  term "$daemon_pid" "$TERM_MS"
  daemon_pid=0
  if [ "$status" != 0 ]; then
    echo "durability: FAIL: careteamd exited $status after SIGTERM (expected 0):"
    tail_log "$dlog"
    return 1
  fi
}

# `careteamd audit verify` is being added; until this careteamd has it, say so and skip it.
verify_audit=1
audit_verify() { # returns 0 if the chain verifies (or the check is skipped)
  [ "$verify_audit" = 1 ] || return 0
  local out rc=0
  out=$(timeout -k 5 "$CMD_S" "$careteamd" audit verify "$data" 2>&1) || rc=$?
  if [ "$rc" = 2 ] && grep -q "unknown command 'audit'" <<<"$out"; then
    echo "durability: this careteamd has no 'audit verify' subcommand: audit chain check skipped"
    verify_audit=0
    return 0
  fi
  if [ "$rc" != 0 ]; then
    echo "  careteamd audit verify $data exited $rc:"
    indent "$out"
    return 1
  fi
}

# id and role of the members: the senders first.
team=(dr.ahmed th.lee pw.sam pw.kim ps.ray)
roles=(psychiatrist therapist peer_worker peer_worker peer_supervisor)
team_csv=$(IFS=,; echo "${team[*]}")

# Makes a fresh data directory with the team enrolled, and an empty log directory. Exits 2 on
# failure (a setup error, not a durability finding).
new_dir() {
  rm -rf "$data" "$logs" "$creds"
  mkdir -p "$logs" "$creds"
  if ! timeout -k 5 "$CMD_S" "$careteamd" init "$data" >>"$dlog" 2>&1; then
    echo "durability: careteamd init failed:"; tail_log "$dlog"; exit 2
  fi
  local i
  for i in "${!team[@]}"; do
    if ! timeout -k 5 "$CMD_S" "$careteamd" enroll "$data" --id "${team[$i]}" \
         --name "Durability ${team[$i]}" --role "${roles[$i]}" --out "$creds/${team[$i]}" \
         >>"$dlog" 2>&1; then
      echo "durability: careteamd enroll ${team[$i]} failed:"; tail_log "$dlog"; exit 2
    fi
  done
  audit_verify || { echo "durability: audit verify fails on a fresh data directory"; exit 2; }
}

# Runs one cycle on the running daemon (step 2-7 of the header). $1 is the cycle number, $2 its
# number on the current directory. Prints its line; returns 1 if it failed, 3 if the daemon did
# not come back (the run cannot go on).
cycle() {
  local c=$1 n=$2 why="" log=$logs/acked-$1.log deadline delay load_summary check_out
  local check_rc=0 scope=cycle summary
  local -a check_logs
  : >"$log"
  rm -f "$tmp/load.ready"
  "${pdeath[@]}" "$load" --server "$addr" --ca "$data/ca.crt" --creds "$creds" \
    --team "$team_csv" --senders "$senders" --window "$window" --prefix "c$c" --log "$log" \
    --ready-file "$tmp/load.ready" --max-seconds 60 --seed "$((seed * 100000 + c))" \
    </dev/null >"$tmp/load.out" 2>&1 &
  load_pid=$!

  # The kill lands on a loaded daemon: the delay starts once every member is welcomed.
  now_ms; deadline=$((now + LOAD_READY_MS))
  while [ ! -e "$tmp/load.ready" ] && alive "$load_pid"; do
    now_ms
    [ "$now" -lt "$deadline" ] || break
    sleep 0.01
  done
  delay=$((kill_min + RANDOM % (kill_max - kill_min + 1)))
  if [ -e "$tmp/load.ready" ]; then
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
  else
    why="the load did not connect"
  fi

  if ! kill9 "$daemon_pid"; then
    echo "durability: careteamd (PID $daemon_pid) still there $REAP_MS ms after SIGKILL"
    exit 2
  fi
  daemon_pid=0

  if ! reap "$load_pid" "$LOAD_STOP_MS"; then
    why="${why:+$why; }the load did not stop by itself after the kill"
    term "$load_pid" "$TERM_MS"
  elif [ "$status" != 0 ]; then
    why="${why:+$why; }the load exited $status"
  fi
  load_pid=0
  load_summary=$(grep -o 'sent=[0-9]* acked=[0-9]*' "$tmp/load.out" || echo "(no summary)")

  if ! start_daemon; then
    echo "cycle $c/$cycles: FAIL: careteamd did not restart after SIGKILL"
    return 3
  fi

  check_logs=("$log")
  if (((n & (n - 1)) == 0)) || [ "$n" = "$per_dir" ] || [ "$c" = "$cycles" ]; then
    check_logs=("$logs"/acked-*.log)
    scope="logs of ${#check_logs[@]} cycles"
  fi
  check_out=$(timeout -k 5 "$CMD_S" "$check" "$db" "${check_logs[@]}" 2>&1) || check_rc=$?
  [ "$check_rc" = 0 ] || why="${why:+$why; }durability_check exited $check_rc"
  audit_verify || why="${why:+$why; }careteamd audit verify failed"

  summary=$(grep -o 'acks=.*' <<<"$check_out" | head -n 1 || true)
  if [ -z "$why" ]; then
    echo "cycle $c/$cycles: ok: kill after $delay ms; load $load_summary; check ($scope) $summary"
    return 0
  fi
  echo "cycle $c/$cycles: FAIL: $why; kill after $delay ms; load $load_summary"
  indent "$(cat "$tmp/load.out")"
  indent "$check_out"
  echo "  careteamd log:"
  tail_log "$dlog"
  return 1
}

echo "durability: $cycles cycles ($per_dir per data directory), seed $seed, $senders senders x" \
     "window $window, kill after $kill_min-$kill_max ms; $careteamd"
RANDOM=$seed
passed=0
failed=0
final_ok=1 # every daemon stopped with SIGTERM exited 0
now_ms; t0=$now
new_dir
start_daemon || exit 2
for ((c = 1, n = 1; c <= cycles; c++, n++)); do
  rc=0
  cycle "$c" "$n" || rc=$?
  case $rc in
    0) passed=$((passed + 1)) ;;
    3) failed=$((failed + 1)); break ;;
    *) failed=$((failed + 1)) ;;
  esac
  if [ "$n" = "$per_dir" ] && [ "$c" -lt "$cycles" ]; then
    # A directory killed $n times still stops cleanly; the next cycles start afresh.
    stop_daemon || final_ok=0
    new_dir
    start_daemon || exit 2
    n=0
  fi
done

# The last daemon, killed and restarted n times, still stops cleanly.
if [ "$daemon_pid" != 0 ]; then
  stop_daemon || final_ok=0
fi

now_ms
echo "durability: $passed passed, $failed failed of $cycles cycles ($(( (now - t0) / 1000 )) s)"
[ "$failed" = 0 ] && [ "$passed" = "$cycles" ] && [ "$final_ok" = 1 ]

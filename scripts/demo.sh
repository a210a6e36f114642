#!/usr/bin/env bash
# Quick start: installs what is missing, builds, makes a demo data directory (dev CA, server
# certificate, six enrolled demo members, a demo participant with a care team, SQLite database)
# and runs careteamd in the foreground on 127.0.0.1:7443. Ctrl-C stops it cleanly. Running it
# again reuses the demo directory.
#   CT_DEMO_DIR     where the demo lives (default: ./demo)
#   CT_DEMO_LISTEN  listen address (default: 127.0.0.1:7443)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/deps.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target careteamd careteam-cli

demo=${CT_DEMO_DIR:-$root/demo}
listen=${CT_DEMO_LISTEN:-127.0.0.1:7443}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
data=$demo/data
careteamd=$root/build/careteamd
careteam=$root/build/careteam

# id | role | display name
members="dr.ahmed|psychiatrist|Dr Amira Ahmed
th.lee|therapist|Jordan Lee
pw.sam|peer_worker|Sam Rivera
pw.kim|peer_worker|Kim Osei
ps.rivera|peer_supervisor|Alex Rivera
co.jones|compliance|Pat Jones"

# The demo participant: an id and a label of initials only (a label is never a full name). Their
# care team is the two clinicians; consent is not recorded here: a clinician records it over the
# wire (`careteam consent record`), as in real use.
participant=p-1001
participant_label=J.D.
care_team="dr.ahmed th.lee"

if [ ! -d "$data" ]; then
  "$careteamd" init "$data" >/dev/null
  mkdir -p "$demo/members" "$demo/profiles"
  while IFS='|' read -r id role name; do
    "$careteamd" enroll "$data" --id "$id" --name "$name" --role "$role" \
      --out "$demo/members/$id" >/dev/null
    cat > "$demo/profiles/$id.conf" <<PROFILE
# careteam profile for the demo member $id ($role)
server = $listen
cert = ../members/$id.crt
key = ../members/$id.key
ca = ../data/ca.crt
PROFILE
  done <<< "$members"
  "$careteamd" participant add "$data" --id "$participant" --label "$participant_label" >/dev/null
  for id in $care_team; do
    "$careteamd" team add "$data" --participant "$participant" --member "$id" >/dev/null
  done
  # Every peer worker is supervised by the demo's peer supervisor, if it has one.
  supervisor=$(awk -F'|' '$2 == "peer_supervisor" { print $1; exit }' <<< "$members")
  if [ -n "$supervisor" ]; then
    while IFS='|' read -r id role name; do
      [ "$role" = peer_worker ] || continue
      "$careteamd" supervisor set "$data" --member "$id" --supervisor "$supervisor" >/dev/null
    done <<< "$members"
  fi
  echo "Created the demo in $demo"
else
  echo "Reusing the demo in $demo (delete it for a fresh one)"
fi

cat <<MSG

careteamd is starting on $listen with the demo team:
$(while IFS='|' read -r id role name; do printf '  %-10s %-16s %s\n' "$id" "$role" "$name"; done <<< "$members")

and the demo participant $participant ($participant_label) with care team: $care_team.
No consent is recorded yet: ${care_team%% *} records it with \`careteam consent record\`.
See them with: $careteamd team show $data --participant $participant

In another terminal, act as any of them with a profile, for example:
  $careteam --profile $demo/profiles/dr.ahmed.conf whoami
  $careteam --profile $demo/profiles/dr.ahmed.conf send --to pw.sam --subject "Intro" --body "Welcome to the team"
  $careteam --profile $demo/profiles/pw.sam.conf inbox
  $careteam --profile $demo/profiles/pw.sam.conf watch
Stop the daemon with Ctrl-C.

MSG
# serve refuses root unless told; the demo's files belong to whoever runs it, root included.
as_root=
[ "$(id -u)" != 0 ] || as_root=--allow-root
exec "$careteamd" serve "$data" --listen "$listen" $as_root

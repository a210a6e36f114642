#!/usr/bin/env bash
# Checks the man pages written in scdoc (docs/careteam.1.scd, docs/careteamd.8.scd): that they
# render when scdoc is installed (it is optional: without it only the rendering is skipped), that
# every command and subcommand `careteam --help` lists has an entry in careteam.1.scd, and that
# every command `careteamd --help` lists has one in careteamd.8.scd. An entry is a line starting
# with the command in bold: "*send*", "*consent record*" (subcommands may share a line:
# "*referral accept*|*decline*|...").
# Run by ctest (test `man_pages`) with CT_CARETEAM, CT_CARETEAMD and SCDOC (empty: not found).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
fail()
{
    echo "FAIL: $*"
    fails=$((fails + 1))
}

if [ -n "${SCDOC:-}" ]; then
    for page in careteam.1 careteamd.8; do
        if ! out=$("$SCDOC" <"$root/docs/$page.scd" 2>&1 >/dev/null); then
            fail "scdoc cannot render docs/$page.scd: $out"
        fi
    done
else
    echo "man_pages: scdoc not found, rendering not checked"
fi

# has_entry PAGE WORDS: PAGE has a line starting "*WORDS*" (or naming the subcommand among
# "*CMD a*|*b*|..." alternatives).
has_entry()
{
    local page=$1 cmd=$2 sub=${3:-}
    if [ -z "$sub" ]; then
        grep -qE "^\*$cmd\*" "$page" || grep -qE "^\*$cmd [a-z-]+\*" "$page"
    else
        grep -qE "^\*$cmd $sub\*" "$page" ||
            grep -E "^\*$cmd [a-z-]+\*" "$page" | grep -qE "\|\*$sub\*"
    fi
}

man1=$root/docs/careteam.1.scd
commands=$("$CT_CARETEAM" --help | sed -n '/^commands:$/,/^$/p' | awk 'NF > 1 {print $1}')
[ -n "$commands" ] || fail "no commands found in careteam --help"
for c in $commands; do
    has_entry "$man1" "$c" || fail "careteam.1.scd has no entry for '$c'"
    subs=$("$CT_CARETEAM" "$c" --help | sed -n '/^subcommands/,/^$/p' | awk 'NR > 1 && NF > 1 {print $1}')
    for s in $subs; do
        has_entry "$man1" "$c" "$s" || fail "careteam.1.scd has no entry for '$c $s'"
    done
done

man8=$root/docs/careteamd.8.scd
dcommands=$("$CT_CARETEAMD" --help | sed -n '/^commands:$/,/^$/p' | awk '/^  [a-z]/ {print $1}')
[ -n "$dcommands" ] || fail "no commands found in careteamd --help"
for c in $dcommands; do
    has_entry "$man8" "$c" || fail "careteamd.8.scd has no entry for '$c'"
done

if [ "$fails" -ne 0 ]; then
    echo "man_pages: $fails failure(s)"
    exit 1
fi
echo "man_pages: every command has an entry$([ -n "${SCDOC:-}" ] && echo ', and both pages render')"

#!/usr/bin/env bash
# Checks the bash completion of careteam and careteamd (scripts/completion/): each script is
# sourced in a clean bash, registers its function (`complete -p`), and completes a few command
# lines simulated through COMP_WORDS / COMP_CWORD, as bash would set them. Run by ctest
# (test `completion`).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# complete SCRIPT FUNCTION WORD... : the completions of the last WORD (may be "") after the
# others, one per line, sorted.
complete_words()
{
    local script=$1 fn=$2
    shift 2
    XDG_CONFIG_HOME=$tmp/xdg HOME=$tmp/home bash --norc --noprofile -c '
        source "$1" || exit 99
        fn=$2
        shift 2
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        "$fn"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$fn" "$@" | sort
}

# expect WANT... -- SCRIPT FUNCTION WORD...: every WANT is among the completions.
expect()
{
    local want=()
    while [ "$1" != "--" ]; do
        want+=("$1")
        shift
    done
    shift
    local got
    got=$(complete_words "$@")
    for w in "${want[@]}"; do
        if ! grep -qxF -- "$w" <<<"$got"; then
            echo "FAIL: completing [${*:3}] did not offer '$w'; got: $(tr '\n' ' ' <<<"$got")"
            fails=$((fails + 1))
        fi
    done
}

# expect_only WANT... -- SCRIPT FUNCTION WORD...: the completions are exactly WANT.
expect_only()
{
    local want=()
    while [ "$1" != "--" ]; do
        want+=("$1")
        shift
    done
    shift
    local got exp
    got=$(complete_words "$@")
    exp=$(printf '%s\n' "${want[@]}" | sort)
    if [ "$got" != "$exp" ]; then
        echo "FAIL: completing [${*:3}] offered: $(tr '\n' ' ' <<<"$got"); expected: ${want[*]}"
        fails=$((fails + 1))
    fi
}

ct=$root/scripts/completion/careteam.bash
ctd=$root/scripts/completion/careteamd.bash

for pair in "careteam:$ct:_careteam" "careteamd:$ctd:_careteamd"; do
    IFS=: read -r cmd script fn <<<"$pair"
    spec=$(bash --norc --noprofile -c "source '$script' && complete -p $cmd")
    if [ "$spec" != "complete -F $fn $cmd" ]; then
        echo "FAIL: complete -p $cmd printed [$spec]"
        fails=$((fails + 1))
    fi
done

mkdir -p "$tmp/xdg/careteam" "$tmp/home"
touch "$tmp/xdg/careteam/clinic.conf" "$tmp/xdg/careteam/home.conf" "$tmp/xdg/careteam/default"

# careteam: commands, subcommands, options, option values, profile names.
expect profile -- "$ct" _careteam careteam pro
expect whoami send inbox watch consent referral audit profile help -- "$ct" _careteam careteam ""
expect_only add list show remove default -- "$ct" _careteam careteam profile ""
expect_only clinic home -- "$ct" _careteam careteam --profile ""
expect_only clinic home -- "$ct" _careteam careteam --json profile show ""
expect_only clinic -- "$ct" _careteam careteam profile default cl
expect accept decline reassign -- "$ct" _careteam careteam referral ""
expect --priority --body-file --to --profile --json -- "$ct" _careteam careteam send --
expect_only routine urgent asap stat -- "$ct" _careteam careteam send --priority ""
expect --default --force --server --cert --key --ca --crl -- "$ct" _careteam careteam profile add clinic --
expect_only table csv jsonl fhir -- "$ct" _careteam careteam audit query --format ""
expect_only one-to-one group phone video outreach -- \
    "$ct" _careteam careteam summary post --format ""
expect whoami -- "$ct" _careteam careteam --server h:1 --profile clinic who
expect_only record withdraw list -- "$ct" _careteam careteam help consent ""

# careteamd: commands including the operations ones, subcommands, options, roles.
expect check-config backup restore revoke serve -- "$ctd" _careteamd careteamd ""
expect_only verify keygen checkpoint checkpoints -- "$ctd" _careteamd careteamd audit ""
expect_only psychiatrist therapist peer_worker peer_supervisor compliance admin -- \
    "$ctd" _careteamd careteamd enroll /srv/ct --role ""
expect --listen --user --allow-root -- "$ctd" _careteamd careteamd serve /srv/ct --
expect keyCompromise -- "$ctd" _careteamd careteamd revoke /srv/ct --id x --reason ""
expect --host --crl-url -- "$ctd" _careteamd careteamd init /srv/ct --
expect --id --server --reason -- "$ctd" _careteamd careteamd revoke /srv/ct --

if [ "$fails" -ne 0 ]; then
    echo "completion: $fails failure(s)"
    exit 1
fi
echo "completion: all checks passed"

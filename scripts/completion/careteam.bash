# bash completion for careteam(1): commands, subcommands, each command's options, the values of
# options that take a fixed set of names, file names for file options, and profile names from
# the profile directory ($XDG_CONFIG_HOME/careteam, by default ~/.config/careteam).
#
# Installed as share/bash-completion/completions/careteam (loaded on demand by bash-completion);
# or source it from ~/.bashrc. It needs nothing from the bash-completion package.

_careteam_global_opts="--server --cert --key --ca --crl --profile --json --timeout --help --version"

# Options that take a value (the next word is that value, not a command or operand).
_careteam_value_opts=" --server --cert --key --ca --crl --profile --timeout --to --body
 --body-file --participant --subject --priority --client-msg-id --count --scope --method --note
 --reason --member --goal --status --limit --referral --date --duration --format --theme --progress
 --next-steps --risk --amends --text --file --since --until --actor --action --outcome
 --object-type --object-id --max "

_careteam_commands="whoami send inbox watch consent lockbox refer referrals referral summary
 summaries concern alerts alert audit profile help"

# The subcommands of a command, or nothing for a command without any.
_careteam_subcommands()
{
    case $1 in
    consent) echo "record withdraw list" ;;
    lockbox) echo "add remove" ;;
    referral) echo "accept decline start hold resume complete cancel reassign" ;;
    summary) echo "post" ;;
    alert) echo "ack" ;;
    audit) echo "query actions" ;;
    profile) echo "add list show remove default" ;;
    esac
}

# The options of "COMMAND" or "COMMAND SUBCOMMAND" (the global ones are added to every list).
_careteam_command_opts()
{
    case $1 in
    send) echo "--to --body --body-file --participant --subject --priority --client-msg-id" ;;
    inbox) echo "--no-ack" ;;
    watch) echo "--count" ;;
    "consent record") echo "--participant --scope --method --note" ;;
    "consent withdraw") echo "--reason" ;;
    "consent list") echo "--participant" ;;
    "lockbox add") echo "--participant --member --reason" ;;
    "lockbox remove") echo "--participant --member" ;;
    refer) echo "--participant --to --queue --reason --goal --priority" ;;
    referrals) echo "--assigned --created --queue --status --participant --limit" ;;
    "referral reassign") echo "--to --reason" ;;
    "referral "*) echo "--reason" ;;
    "summary post")
        echo "--referral --date --duration --format --theme --progress --next-steps --reviewed"
        echo "--risk --amends --text --file"
        ;;
    summaries) echo "--participant --referral --limit --full" ;;
    concern) echo "--participant --urgent --text" ;;
    alerts) echo "--participant --open --limit" ;;
    "alert ack") echo "--note" ;;
    "audit query")
        echo "--since --until --actor --participant --action --outcome --object-type"
        echo "--object-id --limit --max --format"
        ;;
    "profile add") echo "--default --force" ;;
    esac
}

# The names of the profiles in the profile directory, one a line.
_careteam_profiles()
{
    local dir=${XDG_CONFIG_HOME:-}
    [[ $dir == /* ]] || dir=$HOME/.config
    local f
    for f in "$dir"/careteam/*.conf; do
        [[ -e $f ]] || continue
        f=${f##*/}
        printf '%s\n' "${f%.conf}"
    done
}

_careteam()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # The command and subcommand typed so far, skipping options and their values.
    local i w cmd="" sub="" operands=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -* ]]; then
            [[ $_careteam_value_opts == *" $w "* ]] && ((i++))
            continue
        fi
        if [[ -z $cmd ]]; then
            cmd=$w
        elif [[ -z $sub && -n $(_careteam_subcommands "$cmd") ]]; then
            sub=$w
        else
            ((operands++))
        fi
    done

    # The value of an option.
    local words=""
    case $prev in
    --profile)
        COMPREPLY=($(compgen -W "$(_careteam_profiles)" -- "$cur"))
        return
        ;;
    --cert | --key | --ca | --crl | --body-file | --file)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    --priority) words="routine urgent asap stat" ;;
    --scope) words="peer-support information-sharing" ;;
    --method) words="verbal written" ;;
    --status) words="requested accepted rejected in-progress on-hold completed cancelled" ;;
    --risk) words="none concern urgent" ;;
    --outcome) words="success minor serious major" ;;
    --format)
        if [[ $cmd == audit ]]; then
            words="table csv jsonl fhir"
        else
            words="one-to-one group phone video outreach"
        fi
        ;;
    *)
        if [[ $_careteam_value_opts == *" $prev "* ]]; then
            return # a value we cannot guess (an id, a text, a time)
        fi
        ;;
    esac
    if [[ -n $words ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi

    if [[ $cur == -* ]]; then
        local key=$cmd
        [[ -n $sub ]] && key="$cmd $sub"
        COMPREPLY=($(compgen -W "$(_careteam_command_opts "$key") $_careteam_global_opts" \
            -- "$cur"))
        return
    fi
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$_careteam_commands" -- "$cur"))
    elif [[ $cmd == help ]]; then
        # help COMMAND [SUBCOMMAND]: count the words after "help".
        local n=0 first=""
        for ((i = 1; i < COMP_CWORD; i++)); do
            w=${COMP_WORDS[i]}
            [[ $w == -* ]] && continue
            ((n++))
            ((n == 2)) && first=$w
        done
        if ((n == 1)); then
            COMPREPLY=($(compgen -W "$_careteam_commands" -- "$cur"))
        elif ((n == 2)); then
            COMPREPLY=($(compgen -W "$(_careteam_subcommands "$first")" -- "$cur"))
        fi
    elif [[ -z $sub && -n $(_careteam_subcommands "$cmd") ]]; then
        COMPREPLY=($(compgen -W "$(_careteam_subcommands "$cmd")" -- "$cur"))
    elif [[ $cmd == profile && $sub =~ ^(show|remove|default)$ && $operands -eq 0 ]]; then
        COMPREPLY=($(compgen -W "$(_careteam_profiles)" -- "$cur"))
    fi
}

complete -F _careteam careteam

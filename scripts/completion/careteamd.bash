# bash completion for careteamd(8): commands, subcommands, each command's options, role and
# revocation-reason names, directories for DIR and file names for file options.
#
# Installed as share/bash-completion/completions/careteamd; or source it from ~/.bashrc. It
# needs nothing from the bash-completion package.

_careteamd_commands="init enroll members deactivate activate renew revoke participant team lockbox
 supervisor serve check-config backup restore audit purge"

_careteamd_value_opts=" --host --crl-url --id --name --role --out --supervisor --reason --cert
 --label --participant --member --listen --ready-file --user --checkpoints --pubkey --before "

_careteamd_subcommands()
{
    case $1 in
    participant) echo "add list" ;;
    team) echo "add remove show" ;;
    lockbox) echo "add remove list" ;;
    supervisor) echo "set" ;;
    audit) echo "verify keygen checkpoint checkpoints" ;;
    esac
}

_careteamd_command_opts()
{
    case $1 in
    init) echo "--host --crl-url" ;;
    enroll) echo "--id --name --role --out --supervisor" ;;
    members) echo "--json" ;;
    deactivate | activate) echo "--id" ;;
    renew) echo "--id --out --server --host" ;;
    revoke) echo "--id --server --reason --cert" ;;
    "participant add") echo "--id --label" ;;
    "participant list") echo "--json" ;;
    "team add" | "team remove") echo "--participant --member" ;;
    "team show") echo "--participant --json" ;;
    "lockbox add") echo "--participant --member --reason" ;;
    "lockbox remove") echo "--participant --member" ;;
    "lockbox list") echo "--participant --json" ;;
    "supervisor set") echo "--member --supervisor --none" ;;
    serve) echo "--listen --ready-file --user --allow-root" ;;
    "audit verify") echo "--checkpoints --pubkey" ;;
    "audit checkpoints") echo "--out" ;;
    purge) echo "--before --dry-run --include-pending --force" ;;
    esac
}

_careteamd()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    local i w cmd="" sub=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -* ]]; then
            [[ $_careteamd_value_opts == *" $w "* ]] && ((i++))
            continue
        fi
        if [[ -z $cmd ]]; then
            cmd=$w
        elif [[ -z $sub && -n $(_careteamd_subcommands "$cmd") ]]; then
            sub=$w
        fi
    done

    case $prev in
    --role)
        COMPREPLY=($(compgen -W "psychiatrist therapist peer_worker peer_supervisor compliance
            admin" -- "$cur"))
        return
        ;;
    --reason)
        if [[ $cmd == revoke ]]; then
            COMPREPLY=($(compgen -W "unspecified keyCompromise affiliationChanged superseded
                cessationOfOperation privilegeWithdrawn" -- "$cur"))
        fi
        return
        ;;
    --user)
        COMPREPLY=($(compgen -u -- "$cur"))
        return
        ;;
    --out | --cert | --ready-file | --checkpoints | --pubkey)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    esac
    if [[ $_careteamd_value_opts == *" $prev "* ]]; then
        return
    fi

    if [[ $cur == -* ]]; then
        local key=$cmd
        [[ -n $sub ]] && key="$cmd $sub"
        COMPREPLY=($(compgen -W "$(_careteamd_command_opts "$key") --help" -- "$cur"))
        [[ -z $cmd ]] && COMPREPLY+=($(compgen -W "--version" -- "$cur"))
        return
    fi
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$_careteamd_commands" -- "$cur"))
    elif [[ -z $sub && -n $(_careteamd_subcommands "$cmd") ]]; then
        COMPREPLY=($(compgen -W "$(_careteamd_subcommands "$cmd")" -- "$cur"))
    else
        # DIR, or for backup and restore a FILE as well.
        compopt -o filenames 2>/dev/null
        case $cmd in
        backup | restore | check-config) COMPREPLY=($(compgen -f -- "$cur")) ;;
        *) COMPREPLY=($(compgen -d -- "$cur")) ;;
        esac
    fi
}

complete -F _careteamd careteamd

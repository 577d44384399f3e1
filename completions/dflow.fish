# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dflow_global_optspecs
    string join \n json q/quiet color= h/help V/version
end

function __fish_dflow_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dflow_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dflow_using_subcommand
    set -l cmd (__fish_dflow_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dflow -n "__fish_dflow_needs_command" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_needs_command" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_needs_command" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_needs_command" -s V -l version -d 'Print version'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "doctor" -d 'Check whether this host can run dflow\'s probes'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor help" -f -a "doctor" -d 'Check whether this host can run dflow\'s probes'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

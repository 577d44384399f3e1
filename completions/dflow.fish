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
complete -c dflow -n "__fish_dflow_needs_command" -f -a "trace" -d 'Which requests are slow or failing, and where in the call chain'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "profile" -d 'Where processes spend CPU time, and where their threads block'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "query" -d 'Ask a session file (or several) questions in SQL'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "sessions" -d 'List, inspect and delete session files'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "replay" -d 'Show a stored session again, as the live capture showed it'
complete -c dflow -n "__fish_dflow_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand trace" -s p -l pid -d 'Capture only this process (repeatable). With --comm, a process that matches either is captured' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l comm -d 'Capture only processes with this command name, as in /proc/PID/comm of the process (its main thread\'s name: every thread of dig matches `--comm dig`, though its I/O threads are named isc-net-0000; at most 15 bytes; repeatable)' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -s d -l duration -d 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l session -d 'Write the session to this file instead of the default directory' -r -F
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l tag -d 'Label the session (repeatable), e.g. --tag ticket=INC-42; stored in the session\'s labels table' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l port -d 'Only connections with this local or remote port (repeatable)' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l protocol -d 'Only this protocol (repeatable); default: all' -r -f -a "http1\t''
dns\t''
redis\t''
postgres\t''
mysql\t''"
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l min-latency -d 'Only calls that took at least this long (e.g. 100ms)' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l status -d 'Only calls with this status (repeatable)' -r -f -a "ok\t''
client_error\t''
server_error\t''
timeout\t''
error\t''"
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l snaplen -d 'Payload bytes copied per syscall for parsing (64 to 16384)' -r
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l no-session -d 'Do not write a session file'
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l no-redact -d 'Show and store credentials as they are (off by default: Authorization, Proxy-Authorization, Cookie and Set-Cookie values and database authentication are replaced by [redacted])'
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l no-tui -d 'Do not start the terminal view even on a terminal: print lines (or write files) as without one'
complete -c dflow -n "__fish_dflow_using_subcommand trace" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand trace" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -s p -l pid -d 'Capture only this process (repeatable). With --comm, a process that matches either is captured' -r
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l comm -d 'Capture only processes with this command name, as in /proc/PID/comm of the process (its main thread\'s name: every thread of dig matches `--comm dig`, though its I/O threads are named isc-net-0000; at most 15 bytes; repeatable)' -r
complete -c dflow -n "__fish_dflow_using_subcommand profile" -s d -l duration -d 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C' -r
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l session -d 'Write the session to this file instead of the default directory' -r -F
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l tag -d 'Label the session (repeatable), e.g. --tag ticket=INC-42; stored in the session\'s labels table' -r
complete -c dflow -n "__fish_dflow_using_subcommand profile" -s F -l frequency -d 'On-CPU samples per second per CPU' -r
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l min-block -d 'Ignore blocks shorter than this (off-CPU)' -r
complete -c dflow -n "__fish_dflow_using_subcommand profile" -s o -l output -d 'Write an SVG flame graph to this file at the end' -r -F
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l folded -d 'Write folded stacks (`frame;frame;... value` per line) at the end' -r -F
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l pprof -d 'Write a gzipped pprof profile at the end' -r -F
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l from -d 'Export a stored profile session instead of sampling' -r -F
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l no-session -d 'Do not write a session file'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l all -d 'Profile every process (the default when neither -p nor --comm is given)'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l on-cpu -d 'Sample where CPU time goes (the default)'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l off-cpu -d 'Measure where threads block, and for how long, instead'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l both -d 'Both, in one flame graph under [on-cpu] and [off-cpu], in microseconds'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l no-kernel -d 'Leave out kernel frames'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l per-thread -d 'Keep threads apart (each thread its own root; `t` toggles in the view)'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l no-tui -d 'Do not start the terminal view even on a terminal: print lines (or write files) as without one'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand profile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand query" -l memory-limit -d 'The most memory DuckDB may use for the query, e.g. 512MB or 8GB (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024). A query that needs more fails and says so. Default: a quarter of this host\'s memory (or of the cgroup\'s limit when lower)' -r
complete -c dflow -n "__fish_dflow_using_subcommand query" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand query" -l csv -d 'Print CSV (RFC 4180) instead of an aligned table'
complete -c dflow -n "__fish_dflow_using_subcommand query" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand query" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand query" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -f -a "list" -d 'List sessions: kind, host, time span, size, events and losses (the default)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -f -a "show" -d 'Everything a session file says about itself'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -f -a "rm" -d 'Delete session files (each with its write-ahead log)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and not __fish_seen_subcommand_from list show rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from list" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from show" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from rm" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from rm" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "list" -d 'List sessions: kind, host, time span, size, events and losses (the default)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "show" -d 'Everything a session file says about itself'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete session files (each with its write-ahead log)'
complete -c dflow -n "__fish_dflow_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dflow -n "__fish_dflow_using_subcommand replay" -l color -d 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given' -r -f -a "auto\t'Colour when writing to a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c dflow -n "__fish_dflow_using_subcommand replay" -l json -d 'Print machine-readable JSON instead of text'
complete -c dflow -n "__fish_dflow_using_subcommand replay" -s q -l quiet -d 'Print nothing but results and errors (no progress, no notes)'
complete -c dflow -n "__fish_dflow_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "doctor" -d 'Check whether this host can run dflow\'s probes'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "trace" -d 'Which requests are slow or failing, and where in the call chain'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "profile" -d 'Where processes spend CPU time, and where their threads block'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "query" -d 'Ask a session file (or several) questions in SQL'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "sessions" -d 'List, inspect and delete session files'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "replay" -d 'Show a stored session again, as the live capture showed it'
complete -c dflow -n "__fish_dflow_using_subcommand help; and not __fish_seen_subcommand_from doctor trace profile query sessions replay help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dflow -n "__fish_dflow_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "list" -d 'List sessions: kind, host, time span, size, events and losses (the default)'
complete -c dflow -n "__fish_dflow_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "show" -d 'Everything a session file says about itself'
complete -c dflow -n "__fish_dflow_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "rm" -d 'Delete session files (each with its write-ahead log)'

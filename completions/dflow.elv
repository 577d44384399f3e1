
use builtin;
use str;

set edit:completion:arg-completer[dflow] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'dflow'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'dflow'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand doctor 'Check whether this host can run dflow''s probes'
            cand trace 'Which requests are slow or failing, and where in the call chain'
            cand profile 'Where processes spend CPU time, and where their threads block'
            cand query 'Ask a session file (or several) questions in SQL'
            cand sessions 'List, inspect and delete session files'
            cand replay 'Show a stored session again, as the live capture showed it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dflow;doctor'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;trace'= {
            cand -p 'Capture only this process (repeatable). With --comm, a process that matches either is captured'
            cand --pid 'Capture only this process (repeatable). With --comm, a process that matches either is captured'
            cand --comm 'Capture only processes with this command name, as in /proc/PID/comm of the process (its main thread''s name: every thread of dig matches `--comm dig`, though its I/O threads are named isc-net-0000; at most 15 bytes; repeatable)'
            cand -d 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C'
            cand --duration 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C'
            cand --session 'Write the session to this file instead of the default directory'
            cand --tag 'Label the session (repeatable), e.g. --tag ticket=INC-42; stored in the session''s labels table'
            cand --port 'Only connections with this local or remote port (repeatable)'
            cand --protocol 'Only this protocol (repeatable); default: all'
            cand --min-latency 'Only calls that took at least this long (e.g. 100ms)'
            cand --status 'Only calls with this status (repeatable)'
            cand --snaplen 'Payload bytes copied per syscall for parsing (64 to 16384)'
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --no-session 'Do not write a session file'
            cand --no-redact 'Show and store credentials as they are (off by default: Authorization, Proxy-Authorization, Cookie and Set-Cookie values and database authentication are replaced by [redacted])'
            cand --no-tui 'Do not start the terminal view even on a terminal: print lines (or write files) as without one'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;profile'= {
            cand -p 'Capture only this process (repeatable). With --comm, a process that matches either is captured'
            cand --pid 'Capture only this process (repeatable). With --comm, a process that matches either is captured'
            cand --comm 'Capture only processes with this command name, as in /proc/PID/comm of the process (its main thread''s name: every thread of dig matches `--comm dig`, though its I/O threads are named isc-net-0000; at most 15 bytes; repeatable)'
            cand -d 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C'
            cand --duration 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C'
            cand --session 'Write the session to this file instead of the default directory'
            cand --tag 'Label the session (repeatable), e.g. --tag ticket=INC-42; stored in the session''s labels table'
            cand -F 'On-CPU samples per second per CPU'
            cand --frequency 'On-CPU samples per second per CPU'
            cand --min-block 'Ignore blocks shorter than this (off-CPU)'
            cand -o 'Write an SVG flame graph to this file at the end'
            cand --output 'Write an SVG flame graph to this file at the end'
            cand --folded 'Write folded stacks (`frame;frame;... value` per line) at the end'
            cand --pprof 'Write a gzipped pprof profile at the end'
            cand --from 'Export a stored profile session instead of sampling'
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --no-session 'Do not write a session file'
            cand --all 'Profile every process (the default when neither -p nor --comm is given)'
            cand --on-cpu 'Sample where CPU time goes (the default)'
            cand --off-cpu 'Measure where threads block, and for how long, instead'
            cand --both 'Both, in one flame graph under [on-cpu] and [off-cpu], in microseconds'
            cand --no-kernel 'Leave out kernel frames'
            cand --per-thread 'Keep threads apart (each thread its own root; `t` toggles in the view)'
            cand --no-tui 'Do not start the terminal view even on a terminal: print lines (or write files) as without one'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;query'= {
            cand --memory-limit 'The most memory DuckDB may use for the query, e.g. 512MB or 8GB (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024). A query that needs more fails and says so. Default: a quarter of this host''s memory (or of the cgroup''s limit when lower)'
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --csv 'Print CSV (RFC 4180) instead of an aligned table'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;sessions'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand list 'List sessions: kind, host, time span, size, events and losses (the default)'
            cand show 'Everything a session file says about itself'
            cand rm 'Delete session files (each with its write-ahead log)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dflow;sessions;list'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;sessions;show'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;sessions;rm'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;sessions;help'= {
            cand list 'List sessions: kind, host, time span, size, events and losses (the default)'
            cand show 'Everything a session file says about itself'
            cand rm 'Delete session files (each with its write-ahead log)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dflow;sessions;help;list'= {
        }
        &'dflow;sessions;help;show'= {
        }
        &'dflow;sessions;help;rm'= {
        }
        &'dflow;sessions;help;help'= {
        }
        &'dflow;replay'= {
            cand --color 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given'
            cand --json 'Print machine-readable JSON instead of text'
            cand -q 'Print nothing but results and errors (no progress, no notes)'
            cand --quiet 'Print nothing but results and errors (no progress, no notes)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dflow;help'= {
            cand doctor 'Check whether this host can run dflow''s probes'
            cand trace 'Which requests are slow or failing, and where in the call chain'
            cand profile 'Where processes spend CPU time, and where their threads block'
            cand query 'Ask a session file (or several) questions in SQL'
            cand sessions 'List, inspect and delete session files'
            cand replay 'Show a stored session again, as the live capture showed it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dflow;help;doctor'= {
        }
        &'dflow;help;trace'= {
        }
        &'dflow;help;profile'= {
        }
        &'dflow;help;query'= {
        }
        &'dflow;help;sessions'= {
            cand list 'List sessions: kind, host, time span, size, events and losses (the default)'
            cand show 'Everything a session file says about itself'
            cand rm 'Delete session files (each with its write-ahead log)'
        }
        &'dflow;help;sessions;list'= {
        }
        &'dflow;help;sessions;show'= {
        }
        &'dflow;help;sessions;rm'= {
        }
        &'dflow;help;replay'= {
        }
        &'dflow;help;help'= {
        }
    ]
    $completions[$command]
}

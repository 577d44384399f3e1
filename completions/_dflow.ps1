
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'dflow' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'dflow'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'dflow' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check whether this host can run dflow''s probes')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Which requests are slow or failing, and where in the call chain')
            [CompletionResult]::new('profile', 'profile', [CompletionResultType]::ParameterValue, 'Where processes spend CPU time, and where their threads block')
            [CompletionResult]::new('query', 'query', [CompletionResultType]::ParameterValue, 'Ask a session file (or several) questions in SQL')
            [CompletionResult]::new('sessions', 'sessions', [CompletionResultType]::ParameterValue, 'List, inspect and delete session files')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Show a stored session again, as the live capture showed it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dflow;doctor' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;trace' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Capture only this process (repeatable). With --comm, a process that matches either is captured')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Capture only this process (repeatable). With --comm, a process that matches either is captured')
            [CompletionResult]::new('--comm', '--comm', [CompletionResultType]::ParameterName, 'Capture only processes with this command name, as in /proc/PID/comm of the process (its main thread''s name: every thread of dig matches `--comm dig`, though its I/O threads are named isc-net-0000; at most 15 bytes; repeatable)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C')
            [CompletionResult]::new('--session', '--session', [CompletionResultType]::ParameterName, 'Write the session to this file instead of the default directory')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Label the session (repeatable), e.g. --tag ticket=INC-42; stored in the session''s labels table')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Only connections with this local or remote port (repeatable)')
            [CompletionResult]::new('--protocol', '--protocol', [CompletionResultType]::ParameterName, 'Only this protocol (repeatable); default: all')
            [CompletionResult]::new('--min-latency', '--min-latency', [CompletionResultType]::ParameterName, 'Only calls that took at least this long (e.g. 100ms)')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Only calls with this status (repeatable)')
            [CompletionResult]::new('--snaplen', '--snaplen', [CompletionResultType]::ParameterName, 'Payload bytes copied per syscall for parsing (64 to 16384)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--no-session', '--no-session', [CompletionResultType]::ParameterName, 'Do not write a session file')
            [CompletionResult]::new('--no-redact', '--no-redact', [CompletionResultType]::ParameterName, 'Show and store credentials as they are (off by default: Authorization, Proxy-Authorization, Cookie and Set-Cookie values and database authentication are replaced by [redacted])')
            [CompletionResult]::new('--no-tui', '--no-tui', [CompletionResultType]::ParameterName, 'Do not start the terminal view even on a terminal: print lines (or write files) as without one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;profile' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Capture only this process (repeatable). With --comm, a process that matches either is captured')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Capture only this process (repeatable). With --comm, a process that matches either is captured')
            [CompletionResult]::new('--comm', '--comm', [CompletionResultType]::ParameterName, 'Capture only processes with this command name, as in /proc/PID/comm of the process (its main thread''s name: every thread of dig matches `--comm dig`, though its I/O threads are named isc-net-0000; at most 15 bytes; repeatable)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C')
            [CompletionResult]::new('--session', '--session', [CompletionResultType]::ParameterName, 'Write the session to this file instead of the default directory')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Label the session (repeatable), e.g. --tag ticket=INC-42; stored in the session''s labels table')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'On-CPU samples per second per CPU')
            [CompletionResult]::new('--frequency', '--frequency', [CompletionResultType]::ParameterName, 'On-CPU samples per second per CPU')
            [CompletionResult]::new('--min-block', '--min-block', [CompletionResultType]::ParameterName, 'Ignore blocks shorter than this (off-CPU)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write an SVG flame graph to this file at the end')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write an SVG flame graph to this file at the end')
            [CompletionResult]::new('--folded', '--folded', [CompletionResultType]::ParameterName, 'Write folded stacks (`frame;frame;... value` per line) at the end')
            [CompletionResult]::new('--pprof', '--pprof', [CompletionResultType]::ParameterName, 'Write a gzipped pprof profile at the end')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Export a stored profile session instead of sampling')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--no-session', '--no-session', [CompletionResultType]::ParameterName, 'Do not write a session file')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Profile every process (the default when neither -p nor --comm is given)')
            [CompletionResult]::new('--on-cpu', '--on-cpu', [CompletionResultType]::ParameterName, 'Sample where CPU time goes (the default)')
            [CompletionResult]::new('--off-cpu', '--off-cpu', [CompletionResultType]::ParameterName, 'Measure where threads block, and for how long, instead')
            [CompletionResult]::new('--both', '--both', [CompletionResultType]::ParameterName, 'Both, in one flame graph under [on-cpu] and [off-cpu], in microseconds')
            [CompletionResult]::new('--no-kernel', '--no-kernel', [CompletionResultType]::ParameterName, 'Leave out kernel frames')
            [CompletionResult]::new('--per-thread', '--per-thread', [CompletionResultType]::ParameterName, 'Keep threads apart (each thread its own root; `t` toggles in the view)')
            [CompletionResult]::new('--no-tui', '--no-tui', [CompletionResultType]::ParameterName, 'Do not start the terminal view even on a terminal: print lines (or write files) as without one')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;query' {
            [CompletionResult]::new('--memory-limit', '--memory-limit', [CompletionResultType]::ParameterName, 'The most memory DuckDB may use for the query, e.g. 512MB or 8GB (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024). A query that needs more fails and says so. Default: a quarter of this host''s memory (or of the cgroup''s limit when lower)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Print CSV (RFC 4180) instead of an aligned table')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;sessions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List sessions: kind, host, time span, size, events and losses (the default)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Everything a session file says about itself')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete session files (each with its write-ahead log)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dflow;sessions;list' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;sessions;show' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;sessions;rm' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;sessions;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List sessions: kind, host, time span, size, events and losses (the default)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Everything a session file says about itself')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete session files (each with its write-ahead log)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dflow;sessions;help;list' {
            break
        }
        'dflow;sessions;help;show' {
            break
        }
        'dflow;sessions;help;rm' {
            break
        }
        'dflow;sessions;help;help' {
            break
        }
        'dflow;replay' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output. NO_COLOR in the environment means never, unless --color=always is given')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but results and errors (no progress, no notes)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dflow;help' {
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check whether this host can run dflow''s probes')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Which requests are slow or failing, and where in the call chain')
            [CompletionResult]::new('profile', 'profile', [CompletionResultType]::ParameterValue, 'Where processes spend CPU time, and where their threads block')
            [CompletionResult]::new('query', 'query', [CompletionResultType]::ParameterValue, 'Ask a session file (or several) questions in SQL')
            [CompletionResult]::new('sessions', 'sessions', [CompletionResultType]::ParameterValue, 'List, inspect and delete session files')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Show a stored session again, as the live capture showed it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dflow;help;doctor' {
            break
        }
        'dflow;help;trace' {
            break
        }
        'dflow;help;profile' {
            break
        }
        'dflow;help;query' {
            break
        }
        'dflow;help;sessions' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List sessions: kind, host, time span, size, events and losses (the default)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Everything a session file says about itself')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete session files (each with its write-ahead log)')
            break
        }
        'dflow;help;sessions;list' {
            break
        }
        'dflow;help;sessions;show' {
            break
        }
        'dflow;help;sessions;rm' {
            break
        }
        'dflow;help;replay' {
            break
        }
        'dflow;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}


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
        &'dflow;help'= {
            cand doctor 'Check whether this host can run dflow''s probes'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dflow;help;doctor'= {
        }
        &'dflow;help;help'= {
        }
    ]
    $completions[$command]
}

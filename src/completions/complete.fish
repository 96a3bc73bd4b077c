
# rtask's own part: session names and tags from the task file, from
# `rtask --complete-names sessions|tags [-f PATH]`. The first word that is not an option
# decides: one of the commands, else a run (of sessions, which may be several); an option
# still missing its value counts as a run.
function __fish_rtask_needs_command
    set -l cmd (commandline -opc)
    set -e cmd[1]
    # After `--`, the posargs: files.
    contains -- -- $cmd
    and return 1
    argparse -s (__fish_rtask_global_optspecs) -- $cmd 2>/dev/null
    or return 0
    if set -q argv[1]; and contains -- $argv[1] @COMMANDS@
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rtask_names
    set -l tokens (commandline -opc)
    set -l file
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case -f --file
                set file -f $tokens[(math $i + 1)]
            case '--file=*'
                set file -f (string replace -- --file= '' $tokens[$i])
        end
    end
    rtask --complete-names $argv $file 2>/dev/null
end

complete -c rtask -n __fish_rtask_needs_command -s s -s e -l session -l restore-only -x -a '(__fish_rtask_names sessions)'
complete -c rtask -n __fish_rtask_needs_command -s t -l tag -l tags -x -a '(__fish_rtask_names tags)'
complete -c rtask -n __fish_rtask_needs_command -f -a '(__fish_rtask_names sessions)'

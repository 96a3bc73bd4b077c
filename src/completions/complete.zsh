
# rtask's own part: session names and tags from the task file, from
# `rtask --complete-names sessions|tags [-f PATH]`.
(( $+functions[_rtask_names] )) ||
_rtask_names() {
    local file="${opt_args[-f]:-${opt_args[--file]}}"
    local -a arguments names expl
    arguments=(--complete-names "$1")
    [[ -n $file ]] && arguments+=(-f "${(Q)file}")
    names=(${(f)"$(rtask "${arguments[@]}" 2>/dev/null)"})
    _wanted "$1" expl "$2" compadd -a names
}
(( $+functions[_rtask_sessions] )) ||
_rtask_sessions() {
    _rtask_names sessions session
}
(( $+functions[_rtask_tags] )) ||
_rtask_tags() {
    _rtask_names tags tag
}
# The first word: a session, or one of the commands.
(( $+functions[_rtask_first] )) ||
_rtask_first() {
    _alternative 'sessions:session:_rtask_sessions' 'commands:command:_rtask_commands'
}

# The words after a first session: more sessions, or after `--` the posargs (files).
(( $+functions[_rtask_later] )) ||
_rtask_later() {
    # `_arguments` has taken `--` out of `words`: look for it on the line.
    local -a left
    left=(${(z)LBUFFER})
    [[ $LBUFFER == *[[:space:]] ]] && left+=('')
    if (( ${left[(I)--]} > 0 && ${left[(I)--]} < $#left )); then
        _files
    else
        _rtask_sessions
    fi
}



# rtask's own part: session names and tags from the task file (`rtask --complete-names`),
# before clap_complete's `_rtask` above, which completes options, their values and commands.
# The line is split here, from COMP_LINE, so that `=`, `(` and quotes in a parametrized
# session's name (`tests(python='3.12')`) stay in one word whatever COMP_WORDBREAKS says.

# Splits $1 into shell words, quotes and backslashes kept, into `_rtask_words`; the last
# word is the one being completed (empty after a space).
_rtask_split() {
    local line="$1" word="" quote="" c i
    _rtask_words=()
    for ((i = 0; i < ${#line}; i++)); do
        c="${line:i:1}"
        if [[ $quote == "'" ]]; then
            [[ $c == "'" ]] && quote=""
        elif [[ $c == '\' ]]; then
            word+="$c"
            ((i++))
            c="${line:i:1}"
        elif [[ -n $quote ]]; then
            [[ $c == '"' ]] && quote=""
        elif [[ $c == [\'\"] ]]; then
            quote="$c"
        elif [[ $c == [[:space:]] ]]; then
            [[ -n $word ]] && _rtask_words+=("$word")
            word=""
            continue
        fi
        word+="$c"
    done
    _rtask_words+=("$word")
}

# The text a shell word stands for: quotes removed, backslashes resolved.
_rtask_dequote() {
    local word="$1" text="" quote="" c i
    for ((i = 0; i < ${#word}; i++)); do
        c="${word:i:1}"
        if [[ $quote == "'" ]]; then
            if [[ $c == "'" ]]; then quote=""; else text+="$c"; fi
        elif [[ $c == '\' ]]; then
            ((i++))
            text+="${word:i:1}"
        elif [[ -n $quote ]]; then
            if [[ $c == '"' ]]; then quote=""; else text+="$c"; fi
        elif [[ $c == [\'\"] ]]; then
            quote="$c"
        else
            text+="$c"
        fi
    done
    printf '%s' "$text"
}

# Where readline starts replacing in word $1: after an opening quote still open, else after
# the last unquoted COMP_WORDBREAKS character.
_rtask_replace_from() {
    local word="$1" breaks=$' \t\n"\'><=;|&(:' quote="" from=0 c i
    [[ -n ${COMP_WORDBREAKS+set} ]] && breaks="$COMP_WORDBREAKS"
    for ((i = 0; i < ${#word}; i++)); do
        c="${word:i:1}"
        if [[ $quote == "'" ]]; then
            [[ $c == "'" ]] && quote=""
        elif [[ $c == '\' ]]; then
            ((i++))
        elif [[ -n $quote ]]; then
            [[ $c == '"' ]] && quote=""
        elif [[ $c == [\'\"] ]]; then
            quote="$c"
            from=$((i + 1))
        elif [[ $breaks == *"$c"* ]]; then
            from=$((i + 1))
        fi
    done
    printf '%s' "$from"
}

# Sets COMPREPLY to the names (one a line on stdin) that the word $2 begins, written after
# $1 (what the word starts with: `--session=`, `lint,`, or nothing) and quoted as the word is: `tests\(python=\'3.12\'\)`, or
# inside the quote the word opens.
_rtask_reply() {
    local lead="$1" word="$2" name text quoted from single="'" escaped="'\\''"
    text="$(_rtask_dequote "${word:${#lead}}")"
    from="$(_rtask_replace_from "$word")"
    COMPREPLY=()
    while IFS= read -r name; do
        [[ -n $name && $name == "$text"* ]] || continue
        case "${word:${#lead}:1}" in
            "'") quoted="'${name//$single/$escaped}" ;;
            '"')
                quoted="${name//\\/\\\\}"
                quoted="${quoted//\"/\\\"}"
                quoted="${quoted//\$/\\\$}"
                quoted="\"${quoted//\`/\\\`}"
                ;;
            *) printf -v quoted '%q' "$name" ;;
        esac
        quoted="$lead$quoted"
        [[ ${quoted:0:from} == "${word:0:from}" ]] && COMPREPLY+=("${quoted:from}")
    done
}

_rtask_complete() {
    local words file="" i word prev lead="" commands=()
    _rtask_split "${COMP_LINE:0:COMP_POINT}"
    words=("${_rtask_words[@]}")
    word="${words[${#words[@]} - 1]}"
    prev="${words[${#words[@]} - 2]}"
    if ((${#words[@]} > 2)) && [[ " @COMMANDS@ " == *" ${words[1]} "* ]]; then
        _rtask "$@"
        return
    fi
    for ((i = 1; i < ${#words[@]} - 1; i++)); do
        case "${words[i]}" in
            --)
                compopt -o default 2>/dev/null
                COMPREPLY=()
                return
                ;;
            -f | --file) file="$(_rtask_dequote "${words[i + 1]}")" ;;
            --file=*) file="$(_rtask_dequote "${words[i]#--file=}")" ;;
        esac
    done
    [[ $file == "~/"* ]] && file="$HOME/${file#"~/"}"
    local names=(rtask --complete-names)
    case "$word" in
        --session=* | --restore-only=* | --tag=* | --tags=*)
            lead="${word%%=*}="
            prev="${word%%=*}"
            ;;
    esac
    case "$prev" in
        -s | -e | --session | --restore-only | -t | --tag | --tags)
            if [[ $prev == -t || $prev == --tag* ]]; then names+=(tags); else names+=(sessions); fi
            # Names separated by commas, outside a name's parentheses: complete the last.
            local before="${word:${#lead}}" open close
            if [[ $before == *,* ]]; then
                before="${before%,*}"
                open="${before//[^(]/}" close="${before//[^)]/}"
                ((${#open} == ${#close})) && lead+="$before,"
            fi
            ;;
        @VALUE_OPTIONS@)
            compopt -o default 2>/dev/null
            _rtask "$@"
            return
            ;;
        *)
            if [[ $word == -* ]]; then
                _rtask "$@"
                return
            fi
            names+=(sessions)
            # The first word may be a command too.
            ((${#words[@]} == 2)) && commands=(@COMMANDS@)
            ;;
    esac
    [[ -n $file ]] && names+=(-f "$file")
    # Once each: a session may be named like a command.
    _rtask_reply "$lead" "$word" < <(
        {
            "${names[@]}" 2>/dev/null
            printf '%s\n' "${commands[@]}"
        } | awk '!seen[$0]++'
    )
}

if [[ ${BASH_VERSINFO[0]} -eq 4 && ${BASH_VERSINFO[1]} -ge 4 || ${BASH_VERSINFO[0]} -gt 4 ]]; then
    complete -F _rtask_complete -o nosort rtask
else
    complete -F _rtask_complete rtask
fi

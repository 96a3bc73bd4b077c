//! `rtask completions SHELL`: the bash script driven in a real bash as readline would drive
//! it, session names and tags coming from the task file; the other shells' scripts; and the
//! commands that work without a task file.

use std::path::Path;
use std::process::Command;

use crate::support::{Project, RTASK, tools_path};

const TASKS: &str = r#"
[sessions.lint]
python = false
tags = ["style"]
run = ["echo lint"]

[sessions.tests]
python = false
tags = ["test", "ci"]
run = ["echo {db}"]
parametrize = { db = ["sqlite", "pg"] }
"#;

/// Sources the bash script, then calls its completion function as bash does for `line` (the
/// cursor at its end), `words` being COMP_WORDS as bash splits the line (at COMP_WORDBREAKS);
/// prints COMPREPLY, one a line.
const DRIVE: &str = r#"
eval "$(rtask completions bash)"
COMP_LINE="$1"
COMP_POINT=${#1}
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_rtask_complete rtask "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// A bash without start-up files, in `dir`, with rtask first on `PATH`.
fn bash(dir: &Path, script: &str, args: &[&str]) -> Command {
    let bin = Path::new(RTASK).parent().unwrap().to_path_buf();
    let mut command = Command::new("bash");
    command
        .args(["--norc", "--noprofile", "-c", script, "bash"])
        .args(args)
        .current_dir(dir)
        .env("PATH", tools_path(&[bin]))
        .env_remove("RTASK_CACHE_DIR")
        .env_remove("RTASK_CACHE_MAX_SIZE");
    command
}

/// What bash offers for `line`, split into `words` as bash splits it.
#[track_caller]
fn offers(dir: &Path, line: &str, words: &[&str]) -> Vec<String> {
    let mut args = vec![line];
    args.extend_from_slice(words);
    let output = bash(dir, DRIVE, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "completing {line:?} failed: {stderr}"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_registers_the_completion_function() {
    let project = Project::new();
    let output = bash(
        project.root(),
        "eval \"$(rtask completions bash)\" && complete -p rtask",
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "complete -o nosort -F _rtask_complete rtask\n"
    );
}

#[test]
fn bash_completes_sessions_and_commands_as_the_first_word() {
    let project = Project::with_tasks(TASKS);
    assert_eq!(
        offers(project.root(), "rtask ", &["rtask", ""]),
        [
            "lint",
            "tests",
            r"tests\(db=\'sqlite\'\)",
            r"tests\(db=\'pg\'\)",
            "cache",
            "init",
            "schema",
            "completions",
        ]
    );
    assert_eq!(
        offers(project.root(), "rtask c", &["rtask", "c"]),
        ["cache", "completions"]
    );
    // Later words are sessions only.
    assert_eq!(
        offers(project.root(), "rtask lint l", &["rtask", "lint", "l"]),
        ["lint"]
    );
    // A session named like a command is offered once.
    let named = Project::with_tasks("[sessions.completions]\nrun = [\"true\"]\n");
    assert_eq!(
        offers(named.root(), "rtask comp", &["rtask", "comp"]),
        ["completions"]
    );
    // After `--`, the posargs: nothing from rtask.
    assert!(
        offers(
            project.root(),
            "rtask lint -- ",
            &["rtask", "lint", "--", ""]
        )
        .is_empty()
    );
}

#[test]
fn bash_quotes_parametrized_session_names() {
    let project = Project::with_tasks(TASKS);
    let root = project.root();
    assert_eq!(
        offers(root, r"rtask tests\(d", &["rtask", r"tests\(d"]),
        [r"tests\(db=\'sqlite\'\)", r"tests\(db=\'pg\'\)"]
    );
    // `=` breaks the word for readline, which replaces only what follows it.
    assert_eq!(
        offers(
            root,
            r"rtask tests\(db=\'s",
            &["rtask", r"tests\(db", "=", r"\'s"]
        ),
        [r"\'sqlite\'\)"]
    );
    // Inside a quote the word opens, the name as it is (with `'` escaped in `'...'`).
    assert_eq!(
        offers(root, r#"rtask "tests(db='p"#, &["rtask", r#""tests(db='p"#]),
        ["tests(db='pg')"]
    );
    assert_eq!(
        offers(root, "rtask 'tests(db=", &["rtask", "'tests(db="]),
        [r"tests(db='\''sqlite'\'')", r"tests(db='\''pg'\'')"]
    );
    // Each offer, typed out, is the session's name to the shell.
    let output = bash(root, r"printf '%s\n' tests\(db=\'sqlite\'\)", &[])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "tests(db='sqlite')\n"
    );
}

#[test]
fn bash_completes_the_values_of_session_and_tag_options() {
    let project = Project::with_tasks(TASKS);
    let root = project.root();
    let sessions = [
        "lint",
        "tests",
        r"tests\(db=\'sqlite\'\)",
        r"tests\(db=\'pg\'\)",
    ];
    assert_eq!(offers(root, "rtask -s ", &["rtask", "-s", ""]), sessions);
    assert_eq!(
        offers(
            root,
            "rtask --restore-only ",
            &["rtask", "--restore-only", ""]
        ),
        sessions
    );
    assert_eq!(offers(root, "rtask -s l", &["rtask", "-s", "l"]), ["lint"]);
    assert_eq!(
        offers(root, "rtask --session=t", &["rtask", "--session", "=", "t"]),
        ["tests", r"tests\(db=\'sqlite\'\)", r"tests\(db=\'pg\'\)"]
    );
    assert_eq!(
        offers(root, "rtask -t ", &["rtask", "-t", ""]),
        ["style", "test", "ci"]
    );
    assert_eq!(
        offers(root, "rtask --tag=c", &["rtask", "--tag", "=", "c"]),
        ["ci"]
    );
    // Names separated by commas: the last one, after those before it.
    assert_eq!(
        offers(root, "rtask -s tests,l", &["rtask", "-s", "tests,l"]),
        ["tests,lint"]
    );
    assert_eq!(
        offers(root, "rtask -t ci,s", &["rtask", "-t", "ci,s"]),
        ["ci,style"]
    );
    // The values of other options are clap_complete's.
    assert_eq!(
        offers(root, "rtask --color ", &["rtask", "--color", ""]),
        ["auto", "always", "never"]
    );
}

#[test]
fn bash_reads_the_task_file_given_with_f() {
    let project = Project::new();
    project.write(
        "ci/other.toml",
        "[sessions.other]\nrun = [\"echo\"]\npython = false\n",
    );
    let root = project.root();
    assert_eq!(
        offers(
            root,
            "rtask -f ci/other.toml -s ",
            &["rtask", "-f", "ci/other.toml", "-s", ""]
        ),
        ["other"]
    );
    assert_eq!(
        offers(
            root,
            "rtask --file=ci/other.toml o",
            &["rtask", "--file", "=", "ci/other.toml", "o"]
        ),
        ["other"]
    );
}

#[test]
fn bash_completes_options_and_the_commands_arguments() {
    let project = Project::with_tasks(TASKS);
    let root = project.root();
    assert_eq!(
        offers(root, "rtask --re", &["rtask", "--re"]),
        [
            "--reinstall",
            "--reuse-venv",
            "--reuse-existing-virtualenvs",
            "--report",
            "--restore-only",
            "--remote-cache",
            "--remote-read-only",
            "--replay",
        ]
    );
    assert_eq!(
        offers(root, "rtask lint --dr", &["rtask", "lint", "--dr"]),
        ["--dry-run"]
    );
    assert_eq!(
        offers(root, "rtask cache p", &["rtask", "cache", "p"]),
        ["prune"]
    );
    assert_eq!(
        offers(root, "rtask completions f", &["rtask", "completions", "f"]),
        ["fish"]
    );
}

#[test]
fn bash_offers_only_commands_outside_a_project() {
    let empty = Project::new();
    assert_eq!(
        offers(empty.root(), "rtask ", &["rtask", ""]),
        ["cache", "init", "schema", "completions"]
    );
    assert!(offers(empty.root(), "rtask -s ", &["rtask", "-s", ""]).is_empty());
    assert!(offers(empty.root(), "rtask -t ", &["rtask", "-t", ""]).is_empty());
    // An invalid task file: nothing either, and no error in the line being typed.
    let broken = Project::with_tasks("[sessions.lint\n");
    assert_eq!(
        offers(broken.root(), "rtask ", &["rtask", ""]),
        ["cache", "init", "schema", "completions"]
    );
}

#[test]
fn complete_names_prints_names_or_nothing() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&["--complete-names", "sessions"])
        .success()
        .stdout_has("lint\ntests\ntests(db='sqlite')\ntests(db='pg')\n");
    let tags = project.rtask(&["--complete-names", "tags"]);
    assert_eq!((tags.code, tags.stdout.as_str()), (0, "style\ntest\nci\n"));
    for tasks in [None, Some("[sessions.lint\n")] {
        let project = Project::new();
        if let Some(tasks) = tasks {
            project.write("tasks.toml", tasks);
        }
        let run = project.rtask(&["--complete-names", "sessions"]);
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (0, "", "")
        );
    }
}

#[test]
fn zsh_and_fish_scripts_call_back_for_names() {
    let project = Project::new();
    for (shell, callback) in [
        ("zsh", ":SESSION:_rtask_sessions'"),
        ("zsh", ":TAG:_rtask_tags'"),
        ("zsh", "\":: :_rtask_first\""),
        ("zsh", "rtask \"${arguments[@]}\""),
        (
            "zsh",
            "if [[ $line[1] != (cache|init|schema|completions) ]]; then\n            _rtask_later",
        ),
        (
            "fish",
            "-s s -s e -l session -l restore-only -x -a '(__fish_rtask_names sessions)'",
        ),
        (
            "fish",
            "-s t -l tag -l tags -x -a '(__fish_rtask_names tags)'",
        ),
        ("fish", "rtask --complete-names $argv $file"),
    ] {
        project
            .rtask(&["completions", shell])
            .success()
            .stdout_has(callback);
    }
    let zsh = project.rtask(&["completions", "zsh"]);
    assert!(zsh.stdout.starts_with("#compdef rtask\n"), "{zsh}");
    zsh.stdout_lacks("$line[3]")
        .stdout_lacks("'::sessions -- Sessions to run");
}

#[test]
fn powershell_and_elvish_scripts_complete_options() {
    let project = Project::new();
    for shell in ["powershell", "elvish"] {
        project
            .rtask(&["completions", shell])
            .success()
            .stdout_has("--dry-run")
            .stdout_has("completions");
    }
}

#[test]
fn completions_schema_and_init_need_no_task_file() {
    let project = Project::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = project.rtask(&["completions", shell]);
        assert!(
            run.code == 0 && run.stdout.len() > 1000 && run.stderr.is_empty(),
            "{run}"
        );
    }
    project
        .rtask(&["schema"])
        .success()
        .stdout_has("\"title\": \"tasks.toml\"");
    assert!(!project.exists("tasks.toml"));
    project.rtask(&["init"]).success();
    assert!(project.exists("tasks.toml"));
    project
        .rtask(&["completions", "tcsh"])
        .code(3)
        .stderr_has("invalid value 'tcsh'");
}

#[test]
fn a_session_named_completions_runs_with_s() {
    let project =
        Project::with_tasks("[sessions.completions]\npython = false\nrun = [\"echo ran\"]\n");
    project
        .rtask(&["-s", "completions"])
        .success()
        .stdout_has("ran\n");
    project
        .rtask(&["completions"])
        .code(3)
        .stderr_has("<SHELL>");
}

/// What fish offers for each of `lines`, as `complete -C` prints it (`NAME\tDESCRIPTION`,
/// sorted), the script sourced from `rtask completions fish`.
#[track_caller]
fn fish_offers(dir: &Path, lines: &[&str]) -> Vec<Vec<String>> {
    const DRIVE: &str = "rtask completions fish | source
for line in $argv
    complete -C\"$line\"
    echo ==
end";
    let fish = Path::new("/usr/bin/fish");
    assert!(
        fish.is_file(),
        "fish is missing: run `bash .ci/prepare` first"
    );
    let bin = Path::new(RTASK).parent().unwrap().to_path_buf();
    let output = Command::new(fish)
        .args(["--no-config", "-c", DRIVE])
        .args(lines)
        .current_dir(dir)
        .env("PATH", tools_path(&[bin]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "fish failed: {stderr}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut offers: Vec<Vec<String>> = stdout
        .split("==\n")
        .map(|block| {
            block
                .lines()
                .map(|line| line.split('\t').next().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(offers.pop(), Some(Vec::new()), "{stdout}");
    offers
}

#[test]
fn fish_completes_sessions_tags_options_and_commands() {
    let project = Project::with_tasks(TASKS);
    let sessions = ["lint", "tests", "tests(db='pg')", "tests(db='sqlite')"];
    let offers = fish_offers(
        project.root(),
        &[
            "rtask ",
            "rtask lint t",
            "rtask -s ",
            "rtask -t ",
            "rtask --dr",
            "rtask cache p",
            "rtask lint -- ta",
        ],
    );
    assert_eq!(
        offers,
        [
            vec![
                "cache",
                "completions",
                "init",
                "lint",
                "schema",
                "tests",
                "tests(db='pg')",
                "tests(db='sqlite')"
            ],
            vec!["tests", "tests(db='pg')", "tests(db='sqlite')"],
            sessions.to_vec(),
            vec!["ci", "style", "test"],
            vec!["--dry-run"],
            vec!["prune"],
            vec!["tasks.toml"],
        ]
    );
    let empty = Project::new();
    assert_eq!(
        fish_offers(empty.root(), &["rtask -s ", "rtask "]),
        [vec![], vec!["cache", "completions", "init", "schema"]]
    );
}

/// Types each line (after the first argument, the directory holding `_rtask`) and TAB into an
/// interactive zsh on a pseudo-terminal, then prints what the terminal showed, its escape
/// sequences replaced by spaces, up to a marker echoed after each line (no sleeps: each read
/// waits for its marker).
const ZSH_DRIVE: &str = r#"
zmodload zsh/zpty
setopt extendedglob
dir=$1
shift
zpty -b z zsh -f -i
zpty -w z "PS1='> '; PROMPT_EOL_MARK=''; fpath=($dir \$fpath); autoload -U compinit; compinit -u -D; LISTMAX=1000"
zpty -w z 'echo READY-$((0+1))'
zpty -r z out $'*READY-1\r*'
n=0
for line in "$@"; do
    (( n++ ))
    zpty -w -n z "$line"$'\t'
    zpty -w -n z $'\C-e\C-u'
    zpty -w z "echo DONE-\$((0+$n))"
    out=''
    zpty -r z out "*DONE-$n"$'\r'"*"
    out=${out//$'\e'\[[0-9;?]#[A-Za-z]/ }
    out=${out//?$'\b'/}
    print -r -- "${out//$'\r'/}"
    print -r -- "=="
done
zpty -d z
"#;

#[test]
fn zsh_completes_sessions_tags_and_commands() {
    let zsh = Path::new("/usr/bin/zsh");
    assert!(
        zsh.is_file(),
        "zsh is missing: run `bash .ci/prepare` first"
    );
    let project = Project::with_tasks(TASKS);
    let script = project.rtask(&["completions", "zsh"]);
    project.write("zfunc/_rtask", &script.success().stdout);
    let bin = Path::new(RTASK).parent().unwrap().to_path_buf();
    let zfunc = project.path("zfunc");
    let lines = [
        "rtask ",
        "rtask lint t",
        "rtask -s ",
        "rtask -t ",
        "rtask cache ",
    ];
    let output = Command::new("timeout")
        .args(["120", "/usr/bin/zsh", "-f", "-c", ZSH_DRIVE, "zsh"])
        .arg(&zfunc)
        .args(lines)
        .current_dir(project.root())
        .env("PATH", tools_path(&[bin]))
        .env("ZDOTDIR", project.root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "zsh failed: {stdout}");
    let shown: Vec<Vec<&str>> = stdout
        .split("==\n")
        .map(|block| block.split_whitespace().collect())
        .collect();
    let sessions = [
        "lint",
        "tests",
        r"tests\(db=\'pg\'\)",
        r"tests\(db=\'sqlite\'\)",
    ];
    let expected: [&[&str]; 5] = [
        &[
            "cache",
            "completions",
            "init",
            "schema",
            sessions[0],
            sessions[2],
        ],
        &["rtask", "lint", "tests"],
        &sessions,
        &["ci", "style", "test"],
        &["export", "import", "prune", "stats"],
    ];
    for ((line, shown), expected) in lines.iter().zip(&shown).zip(expected) {
        for word in expected {
            assert!(
                shown.contains(word),
                "zsh did not show {word} for {line:?}:\n{stdout}"
            );
        }
    }
}

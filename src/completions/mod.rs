//! `rtask completions SHELL`: the completion scripts. clap_complete writes the static part
//! (options, the first-word commands); for bash, zsh and fish a few lines of each shell call
//! back `rtask --complete-names sessions|tags [-f PATH]` for the names in the task file.

use clap_complete::Shell;

use crate::cli::{CompleteNamesArgs, CompletionsArgs, NameKind};
use crate::environment::Environment;
use crate::error::Error;
use crate::exit::Exit;
use crate::project::Project;
use crate::taskfile;

/// Print the script for `args.shell`.
pub(crate) fn run(args: &CompletionsArgs) -> Result<Exit, Error> {
    crate::error::print_stdout(&script(args.shell))?;
    Ok(Exit::Success)
}

/// rtask's part of the bash script, after clap_complete's.
const BASH: &str = include_str!("complete.bash");

/// rtask's functions for the zsh script, before clap_complete's last lines.
const ZSH: &str = include_str!("complete.zsh");

/// Where clap_complete's zsh script ends: it calls or registers `_rtask`.
const ZSH_END: &str = "if [ \"$funcstack[1]\" = \"_rtask\" ]; then";

/// The lines of clap_complete's zsh script for the run's positionals: clap puts the commands
/// after them (third), so they go, and the first word completes sessions and commands.
const ZSH_POSITIONALS: [&str; 2] = ["'::sessions -- Sessions to run", "'::posargs -- "];

/// Where clap_complete's zsh script picks the first word's command, to complete its words.
const ZSH_COMMANDS: &str = "        case $line[1] in\n            (cache)\n";

/// Before it: a first word that is no command is a session, and so are the words after it.
const ZSH_LATER: &str = "        if [[ $line[1] != (@COMMANDS@) ]]; then\n            _rtask_later\n            return\n        fi\n";

/// rtask's part of the fish script, after clap_complete's.
const FISH: &str = include_str!("complete.fish");

/// The completion script for `shell`: clap_complete's, with rtask's part for the shell.
fn script(shell: Shell) -> Vec<u8> {
    let mut command = crate::cli::completion_command();
    let mut generated = Vec::new();
    clap_complete::generate(shell, &mut command, "rtask", &mut generated);
    let generated = String::from_utf8_lossy(&generated);
    let commands = commands(&command);
    let (words, names) = (commands.join(" "), commands.join("|"));
    let script = match shell {
        Shell::Bash => {
            let own = BASH
                .replace("@COMMANDS@", &words)
                .replace("@VALUE_OPTIONS@", &value_options(&command).join(" | "));
            format!("{generated}{own}")
        }
        // The values of `-s` and `-t`, the first word and, after a session, the words that
        // follow call rtask's functions.
        Shell::Zsh => generated
            .lines()
            .filter(|line| !ZSH_POSITIONALS.iter().any(|start| line.starts_with(start)))
            .map(|line| format!("{line}\n"))
            .collect::<String>()
            .replace(":SESSION:_default'", ":SESSION:_rtask_sessions'")
            .replace(":TAG:_default'", ":TAG:_rtask_tags'")
            .replace("\":: :_rtask_commands\"", "\":: :_rtask_first\"")
            .replace("$line[3]", "$line[1]")
            .replace(
                ZSH_COMMANDS,
                &format!("{}{ZSH_COMMANDS}", ZSH_LATER.replace("@COMMANDS@", &names)),
            )
            .replace(ZSH_END, &format!("{ZSH}{ZSH_END}")),
        Shell::Fish => format!("{generated}{}", FISH.replace("@COMMANDS@", &words)),
        _ => generated.into_owned(),
    };
    script.into_bytes()
}

/// The first-word commands: `cache`, `init`, ...
fn commands(command: &clap::Command) -> Vec<&str> {
    command
        .get_subcommands()
        .map(clap::Command::get_name)
        .collect()
}

/// The options of a run that take a value, as typed: `-f`, `--file`, ...
fn value_options(command: &clap::Command) -> Vec<String> {
    let mut options = Vec::new();
    for arg in command.get_arguments() {
        if arg.is_positional() || !arg.get_action().takes_values() {
            continue;
        }
        let shorts = arg.get_short_and_visible_aliases().unwrap_or_default();
        let longs = arg.get_long_and_visible_aliases().unwrap_or_default();
        options.extend(shorts.iter().map(|short| format!("-{short}")));
        options.extend(longs.iter().map(|long| format!("--{long}")));
    }
    options
}

/// `rtask --complete-names KIND [-f PATH]`: the names, one a line, of the task file found from
/// the current directory (or `-f`); nothing, and success, when there is none or it is invalid,
/// since a completion must never print an error into the line being typed.
pub(crate) fn names(args: &CompleteNamesArgs, environment: &Environment) -> Result<Exit, Error> {
    let project = taskfile::locate(args.file.as_deref(), &environment.current_dir)
        .and_then(|path| taskfile::load(&path, environment, None));
    let Ok(project) = project else {
        return Ok(Exit::Success);
    };
    let text: String = listed(&project, args.kind)
        .iter()
        .map(|name| format!("{name}\n"))
        .collect();
    crate::error::print_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

/// The names of `kind` in the project, in the file's order, each once: a parametrized (or
/// multi-version) session's base name before its variants' names.
fn listed(project: &Project, kind: NameKind) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for session in &project.sessions {
        let candidates = match kind {
            NameKind::Sessions => vec![session.base.as_str(), session.name.as_str()],
            NameKind::Tags => session.tags.iter().map(String::as_str).collect(),
        };
        for name in candidates {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

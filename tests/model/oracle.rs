//! The oracle: the state every input is in, read from scratch, with git listing the files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// One input as the oracle sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Input {
    File {
        content: Vec<u8>,
        executable: bool,
    },
    /// Keyed on its target and, when that is a file, its content.
    Symlink {
        target: String,
        content: Option<Vec<u8>>,
    },
}

/// Everything the session's result may depend on, read from scratch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct State {
    /// Sorted by path.
    inputs: Vec<(String, Input)>,
    mode: Option<Vec<u8>>,
}

impl State {
    /// The input files git lists below `src/`, read from the disk, and `mode`.
    pub(super) fn read(root: &Path, mode: Option<&[u8]>) -> State {
        let listed = git(root)
            .args(["ls-files", "-z", "-co", "--exclude-standard", "--", "src"])
            .output()
            .unwrap();
        assert!(listed.status.success(), "git ls-files failed: {listed:?}");
        let mut paths: Vec<String> = listed
            .stdout
            .split(|&byte| byte == 0)
            .filter(|path| !path.is_empty())
            .map(|path| String::from_utf8(path.to_vec()).unwrap())
            .collect();
        paths.sort();
        paths.dedup();
        let inputs = paths
            .into_iter()
            .map(|path| {
                let full = root.join(&path);
                let metadata = full.symlink_metadata().unwrap();
                let input = if metadata.file_type().is_symlink() {
                    let target = fs::read_link(&full).unwrap();
                    Input::Symlink {
                        target: target.to_str().unwrap().to_string(),
                        content: full
                            .metadata()
                            .is_ok_and(|resolved| resolved.is_file())
                            .then(|| fs::read(&full).unwrap()),
                    }
                } else {
                    Input::File {
                        content: fs::read(&full).unwrap(),
                        executable: metadata.permissions().mode() & 0o111 != 0,
                    }
                };
                (path, input)
            })
            .collect();
        State {
            inputs,
            mode: mode.map(<[u8]>::to_vec),
        }
    }

    /// What `build.sh` writes for this state.
    pub(super) fn output(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, input) in &self.inputs {
            match input {
                Input::File {
                    content,
                    executable,
                } => {
                    let kind = if *executable { "exec" } else { "file" };
                    out.extend_from_slice(format!("{kind} {path}\n").as_bytes());
                    out.extend_from_slice(content);
                }
                Input::Symlink { target, content } => {
                    out.extend_from_slice(format!("link {path} -> {target}\n").as_bytes());
                    out.extend_from_slice(content.as_deref().unwrap_or_default());
                }
            }
        }
        out.extend_from_slice(b"MODE ");
        out.extend_from_slice(self.mode.as_deref().unwrap_or(b"(unset)"));
        out.push(b'\n');
        out
    }

    /// The paths whose inputs differ between the two states, and `MODE` if it does.
    pub(super) fn differences(&self, other: &State) -> Vec<String> {
        let mine: BTreeMap<_, _> = self.inputs.iter().map(|(p, i)| (p, i)).collect();
        let theirs: BTreeMap<_, _> = other.inputs.iter().map(|(p, i)| (p, i)).collect();
        let mut differences: Vec<String> = mine
            .keys()
            .chain(theirs.keys())
            .filter(|path| mine.get(*path) != theirs.get(*path))
            .map(|path| (*path).clone())
            .collect();
        differences.sort();
        differences.dedup();
        if self.mode != other.mode {
            differences.push("MODE".to_string());
        }
        differences
    }

    pub(super) fn describe(&self) -> String {
        let mut text = String::new();
        for (path, input) in &self.inputs {
            let _ = match input {
                Input::File {
                    content,
                    executable,
                } => writeln!(
                    text,
                    "  {path}{} {:?}",
                    if *executable { " (+x)" } else { "" },
                    String::from_utf8_lossy(content)
                ),
                Input::Symlink { target, content } => writeln!(
                    text,
                    "  {path} -> {target} {:?}",
                    content.as_deref().map(String::from_utf8_lossy)
                ),
            };
        }
        let _ = writeln!(text, "  MODE {}", show_mode(self.mode.as_deref()));
        text
    }
}

pub(super) fn show_mode(mode: Option<&[u8]>) -> String {
    mode.map_or("unset".to_string(), |value| {
        format!("\"{}\"", value.escape_ascii())
    })
}

/// git in the project, blind to the machine's configuration.
pub(super) fn git(root: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(root);
    isolate_git(&mut command);
    command
}

pub(super) fn isolate_git(command: &mut Command) {
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
}

//! The cache key: every ingredient that can change a session's result, and its digest.
//!
//! The ingredients are a plain struct serialised canonically (fields in declaration order, maps
//! sorted) into blake3. Environment values enter only as digests, so the manifest that stores the
//! ingredients beside each entry never holds a secret. Changing this layout changes every key:
//! bump [`KEY_SCHEMA`] and the pinned digest in the tests together.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::command::{ExternalRun, OptionsKey};
use crate::digest::Digest;
use crate::environment::Environment;
use crate::fingerprint::InputFile;
use crate::project::Session;
use crate::python::PythonKey;

/// Part of every key, bumped whenever its layout changes. 5: `env_inputs` values keyed as raw
/// bytes (a value that is not UTF-8 counted as unset), where a symlinked `cwd` leads, required
/// sessions by the outputs they left as well as their keys, leftovers among their outputs, and
/// in the `python` ingredient the sources of local projects installed without `-e` and what the
/// distributions copied from local directories and archives installed. 6: the `python`
/// ingredient is what the session declares (the interpreter asked for, the install arguments,
/// the files and local sources they name), not what its environment holds.
pub const KEY_SCHEMA: u32 = 6;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingredients {
    pub schema: u32,
    pub session: String,
    /// Each command's argv after `{posargs}` expansion (`sh -c LINE` for shell commands).
    pub commands: Vec<Vec<String>>,
    /// The options of the commands written as tables (`external`, `env`, `success_codes`),
    /// by the command's index; left out when no command has any, so that the keys of task
    /// files without the table form are as they were.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub command_options: BTreeMap<usize, OptionsKey>,
    /// `fail` when programs found outside the session's virtual environment fail it
    /// (`--error-on-external-run`): a result made where they only warned must not pass for
    /// one made where they fail. Left out otherwise, and for sessions without an environment.
    #[serde(default, skip_serializing_if = "ExternalRun::is_default")]
    pub external_run: ExternalRun,
    pub shell: bool,
    pub cwd: String,
    /// Where `cwd` really is when symlinks lie along it (relative to the project when inside
    /// it, else absolute), so that retargeting one of them misses; `None` without symlinks.
    pub cwd_real: Option<String>,
    /// `[env]` and the session's `env`: name to digest of the value.
    pub env: BTreeMap<String, Digest>,
    /// `env_inputs`: name to digest of the value, `None` when unset.
    pub env_inputs: BTreeMap<String, Option<Digest>>,
    /// The output declarations, normalised.
    pub outputs: Vec<String>,
    pub success_codes: Vec<i32>,
    /// The input files, as a digest of their sorted list (the list itself is stored beside
    /// each entry, to explain misses).
    pub inputs: InputSet,
    pub requires: BTreeMap<String, Upstream>,
    /// Files the output declarations of required sessions match that none of them produced
    /// (leftovers of older runs a command may read, as `coverage combine` reads every
    /// `.coverage.*`): path to digest.
    pub strays: BTreeMap<String, Digest>,
    /// What a session with a virtual environment declares of it: the interpreter asked for,
    /// the install arguments and the content of what they name.
    pub python: Option<PythonKey>,
    pub platform: Platform,
}

/// A list of input files, summarised: how many, and a digest of their paths, content digests
/// and executable bits in path order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSet {
    pub count: usize,
    pub digest: Digest,
}

impl InputSet {
    /// `files` must be sorted by path (as the fingerprinter returns them).
    pub fn of(files: &[InputFile]) -> InputSet {
        let mut hasher = blake3::Hasher::new_derive_key("rtask 4 input files");
        for file in files {
            hasher.update(file.path.as_str().as_bytes());
            hasher.update(b"\0");
            hasher.update(file.hash.as_bytes());
            hasher.update(if file.executable { b"x\n" } else { b"-\n" });
        }
        InputSet {
            count: files.len(),
            digest: Digest::from(hasher.finalize()),
        }
    }
}

/// What a required session contributes to the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// Its key, when its result is in the cache: whatever it does that its outputs do not
    /// show (files it writes without declaring them) changes with it.
    pub key: Option<Digest>,
    /// The digests of the outputs it left (content and mode of each file, mode of each
    /// directory, target of each symlink and the content it leads to), whether it was restored
    /// or ran: two runs under one key may leave different outputs (a command that is not
    /// deterministic, `--force`, two checkouts storing one key at once), and a dependent's
    /// result follows what it read.
    pub outputs: BTreeMap<String, Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    pub fn current() -> Platform {
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// What a session resolves to before its inputs are hashed.
pub struct Resolved {
    /// Each command's argv, `{posargs}` expanded.
    pub commands: Vec<Vec<String>>,
    /// What each required session contributes.
    pub requires: BTreeMap<String, Upstream>,
    /// Leftovers among the outputs of required sessions: path to digest.
    pub strays: BTreeMap<String, Digest>,
    /// What it declares of its environment, when it has one.
    pub python: Option<PythonKey>,
    /// What becomes of programs found outside its environment.
    pub external_run: ExternalRun,
}

impl Ingredients {
    /// The ingredients of a session whose inputs have been hashed.
    pub fn assemble(
        root: &Path,
        session: &Session,
        environment: &Environment,
        resolved: Resolved,
        inputs: &[InputFile],
    ) -> Ingredients {
        let Resolved {
            commands,
            requires,
            strays,
            python,
            external_run,
        } = resolved;
        Ingredients {
            schema: KEY_SCHEMA,
            session: session.name.clone(),
            commands,
            command_options: session
                .commands
                .iter()
                .enumerate()
                .filter_map(|(index, command)| Some((index, command.options.key()?)))
                .collect(),
            external_run: match python {
                Some(_) => external_run,
                None => ExternalRun::default(),
            },
            shell: session.shell,
            cwd: session.cwd.to_string(),
            cwd_real: real_cwd(root, session.cwd.as_str()),
            env: session
                .env
                .iter()
                .map(|(name, value)| (name.clone(), Digest::of_bytes(value.as_bytes())))
                .collect(),
            env_inputs: session
                .env_inputs
                .iter()
                .map(|name| {
                    let value = environment.get_os(name);
                    (
                        name.clone(),
                        value.map(|value| Digest::of_bytes(value.as_bytes())),
                    )
                })
                .collect(),
            outputs: session
                .outputs
                .iter()
                .map(|output| output.declaration())
                .collect(),
            success_codes: session.success_codes.clone(),
            inputs: InputSet::of(inputs),
            requires,
            strays,
            python,
            platform: Platform::current(),
        }
    }

    /// The key: blake3 over a domain tag and the canonical JSON of the ingredients.
    pub fn key(&self) -> Digest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"rtask cache key\0");
        serde_json::to_writer(&mut hasher, self)
            .expect("the ingredients serialise: plain data, string keys");
        Digest::from(hasher.finalize())
    }
}

/// Where `cwd` (relative to `root`) really is, when a symlink lies along it.
fn real_cwd(root: &Path, cwd: &str) -> Option<String> {
    if cwd == "." {
        return None;
    }
    let mut prefix = root.to_path_buf();
    let linked = cwd.split('/').any(|part| {
        prefix.push(part);
        prefix
            .symlink_metadata()
            .is_ok_and(|metadata| metadata.file_type().is_symlink())
    });
    if !linked {
        return None;
    }
    let real = root.join(cwd).canonicalize();
    let real_root = root.canonicalize();
    Some(match (real, real_root) {
        (Ok(real), Ok(real_root)) => {
            // Relative when inside the project; escaped, not lossy: two places that are not
            // UTF-8 must not look alike.
            let shown = real.strip_prefix(&real_root).unwrap_or(&real);
            shown.as_os_str().as_bytes().escape_ascii().to_string()
        }
        // A dangling link: the session will fail to start there; key it apart.
        _ => format!("{cwd} (unresolved)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relpath::RelPath;

    fn sample() -> Ingredients {
        Ingredients {
            schema: KEY_SCHEMA,
            session: "unit_tests".into(),
            commands: vec![vec![
                "coverage".into(),
                "run".into(),
                "-m".into(),
                "pytest".into(),
            ]],
            command_options: BTreeMap::new(),
            external_run: ExternalRun::Warn,
            shell: false,
            cwd: ".".into(),
            cwd_real: None,
            env: BTreeMap::from([("COVERAGE_FILE".into(), Digest::of_bytes(b".coverage"))]),
            env_inputs: BTreeMap::from([("PYTEST_ADDOPTS".into(), None)]),
            outputs: vec![".coverage".into()],
            success_codes: vec![0],
            inputs: InputSet::of(&sample_inputs()),
            requires: BTreeMap::from([(
                "lint".into(),
                Upstream {
                    key: None,
                    outputs: BTreeMap::new(),
                },
            )]),
            strays: BTreeMap::new(),
            python: Some(PythonKey {
                request: "3.11".into(),
                install: vec![
                    vec!["-r".into(), "requirements.txt".into()],
                    vec![".".into()],
                ],
                venv_params: Vec::new(),
                files: BTreeMap::from([(
                    "requirements.txt".into(),
                    Some(Digest::of_bytes(b"pytest==8.3.1\n")),
                )]),
                local_sources: BTreeMap::from([(".".into(), Some(Digest::of_bytes(b"tree")))]),
            }),
            platform: Platform {
                os: "linux".into(),
                arch: "x86_64".into(),
            },
        }
    }

    /// The options of a command written as a table.
    fn options() -> OptionsKey {
        OptionsKey {
            external: true,
            env: BTreeMap::from([("X".into(), Digest::of_bytes(b"1"))]),
            success_codes: None,
        }
    }

    fn sample_inputs() -> Vec<InputFile> {
        vec![InputFile {
            path: RelPath::parse("src/a.py").unwrap(),
            hash: Digest::of_bytes(b"print(1)\n"),
            executable: false,
        }]
    }

    /// Every field of an input file changes the input set's digest.
    #[test]
    fn every_input_field_changes_the_input_set() {
        let base = InputSet::of(&sample_inputs());
        let mut changed = sample_inputs();
        changed[0].executable = true;
        assert_ne!(InputSet::of(&changed), base);
        let mut changed = sample_inputs();
        changed[0].hash = Digest::of_bytes(b"print(2)\n");
        assert_ne!(InputSet::of(&changed), base);
        let mut changed = sample_inputs();
        changed[0].path = RelPath::parse("src/b.py").unwrap();
        assert_ne!(InputSet::of(&changed), base);
        assert_ne!(InputSet::of(&[]), base);
    }

    /// Pins the key layout: if this fails, the key format changed. Bump `KEY_SCHEMA` on purpose.
    #[test]
    fn key_of_a_fixed_sample_is_pinned() {
        assert_eq!(
            sample().key().to_hex(),
            "2d5fd295c9e96e733aabf46c424dfd702fce120687e68bd03c78f048ef665d2c"
        );
    }

    #[test]
    fn every_ingredient_changes_the_key() {
        let base = sample().key();
        type Change = Box<dyn Fn(&mut Ingredients)>;
        let changes: Vec<Change> = vec![
            Box::new(|i| i.session = "other".into()),
            Box::new(|i| i.commands[0].push("-x".into())),
            Box::new(|i| i.shell = true),
            Box::new(|i| i.external_run = ExternalRun::Fail),
            Box::new(|i| {
                i.command_options.insert(0, options());
            }),
            Box::new(|i| {
                let mut options = options();
                options.external = false;
                i.command_options.insert(0, options);
            }),
            Box::new(|i| {
                let mut options = options();
                options.env.insert("X".into(), Digest::of_bytes(b"2"));
                i.command_options.insert(0, options);
            }),
            Box::new(|i| {
                let mut options = options();
                options.success_codes = Some(vec![0, 5]);
                i.command_options.insert(0, options);
            }),
            Box::new(|i| i.cwd = "src".into()),
            Box::new(|i| i.cwd_real = Some("other".into())),
            Box::new(|i| {
                i.env.insert("A".into(), Digest::of_bytes(b"1"));
            }),
            Box::new(|i| {
                i.env_inputs
                    .insert("PYTEST_ADDOPTS".into(), Some(Digest::of_bytes(b"")));
            }),
            Box::new(|i| i.outputs.push("htmlcov/".into())),
            Box::new(|i| i.success_codes.push(5)),
            Box::new(|i| i.inputs = InputSet::of(&[])),
            Box::new(|i| {
                i.requires.insert(
                    "lint".into(),
                    Upstream {
                        key: Some(Digest::of_bytes(b"k")),
                        outputs: BTreeMap::new(),
                    },
                );
            }),
            Box::new(|i| {
                i.strays
                    .insert(".coverage.old".into(), Digest::of_bytes(b"old"));
            }),
            Box::new(|i| i.platform.arch = "aarch64".into()),
            Box::new(|i| {
                if let Some(python) = &mut i.python {
                    python.request = "3.12".into();
                }
            }),
            Box::new(|i| {
                if let Some(python) = &mut i.python {
                    python.install[1] = vec!["-e".into(), ".".into()];
                }
            }),
            Box::new(|i| {
                if let Some(python) = &mut i.python {
                    python.files.insert(
                        "requirements.txt".into(),
                        Some(Digest::of_bytes(b"pytest==8.3.2\n")),
                    );
                }
            }),
            Box::new(|i| {
                if let Some(python) = &mut i.python {
                    python.files.insert("requirements.txt".into(), None);
                }
            }),
            Box::new(|i| {
                if let Some(python) = &mut i.python {
                    python
                        .local_sources
                        .insert(".".into(), Some(Digest::of_bytes(b"edited tree")));
                }
            }),
            Box::new(|i| i.python = None),
            Box::new(|i| i.schema += 1),
        ];
        for (index, change) in changes.iter().enumerate() {
            let mut ingredients = sample();
            change(&mut ingredients);
            assert_ne!(ingredients.key(), base, "change {index} kept the key");
        }
    }
}

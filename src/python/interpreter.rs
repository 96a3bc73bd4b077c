//! Finding a Python interpreter by version: on `PATH` (`python3.12`, `python3`, `python`), and
//! through uv's own discovery when uv is the backend. Every candidate is run once to learn what
//! it really is, so a pyenv shim that fails or a `python3` of another version is passed over.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::file_stat::FileStat;

/// What an interpreter says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    /// Where it lives: used to create environments, never part of a cache key.
    pub executable: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// `cpython`, `pypy`.
    pub implementation: String,
    /// `linux-x86_64`.
    pub platform: String,
}

const PROBE: &str = "import json, platform, sys, sysconfig; print(json.dumps({\
'executable': sys.executable, 'version': platform.python_version(), \
'implementation': sys.implementation.name, 'platform': sysconfig.get_platform()}))";

/// Finds interpreters, remembering each answer for the rest of the run.
pub struct Finder {
    path: Option<OsString>,
    uv: Option<PathBuf>,
    found: Mutex<HashMap<(String, bool), Option<Interpreter>>>,
    cache: Option<ProbeCache>,
}

impl Finder {
    /// `cache_file`: where answers are remembered across runs (machine-local).
    pub fn new(path: Option<OsString>, uv: Option<PathBuf>, cache_file: Option<PathBuf>) -> Finder {
        Finder {
            path,
            uv,
            found: Mutex::new(HashMap::new()),
            cache: cache_file.map(|file| ProbeCache { file }),
        }
    }

    pub fn uv(&self) -> Option<&Path> {
        self.uv.as_deref()
    }

    /// An interpreter of `version` (`3.12`, `3.11.7`, `pypy3.10`); with `use_uv`, uv's
    /// discovery is asked too.
    pub fn find(&self, version: &str, use_uv: bool) -> Option<Interpreter> {
        let key = (version.to_string(), use_uv);
        if let Some(found) = self.lock().get(&key) {
            return found.clone();
        }
        let found = self.search(version, use_uv);
        self.lock().insert(key, found.clone());
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, bool), Option<Interpreter>>> {
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn search(&self, version: &str, use_uv: bool) -> Option<Interpreter> {
        let implementation = version.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        let numbers = &version[implementation.len()..];
        let family = if implementation.is_empty() {
            "python"
        } else {
            implementation
        };
        let major = numbers.split('.').next().unwrap_or(numbers);
        let names = [
            format!("{family}{numbers}"),
            format!("{family}{major}"),
            family.to_string(),
        ];
        let cwd = Path::new("/");
        let mut candidates: Vec<PathBuf> = Vec::new();
        for name in &names {
            if let Ok(found) = which::which_in_all(name, self.path.clone(), cwd) {
                candidates.extend(found);
            }
        }
        let wanted = if implementation.is_empty() {
            "cpython"
        } else {
            implementation
        };
        let fits = |interpreter: &Interpreter| {
            interpreter.implementation == wanted && matches_version(&interpreter.version, numbers)
        };
        // uv's discovery is asked only when PATH has nothing that fits.
        let from_uv = || {
            self.uv
                .as_deref()
                .filter(|_| use_uv)
                .and_then(|uv| uv_find(uv, version))
        };
        candidates
            .iter()
            .filter_map(|candidate| self.probe_cached(candidate))
            .find(fits)
            .or_else(|| {
                from_uv()
                    .and_then(|path| self.probe_cached(&path))
                    .filter(fits)
            })
    }

    /// `probe`, remembered across runs for real executables (never for scripts such as pyenv
    /// shims, whose answer can change while the file stays the same).
    fn probe_cached(&self, executable: &Path) -> Option<Interpreter> {
        let Some(cache) = &self.cache else {
            return probe(executable);
        };
        let Some(stamp) = Stamp::of(executable) else {
            return probe(executable);
        };
        let mut known = cache.load();
        let name = executable.display().to_string();
        if let Some((seen, interpreter)) = known.get(&name)
            && *seen == stamp
        {
            return Some(interpreter.clone());
        }
        let interpreter = probe(executable)?;
        known.insert(name, (stamp, interpreter.clone()));
        cache.save(&known);
        Some(interpreter)
    }
}

/// What identifies an executable file's contents without reading it: a change of any of these
/// means it may be another interpreter now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    canonical: PathBuf,
    stat: FileStat,
}

impl Stamp {
    /// `None` for scripts (`#!`), which must be run to know what they run.
    fn of(executable: &Path) -> Option<Stamp> {
        use std::io::Read;
        let canonical = executable.canonicalize().ok()?;
        let mut magic = [0u8; 2];
        std::fs::File::open(&canonical)
            .ok()?
            .read_exact(&mut magic)
            .ok()?;
        if &magic == b"#!" {
            return None;
        }
        let stat = FileStat::of(&canonical.metadata().ok()?);
        Some(Stamp { canonical, stat })
    }
}

/// Probe answers kept in a small JSON file; unreadable or damaged means empty.
struct ProbeCache {
    file: PathBuf,
}

type Known = std::collections::BTreeMap<String, (Stamp, Interpreter)>;

impl ProbeCache {
    fn load(&self) -> Known {
        std::fs::read(&self.file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Best effort: an accelerator only, so a failed write changes nothing but speed.
    fn save(&self, known: &Known) {
        let Some(dir) = self.file.parent() else {
            return;
        };
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(temp.as_file_mut(), known)?;
            temp.persist(&self.file)
                .map(|_| ())
                .map_err(|error| error.error)
        });
        drop(written);
    }
}

/// Whether `actual` (`3.11.7`) is what `wanted` (`3.11`, `3`, `3.11.7`) asks for.
fn matches_version(actual: &str, wanted: &str) -> bool {
    let actual: Vec<&str> = actual.split('.').collect();
    wanted
        .split('.')
        .enumerate()
        .all(|(index, part)| actual.get(index) == Some(&part))
}

/// Run an interpreter to learn what it is; `None` when it does not answer as Python does.
pub fn probe(executable: &Path) -> Option<Interpreter> {
    let output = Command::new(executable)
        .args(["-I", "-c", PROBE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

fn uv_find(uv: &Path, version: &str) -> Option<PathBuf> {
    let output = Command::new(uv)
        .args(["python", "find", "--no-python-downloads", version])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| PathBuf::from(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_by_prefix_of_components() {
        assert!(matches_version("3.11.7", "3.11"));
        assert!(matches_version("3.11.7", "3"));
        assert!(matches_version("3.11.7", "3.11.7"));
        assert!(!matches_version("3.11.7", "3.1"));
        assert!(!matches_version("3.12.1", "3.11"));
    }
}

//! Finding a Python interpreter by version: on `PATH` (`python3.12`, `python3`, `python`), and
//! through uv's own discovery when uv is the backend. Every candidate is run once to learn what
//! it really is, so a pyenv shim that fails or a `python3` of another version is passed over.
//!
//! Answers are remembered per machine. A real executable's answer holds while the file is the
//! same. A pyenv shim's answer holds while everything pyenv reads to choose a version is the
//! same (its variables, `PATH`, the `.python-version` files from the current directory up, the
//! global `version` file, the installed versions, plugins and hook directories) and it led to an
//! interpreter pyenv installed (under `$PYENV_ROOT/versions/`) that is still the same file: the
//! factors pyenv documents, as pex keys its own cache of shims. Any other script, and a shim
//! that led elsewhere (pyenv's `system`), is run every time: what it runs cannot be known
//! without running it.
//!
//! The outcome of a whole search, an interpreter found or none, is remembered too, with
//! everything the search looked at ([`Places`]): `PATH`, each directory on it and each name
//! looked for there, every candidate's stamp (a pyenv shim's with the versions pyenv has),
//! and, when uv is asked, uv itself, its variables and what it reads (its managed Pythons,
//! virtual environments and configuration from the current directory up). While all of it is
//! the same, no candidate is run again: an interpreter missing on one `rtask -l` costs nothing
//! on the next, and one that appears anywhere the search looks changes a stamp and is found.
//! A search that ran a candidate whose answer cannot be remembered, or looked at something
//! changed in the last seconds (as in git's racy index, a change in the same clock tick may
//! keep the mtime), is not remembered.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::marker::{Values, Variable};
use super::uv::{BrokenUv, Uv, UvState};
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
    /// The marker variables that belong to the interpreter (`python_version`, `sys_platform`,
    /// ...); those of the machine (`platform_release`, ...) are read when markers are evaluated
    /// ([`Interpreter::marker_values`]), as they change without the executable changing.
    pub markers: Values,
    /// A free-threaded build (`python3.13t`: `Py_GIL_DISABLED`).
    pub free_threaded: bool,
}

/// The marker variables an interpreter answers; the machine's are read by [`host_values`].
const PROBE: &str = "import json, os, platform, sys, sysconfig; \
i = sys.implementation.version; \
iv = '%d.%d.%d' % tuple(i[:3]) + ('' if i[3] == 'final' else i[3][0] + str(i[4])); \
print(json.dumps({\
'executable': sys.executable, 'version': platform.python_version(), \
'implementation': sys.implementation.name, 'platform': sysconfig.get_platform(), \
'markers': {'python_version': '.'.join(platform.python_version_tuple()[:2]), \
'python_full_version': platform.python_version(), \
'implementation_name': sys.implementation.name, 'implementation_version': iv, \
'platform_python_implementation': platform.python_implementation(), \
'sys_platform': sys.platform, 'os_name': os.name}, \
'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}))";

impl Interpreter {
    /// The values of every marker variable for this interpreter on this machine.
    pub fn marker_values(&self) -> Values {
        let mut values = self.markers.clone();
        values.extend(host_values());
        values.insert(Variable::Extra, String::new());
        values
    }
}

/// The marker variables of the machine, as Python's `platform` module reads them (`uname`).
fn host_values() -> Values {
    let Ok(uname) = nix::sys::utsname::uname() else {
        return Values::new();
    };
    let text = |value: &std::ffi::OsStr| value.to_string_lossy().into_owned();
    Values::from([
        (Variable::PlatformSystem, text(uname.sysname())),
        (Variable::PlatformRelease, text(uname.release())),
        (Variable::PlatformVersion, text(uname.version())),
        (Variable::PlatformMachine, text(uname.machine())),
    ])
}

/// Where interpreters are looked for, from the process environment.
pub struct Surroundings {
    pub path: Option<OsString>,
    /// Where candidates run (and so where a pyenv shim starts looking for `.python-version`).
    pub current_dir: PathBuf,
    /// The variables a pyenv shim's choice depends on ([`Surroundings::is_shim_var`]); `None`
    /// when one is not UTF-8, and so cannot be remembered: shims are then run every time.
    pub shim_vars: Option<BTreeMap<String, String>>,
    /// The variables uv's discovery depends on ([`Surroundings::is_uv_var`]); `None` when one
    /// is not UTF-8: a search that asks uv is then not remembered.
    pub uv_vars: Option<BTreeMap<String, String>>,
}

impl Surroundings {
    /// From the process environment `vars`, run in `current_dir`.
    pub fn of(vars: &BTreeMap<OsString, OsString>, current_dir: &Path) -> Surroundings {
        let picked = |wanted: fn(&str) -> bool| {
            vars.iter()
                .filter(|(name, _)| name.to_str().is_some_and(wanted))
                .map(|(name, value)| {
                    Some((name.to_str()?.to_string(), value.to_str()?.to_string()))
                })
                .collect()
        };
        Surroundings {
            path: vars.get(std::ffi::OsStr::new("PATH")).cloned(),
            current_dir: current_dir.to_path_buf(),
            shim_vars: picked(Surroundings::is_shim_var),
            uv_vars: picked(Surroundings::is_uv_var),
        }
    }

    /// `PYENV*`, `PATH`, `VIRTUAL_ENV` (pyenv-virtualenv's hooks) and `PWD` (where pyenv starts
    /// looking for `.python-version`).
    pub fn is_shim_var(name: &str) -> bool {
        name.starts_with("PYENV") || ["PATH", "VIRTUAL_ENV", "PWD"].contains(&name)
    }

    /// `UV_*` (uv's settings, its managed Pythons' directory among them), where uv finds its
    /// data and configuration, and the environments it looks in first.
    pub fn is_uv_var(name: &str) -> bool {
        name.starts_with("UV_")
            || [
                "HOME",
                "XDG_DATA_HOME",
                "XDG_CONFIG_HOME",
                "XDG_CONFIG_DIRS",
                "VIRTUAL_ENV",
                "CONDA_PREFIX",
            ]
            .contains(&name)
    }
}

/// Finds interpreters, remembering each answer for the rest of the run.
pub struct Finder {
    surroundings: Surroundings,
    uv: Uv,
    found: Mutex<HashMap<(String, bool), Option<Interpreter>>>,
    cache: Option<ProbeCache>,
    pyenvs: Mutex<PyenvsConsulted>,
    /// Each executable's stamp, as this run found it.
    stamps: Mutex<HashMap<PathBuf, Option<Stamp>>>,
}

impl Finder {
    /// `cache_file`: where answers are remembered across runs (machine-local).
    pub fn new(
        surroundings: Surroundings,
        uv: Option<PathBuf>,
        cache_file: Option<PathBuf>,
    ) -> Finder {
        Finder {
            surroundings,
            uv: Uv::new(uv),
            found: Mutex::new(HashMap::new()),
            cache: cache_file.map(|file| ProbeCache {
                file,
                loaded: Mutex::new(None),
            }),
            pyenvs: Mutex::new(HashMap::new()),
            stamps: Mutex::new(HashMap::new()),
        }
    }

    /// The uv to use: found on `PATH`, and it runs.
    pub fn uv(&self) -> Option<&Path> {
        self.uv.working()
    }

    /// What this run found of uv.
    pub fn uv_state(&self) -> &UvState {
        self.uv.state()
    }

    /// The `uv` on `PATH` that does not run, the first time this is asked in a run only.
    pub fn broken_uv_once(&self) -> Option<&BrokenUv> {
        self.uv.broken_once()
    }

    /// A `uv` on `PATH` this run gave up on as hanging, when that was not said yet.
    pub fn timed_out_uv_unsaid(&self) -> Option<&BrokenUv> {
        self.uv.timed_out_unsaid()
    }

    /// The program `name` (`conda`) on `PATH`.
    pub fn tool(&self, name: &str) -> Option<PathBuf> {
        let path = self.surroundings.path.clone();
        which::which_in(name, path, &self.surroundings.current_dir).ok()
    }

    /// What the interpreter at `executable` (an environment's) says it is.
    pub fn probe_environment(executable: &Path) -> Option<Interpreter> {
        match probe(executable) {
            Answer::Python(interpreter) => Some(interpreter),
            Answer::NotPython | Answer::Unanswered => None,
        }
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
        let wanted = Wanted::of(version);
        let on_path = OnPath::of(self.surroundings.path.as_deref(), &wanted.names);
        let candidates = on_path.candidates.clone();
        let stamps: Vec<Option<Stamp>> = candidates
            .iter()
            .map(|candidate| self.stamp(candidate))
            .collect();
        // The first candidate that fits, when it and every one before it answered before: the
        // search would come to it again, without a look anywhere else.
        for (candidate, stamp) in candidates.iter().zip(&stamps) {
            match self.remembered(candidate, stamp.as_ref()) {
                Some(interpreter) if wanted.fits(&interpreter) => return Some(interpreter),
                Some(_) => {}
                None => break,
            }
        }
        let uv = if use_uv { self.uv() } else { None };
        let places = self
            .cache
            .as_ref()
            .and_then(|_| Places::of(self, on_path, &stamps, uv));
        let memo = format!("{version}{}", if use_uv { " uv" } else { "" });
        if let (Some(cache), Some(places)) = (&self.cache, &places)
            && let Some(found) = cache.read(|known| {
                let searched = known.searches.get(&memo)?;
                (searched.places == *places).then(|| searched.found.clone())
            })
        {
            return found.as_deref().and_then(|path| {
                let stamp = self.stamp(path);
                self.probe_cached(path, stamp)
                    .interpreter
                    .filter(|found| wanted.fits(found))
            });
        }
        let mut lasting = Lasting::WhileStamped;
        let mut found = None;
        for (candidate, stamp) in candidates.iter().zip(stamps) {
            let probed = self.probe_cached(candidate, stamp);
            lasting = lasting.and(probed.lasting);
            if let Some(interpreter) = probed.interpreter.filter(|found| wanted.fits(found)) {
                found = Some((candidate.clone(), interpreter));
                break;
            }
        }
        // uv's discovery is asked only when PATH has nothing that fits.
        if found.is_none()
            && let Some(path) = uv.and_then(|uv| uv_find(uv, &wanted.uv_request()))
        {
            let stamp = self.stamp(&path);
            let probed = self.probe_cached(&path, stamp);
            lasting = lasting.and(probed.lasting);
            found = probed
                .interpreter
                .filter(|found| wanted.fits(found))
                .map(|interpreter| (path, interpreter));
        }
        if let (Some(cache), Some(places)) = (&self.cache, places)
            && lasting == Lasting::WhileStamped
            && places.settled()
        {
            let mut known = cache.load();
            let found = found.as_ref().map(|(path, _)| path.clone());
            known.searches.insert(memo, Searched { places, found });
            cache.save(&known);
        }
        found.map(|(_, interpreter)| interpreter)
    }

    /// What an executable's answer depends on, when it can be known without running it.
    fn stamp(&self, executable: &Path) -> Option<Stamp> {
        let stamps = || {
            self.stamps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(stamp) = stamps().get(executable) {
            return stamp.clone();
        }
        let stamp = Stamp::of(executable, &self.surroundings, &self.pyenvs);
        stamps().insert(executable.to_path_buf(), stamp.clone());
        stamp
    }

    /// The interpreter `executable` was found to be, while its stamp says it still is.
    fn remembered(&self, executable: &Path, stamp: Option<&Stamp>) -> Option<Interpreter> {
        let (cache, stamp) = (self.cache.as_ref()?, stamp?);
        cache.read(|known| {
            let seen = known.probes.get(&executable.display().to_string())?;
            (seen.stamp == *stamp && seen.led_to == stamp.leads_to(&seen.interpreter))
                .then(|| seen.interpreter.clone())
        })
    }

    /// `probe`, remembered across runs for real executables and pyenv shims (see the module);
    /// `stamp` is the executable's, when it has one.
    fn probe_cached(&self, executable: &Path, stamp: Option<Stamp>) -> Probed {
        let (Some(cache), Some(stamp)) = (&self.cache, stamp) else {
            return Probed::this_run(match probe(executable) {
                Answer::Python(interpreter) => Some(interpreter),
                Answer::NotPython | Answer::Unanswered => None,
            });
        };
        if let Some(interpreter) = self.remembered(executable, Some(&stamp)) {
            return Probed::lasting(Some(interpreter));
        }
        // An executable that does not answer as Python does: what the stamp records decides
        // that (a shim that finds no interpreter of its name, a binary of something else).
        let interpreter = match probe(executable) {
            Answer::Python(interpreter) => interpreter,
            Answer::NotPython => return Probed::lasting(None),
            Answer::Unanswered => return Probed::this_run(None),
        };
        let led_to = stamp.leads_to(&interpreter);
        if matches!(stamp, Stamp::PyenvShim { .. }) && led_to.is_none() {
            return Probed::this_run(Some(interpreter));
        }
        let mut known = cache.load();
        known.probes.insert(
            executable.display().to_string(),
            Remembered {
                stamp,
                led_to,
                interpreter: interpreter.clone(),
            },
        );
        cache.save(&known);
        Probed::lasting(Some(interpreter))
    }
}

/// What a request (`3.12`, `3.13t`, `pypy3.10`, `pypy-3.11`) looks for.
struct Wanted {
    /// `cpython`, `pypy`.
    implementation: String,
    /// `3.12`.
    numbers: String,
    /// `3.13t`: a free-threaded build.
    free_threaded: bool,
    /// The executables' names, most specific first: `python3.12`, `python3`, `python`
    /// (`python3.13t`, `python3t`, `python`; `pypy3.10`, `pypy3`, `pypy`).
    names: [String; 3],
}

impl Wanted {
    fn of(version: &str) -> Wanted {
        let (family, numbers, free_threaded) =
            crate::variant::split_version(version).unwrap_or(("", version, false));
        let (implementation, family) = match family {
            "" | "python" | "cpython" => ("cpython", "python"),
            other => (other, other),
        };
        let major = numbers.split('.').next().unwrap_or(numbers);
        let t = if free_threaded { "t" } else { "" };
        Wanted {
            implementation: implementation.to_string(),
            numbers: numbers.to_string(),
            free_threaded,
            names: [
                format!("{family}{numbers}{t}"),
                format!("{family}{major}{t}"),
                family.to_string(),
            ],
        }
    }

    /// What the request asks uv for: `3.13t`, `pypy@3.10`.
    fn uv_request(&self) -> String {
        let t = if self.free_threaded { "t" } else { "" };
        match self.implementation.as_str() {
            "cpython" => format!("{}{t}", self.numbers),
            other => format!("{other}@{}", self.numbers),
        }
    }

    /// Whether the interpreter is what was asked for: its implementation, version and build,
    /// as it says itself (a `pypy3.10` that is CPython, a `python3.13t` with the GIL, are not).
    fn fits(&self, interpreter: &Interpreter) -> bool {
        interpreter.implementation == self.implementation
            && matches_version(&interpreter.version, &self.numbers)
            && interpreter.free_threaded == self.free_threaded
    }
}

/// Whether an answer can be remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lasting {
    /// It holds while the stamps it was found with are the same.
    WhileStamped,
    /// It holds for this run only: what gave it cannot be known without running it.
    ThisRunOnly,
}

impl Lasting {
    fn and(self, other: Lasting) -> Lasting {
        match (self, other) {
            (Lasting::WhileStamped, Lasting::WhileStamped) => Lasting::WhileStamped,
            _ => Lasting::ThisRunOnly,
        }
    }
}

/// One candidate's answer.
struct Probed {
    interpreter: Option<Interpreter>,
    lasting: Lasting,
}

impl Probed {
    fn lasting(interpreter: Option<Interpreter>) -> Probed {
        Probed {
            interpreter,
            lasting: Lasting::WhileStamped,
        }
    }

    fn this_run(interpreter: Option<Interpreter>) -> Probed {
        Probed {
            interpreter,
            lasting: Lasting::ThisRunOnly,
        }
    }
}

/// How long after a change what changed is trusted to show any further change in its mtime (the
/// stat cache's rule, as git's racy index).
const RACY_NS: i64 = 2_000_000_000;

/// A file or directory as it was seen (`None`: absent), following symlinks.
type Seen = (PathBuf, Option<FileStat>);

fn seen(path: PathBuf) -> Seen {
    let stat = path.metadata().ok().map(|metadata| FileStat::of(&metadata));
    (path, stat)
}

/// What a search finds on `PATH`.
struct OnPath {
    /// The executables of each name in turn, each in `PATH` order.
    candidates: Vec<PathBuf>,
    /// Each directory, and each name looked for in it.
    looked_at: Vec<Seen>,
}

impl OnPath {
    /// One look at each name in each directory of `path` (a relative one from `/`).
    fn of(path: Option<&std::ffi::OsStr>, names: &[String]) -> OnPath {
        use std::os::unix::fs::PermissionsExt;
        let mut by_name: Vec<Vec<PathBuf>> = vec![Vec::new(); names.len()];
        let mut looked_at = Vec::new();
        for dir in path.into_iter().flat_map(std::env::split_paths) {
            let dir = Path::new("/").join(dir);
            for (found, name) in by_name.iter_mut().zip(names) {
                let file = dir.join(name);
                let metadata = file.metadata().ok();
                let executable = metadata.as_ref().is_some_and(|metadata| {
                    metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
                });
                if executable {
                    found.push(file.clone());
                }
                looked_at.push((file, metadata.as_ref().map(FileStat::of)));
            }
            looked_at.push(seen(dir));
        }
        OnPath {
            candidates: by_name.concat(),
            looked_at,
        }
    }
}

/// Everything a search for an interpreter looked at: while it is all the same, the search
/// comes to the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Places {
    /// `PATH`, as given.
    path: String,
    /// Each directory on `PATH`, and each name looked for in it.
    looked_at: Vec<Seen>,
    /// Each candidate found there.
    candidates: Vec<Stamp>,
    /// What uv's discovery depends on, when uv is asked.
    uv: Option<UvPlaces>,
}

/// What `uv python find` looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UvPlaces {
    uv: Stamp,
    vars: BTreeMap<String, String>,
    looked_at: Vec<Seen>,
}

impl Places {
    /// `None` when something cannot be stamped: a `PATH` or a variable that is not UTF-8, or a
    /// candidate (or uv) that is a script other than a pyenv shim.
    fn of(
        finder: &Finder,
        on_path: OnPath,
        stamps: &[Option<Stamp>],
        uv: Option<&Path>,
    ) -> Option<Places> {
        let path = match &finder.surroundings.path {
            Some(path) => path.to_str()?.to_string(),
            None => String::new(),
        };
        let mut looked_at = on_path.looked_at;
        let candidates: Vec<Stamp> = stamps.iter().cloned().collect::<Option<_>>()?;
        // A shim runs `versions/<version>/bin/<name>` of the version pyenv chooses: one that
        // has none now may have one later, in a version that was there already.
        for stamp in &candidates {
            if let Stamp::PyenvShim { shim, root, .. } = stamp
                && let Some(name) = shim.file_name()
            {
                let versions = std::fs::read_dir(root.join("versions"))
                    .map(|entries| {
                        entries
                            .filter_map(|entry| Some(entry.ok()?.path()))
                            .collect()
                    })
                    .unwrap_or_else(|_| Vec::new());
                for version in versions {
                    looked_at.push(seen(version.join("bin")));
                    looked_at.push(seen(version.join("bin").join(name)));
                }
            }
        }
        let uv = match uv {
            Some(uv) => Some(UvPlaces::of(uv, finder)?),
            None => None,
        };
        Some(Places {
            path,
            looked_at,
            candidates,
            uv,
        })
    }

    /// Whether nothing it records changed in the last [`RACY_NS`]: a change in the same clock
    /// tick as the look may have kept the mtime, and so go unseen.
    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MAX, |since| {
                i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
            });
        let mut stats: Vec<&FileStat> = self.candidates.iter().flat_map(Stamp::stats).collect();
        let mut looked_at: Vec<&Seen> = self.looked_at.iter().collect();
        if let Some(uv) = &self.uv {
            stats.extend(uv.uv.stats());
            looked_at.extend(&uv.looked_at);
        }
        stats.extend(looked_at.into_iter().filter_map(|(_, stat)| stat.as_ref()));
        let recent = now.saturating_sub(RACY_NS);
        stats.iter().all(|stat| stat.mtime_ns < recent)
    }
}

impl UvPlaces {
    fn of(uv: &Path, finder: &Finder) -> Option<UvPlaces> {
        let surroundings = &finder.surroundings;
        let stamp = finder.stamp(uv)?;
        let vars = surroundings.uv_vars.clone()?;
        let var = |name: &str| {
            vars.get(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME");
        let data =
            var("XDG_DATA_HOME").or_else(|| home.as_ref().map(|home| home.join(".local/share")));
        let config =
            var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|home| home.join(".config")));
        let mut looked_at = Vec::new();
        // Its managed Pythons.
        let managed =
            var("UV_PYTHON_INSTALL_DIR").or_else(|| data.map(|data| data.join("uv/python")));
        looked_at.extend(managed.into_iter().map(seen));
        // Its configuration, and the environments and version files from here up.
        looked_at.extend(config.map(|config| seen(config.join("uv/uv.toml"))));
        looked_at.push(seen(PathBuf::from("/etc/uv/uv.toml")));
        for dir in surroundings.current_dir.ancestors() {
            for name in [
                ".venv",
                ".venv/bin/python",
                "uv.toml",
                "pyproject.toml",
                ".python-version",
                ".python-versions",
            ] {
                looked_at.push(seen(dir.join(name)));
            }
        }
        Some(UvPlaces {
            uv: stamp,
            vars,
            looked_at,
        })
    }
}

/// A remembered search.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Searched {
    places: Places,
    /// The interpreter it found (its own answer is remembered, or not, as any candidate's).
    found: Option<PathBuf>,
}

/// What a remembered answer depends on: a change of any of it means the candidate may run
/// another interpreter now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stamp {
    /// A real executable.
    Binary { canonical: PathBuf, stat: FileStat },
    /// A pyenv shim, and what pyenv reads to choose what it runs.
    PyenvShim {
        shim: PathBuf,
        stat: FileStat,
        root: PathBuf,
        vars: BTreeMap<String, String>,
        /// Each file and directory pyenv consults, with its stat (`None`: absent).
        consulted: Vec<(PathBuf, Option<FileStat>)>,
    },
}

impl Stamp {
    /// `None` for scripts other than pyenv shims, which must be run to know what they run.
    /// `known`: what pyenvs consult, as this run found it (the same for each of their shims).
    fn of(
        executable: &Path,
        surroundings: &Surroundings,
        known: &Mutex<PyenvsConsulted>,
    ) -> Option<Stamp> {
        use std::io::Read;
        let canonical = executable.canonicalize().ok()?;
        let mut file = std::fs::File::open(&canonical).ok()?;
        let stat = FileStat::of(&file.metadata().ok()?);
        let mut head = Vec::new();
        file.by_ref().take(4096).read_to_end(&mut head).ok()?;
        if !head.starts_with(b"#!") {
            return Some(Stamp::Binary { canonical, stat });
        }
        let (root, pyenv) = pyenv_of_shim(&String::from_utf8(head).ok()?)?;
        let vars = surroundings.shim_vars.clone()?;
        let consulted = known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((root.clone(), pyenv.clone()))
            .or_insert_with(|| consulted_by_pyenv(&root, &pyenv, &vars, surroundings))
            .clone();
        Some(Stamp::PyenvShim {
            shim: canonical,
            stat,
            root,
            vars,
            consulted,
        })
    }

    /// Every stat it records.
    fn stats(&self) -> Vec<&FileStat> {
        match self {
            Stamp::Binary { stat, .. } => vec![stat],
            Stamp::PyenvShim {
                stat, consulted, ..
            } => std::iter::once(stat)
                .chain(consulted.iter().filter_map(|(_, stat)| stat.as_ref()))
                .collect(),
        }
    }

    /// For a shim, the stamp of the interpreter it ran, which must be one pyenv installed (and
    /// stay the same file); `None` otherwise.
    fn leads_to(&self, interpreter: &Interpreter) -> Option<Box<Stamp>> {
        let Stamp::PyenvShim { root, .. } = self else {
            return None;
        };
        // As the shim reports it (`sys.executable`): `versions/3.11.7/bin/python3.11`, which may
        // be a link to where the version really lives.
        if !interpreter.executable.starts_with(root.join("versions")) {
            return None;
        }
        let canonical = interpreter.executable.canonicalize().ok()?;
        let stat = FileStat::of(&canonical.metadata().ok()?);
        Some(Box::new(Stamp::Binary { canonical, stat }))
    }
}

/// Each file and directory a pyenv at `pyenv`, keeping its versions under `root`, consults to
/// choose what a shim runs, with its stat (`None`: absent).
fn consulted_by_pyenv(
    root: &Path,
    pyenv: &Path,
    vars: &BTreeMap<String, String>,
    surroundings: &Surroundings,
) -> Vec<(PathBuf, Option<FileStat>)> {
    let root = root.to_path_buf();
    let stat_of = |path: PathBuf| {
        let stat = path.metadata().ok().map(|metadata| FileStat::of(&metadata));
        (path, stat)
    };
    let listed = |dir: PathBuf| -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|entry| Some(entry.ok()?.path()))
                    .collect()
            })
            .unwrap_or_default();
        entries.sort();
        entries
    };
    // pyenv looks for `.python-version` from PYENV_DIR up, then from the (logical) current
    // directory up.
    let current = &surroundings.current_dir;
    let mut starts: Vec<PathBuf> = ["PYENV_DIR", "PWD"]
        .iter()
        .filter_map(|name| vars.get(*name))
        .map(|dir| current.join(dir))
        .collect();
    starts.push(current.clone());
    let mut consulted: Vec<(PathBuf, Option<FileStat>)> = starts
        .iter()
        .flat_map(|start| start.ancestors())
        .map(|dir| stat_of(dir.join(".python-version")))
        .collect();
    // pyenv itself (its commands, replaced by an upgrade) and what it keeps under its root.
    let libexec = pyenv.parent().map(Path::to_path_buf);
    let install = libexec
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .filter(|install| *install != root);
    consulted.extend(libexec.into_iter().map(stat_of));
    for part in ["version", "versions", "plugins"] {
        consulted.push(stat_of(root.join(part)));
    }
    // Plugins' commands come first on pyenv's PATH; their hooks, and the others on its hook
    // path (as `libexec/pyenv` builds it), are sourced by `exec`, `which` and
    // `version-name`: each hook directory and each file in it is stamped.
    let root_plugins = listed(root.join("plugins"));
    let mut plugins = root_plugins.clone();
    if let Some(install) = &install {
        plugins.extend(listed(install.join("plugins")));
    }
    consulted.extend(plugins.iter().map(|plugin| stat_of(plugin.join("bin"))));
    let mut hooks: Vec<PathBuf> = vars
        .get("PYENV_HOOK_PATH")
        .map(|path| {
            path.split(':')
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    hooks.push(root.join("pyenv.d"));
    hooks.extend(install.map(|install| install.join("pyenv.d")));
    for dir in [
        "/usr/etc/pyenv.d",
        "/usr/local/etc/pyenv.d",
        "/etc/pyenv.d",
        "/usr/lib/pyenv/hooks",
    ] {
        hooks.push(PathBuf::from(dir));
    }
    hooks.extend(root_plugins.iter().map(|plugin| plugin.join("etc/pyenv.d")));
    for dir in hooks {
        for command in ["exec", "which", "version-name"] {
            let dir = dir.join(command);
            consulted.extend(listed(dir.clone()).into_iter().map(stat_of));
            consulted.push(stat_of(dir));
        }
    }
    consulted
}

/// The `PYENV_ROOT` a pyenv shim exports and the pyenv it runs, if the script is one: pyenv
/// writes every shim as `export PYENV_ROOT="…"` followed by
/// `exec "…/libexec/pyenv" exec "$program" "$@"`.
fn pyenv_of_shim(script: &str) -> Option<(PathBuf, PathBuf)> {
    let literal = |text: &str| {
        (!text.is_empty() && !text.contains(['"', '$', '`', '\\'])).then(|| PathBuf::from(text))
    };
    let pyenv = script.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("exec \"")?;
        let (pyenv, rest) = rest.split_once('"')?;
        if !rest.trim_start().starts_with("exec \"$program\"") {
            return None;
        }
        literal(pyenv)
    })?;
    let root = script.lines().find_map(|line| {
        literal(
            line.trim()
                .strip_prefix("export PYENV_ROOT=\"")?
                .strip_suffix('"')?,
        )
    })?;
    Some((root, pyenv))
}

/// What each pyenv (its root and its `libexec/pyenv`) consults, found once per run.
type PyenvsConsulted = HashMap<(PathBuf, PathBuf), Vec<(PathBuf, Option<FileStat>)>>;

/// A remembered answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    stamp: Stamp,
    /// For a shim: the executable it ran, as it was then.
    led_to: Option<Box<Stamp>>,
    interpreter: Interpreter,
}

/// Probe answers kept in a small JSON file; unreadable or damaged means empty.
struct ProbeCache {
    file: PathBuf,
    /// The file as this run read it, and then wrote it.
    loaded: Mutex<Option<Known>>,
}

/// What the file holds: each executable's answer, by path, and each search's outcome, by
/// request (`3.12`, `3.12 uv` when uv is asked).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Known {
    #[serde(default)]
    probes: BTreeMap<String, Remembered>,
    #[serde(default)]
    searches: BTreeMap<String, Searched>,
}

impl ProbeCache {
    /// What the file holds, read once per run.
    fn load(&self) -> Known {
        self.read(Known::clone)
    }

    /// `look` at what the file holds, read once per run.
    fn read<R>(&self, look: impl FnOnce(&Known) -> R) -> R {
        look(self.loaded().get_or_insert_with(|| {
            std::fs::read(&self.file)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default()
        }))
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Option<Known>> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Best effort: an accelerator only, so a failed write changes nothing but speed.
    fn save(&self, known: &Known) {
        *self.loaded() = Some(known.clone());
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

/// What running a candidate said.
enum Answer {
    Python(Interpreter),
    /// It ran, and does not answer as Python does.
    NotPython,
    /// It could not be run to the end (it could not start, or a signal ended it): that says
    /// nothing of what it is, and is never remembered.
    Unanswered,
}

/// Run an interpreter to learn what it is.
fn probe(executable: &Path) -> Answer {
    let Ok(output) = Command::new(executable)
        .args(["-I", "-c", PROBE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Answer::Unanswered;
    };
    if output.status.code().is_none() {
        return Answer::Unanswered;
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(interpreter) if output.status.success() => Answer::Python(interpreter),
        _ => Answer::NotPython,
    }
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
    fn pyenv_shims_are_recognised_by_their_shape() {
        let shim = "#!/usr/bin/env bash\nset -e\n[ -n \"$PYENV_DEBUG\" ] && set -x\n\n\
                    program=\"${0##*/}\"\n\nexport PYENV_ROOT=\"/root/.pyenv\"\n\
                    exec \"/root/.pyenv/libexec/pyenv\" exec \"$program\" \"$@\"\n";
        assert_eq!(
            pyenv_of_shim(shim),
            Some((
                PathBuf::from("/root/.pyenv"),
                PathBuf::from("/root/.pyenv/libexec/pyenv")
            ))
        );
        let other = "#!/bin/sh\nexport PYENV_ROOT=\"/root/.pyenv\"\nexec /usr/bin/python3 \"$@\"\n";
        assert_eq!(pyenv_of_shim(other), None);
        let computed = shim.replace("\"/root/.pyenv\"", "\"$HOME/.pyenv\"");
        assert_eq!(pyenv_of_shim(&computed), None);
    }

    /// Records written before the probe answered the marker variables are not read: the
    /// interpreters they name are probed again, never answered without their markers.
    #[test]
    fn records_without_marker_variables_are_probed_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("interpreters.json");
        let old = r#"{"probes": {"/usr/bin/python3.11": {"stamp": {"binary": {"canonical": "/usr/bin/python3.11", "stat": {"size": 2, "mtime_ns": 1, "ctime_ns": 1, "inode": 3, "device": 4, "mode": 33261}}}, "led_to": null, "interpreter": {"executable": "/usr/bin/python3.11", "version": "3.11.7", "implementation": "cpython", "platform": "linux-x86_64"}}}, "searches": {}}"#;
        let read = |text: &str| {
            std::fs::write(&file, text).unwrap();
            let cache = ProbeCache {
                file: file.clone(),
                loaded: Mutex::new(None),
            };
            cache.load().probes.len()
        };
        assert_eq!(read(old), 0);
        let new = old.replace(
            r#""platform": "linux-x86_64""#,
            r#""platform": "linux-x86_64", "markers": {"python_version": "3.11"}, "free_threaded": false"#,
        );
        assert_eq!(read(&new), 1);
    }

    #[test]
    fn versions_match_by_prefix_of_components() {
        assert!(matches_version("3.11.7", "3.11"));
        assert!(matches_version("3.11.7", "3"));
        assert!(matches_version("3.11.7", "3.11.7"));
        assert!(!matches_version("3.11.7", "3.1"));
        assert!(!matches_version("3.12.1", "3.11"));
    }
}

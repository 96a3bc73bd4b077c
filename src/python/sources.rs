//! The sources of local projects and archives an environment copies, digested: the files git
//! keeps, and the files it ignores below the project's package directories, which the build
//! may pack all the same.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::fingerprint::{Fingerprinter, InputFile, symlink_digest};
use crate::key::InputSet;
use crate::patterns::{InputPatterns, OutputPattern};
use crate::protected::STATE_DIR;
use crate::relpath::RelPath;

/// The sources of a local project or archive, digested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// The files git would keep, less what building writes; an archive's contents.
    pub tracked: Digest,
    /// The files git ignores below the project's package directories (a generated
    /// `_version.py`), less bytecode and build metadata: the build may pack them.
    pub ignored: Digest,
    /// The top-level packages the environment got from the project: only the package
    /// directories with one of these names in their path count for [`Sources::ignored`]
    /// (a `tests/` package is not packed). `None` before the environment was made from it:
    /// every package directory counts.
    pub packages: Option<BTreeSet<String>>,
}

impl Sources {
    fn archive(contents: Digest) -> Sources {
        Sources {
            tracked: contents,
            ignored: ignored_digest(&BTreeMap::new()),
            packages: None,
        }
    }
}

/// What building or testing a project writes at the top of its own directory, never part of
/// its sources.
const BUILT_AT_TOP: &[&str] = &["build", "dist", ".eggs", ".tox", ".nox", ".venv", ".rtask"];
/// What running a project's tests writes at the top of its directory, which a project may not
/// have git ignore (uv's `.gitignore` does not) and no build packs; and rtask's own task file,
/// which no build packs either (a comment in it must not remake environments).
const TESTED_AT_TOP: &[&str] = &[
    "tasks.toml",
    ".coverage",
    ".coverage.*",
    "coverage.xml",
    "coverage.json",
    "coverage.lcov",
    "htmlcov/**",
    ".pytest_cache/**",
    "junit*.xml",
];
/// What building or running a project writes anywhere below its directory.
const BUILT_ANYWHERE: &[&str] = &["**/*.egg-info/**", "**/__pycache__/**", "**/*.pyc"];
/// Directories below a package directory whose ignored files are never packed: bytecode,
/// version control, rtask's state, the caches of test and lint tools, and JavaScript
/// packages.
const NEVER_PACKED: &[&str] = &[
    "__pycache__",
    ".git",
    STATE_DIR,
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
];

/// What the sessions declare as their `outputs`: results, not sources. They are left out of a
/// project's sources but where a build may pack them: below its package directories, and
/// Python modules (`py-modules`).
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Relative to the project root.
    outputs: Vec<OutputPattern>,
}

impl Results {
    pub fn of<'a>(outputs: impl IntoIterator<Item = &'a OutputPattern>) -> Results {
        Results {
            outputs: outputs.into_iter().cloned().collect(),
        }
    }

    /// Whether `path`, relative to the project root, is a declared output or lies in one.
    fn hold(&self, path: &RelPath) -> bool {
        self.outputs.iter().any(|output| match output {
            OutputPattern::Literal { path: output, .. } => path.starts_with(output),
            OutputPattern::Glob { matcher, .. } => {
                let mut place = path.as_str();
                loop {
                    if matcher.is_match(place) {
                        return true;
                    }
                    match place.rsplit_once('/') {
                        Some((parent, _)) => place = parent,
                        None => return false,
                    }
                }
            }
        })
    }
}

/// Reads the sources of the local projects and archives an environment holds.
pub struct SourceReader<'a> {
    root: &'a Path,
    fingerprinter: &'a Fingerprinter,
    /// Every local project the environment holds: what building one writes is left out where
    /// it lies below another (a subproject's `build/` is not the sources of a project holding
    /// it).
    projects: Vec<PathBuf>,
    /// The top-level packages the environment got from each project, by its real path.
    installed: BTreeMap<PathBuf, BTreeSet<String>>,
    /// What the sessions write.
    results: &'a Results,
}

impl<'a> SourceReader<'a> {
    /// `fingerprinter` finds the files of projects below `root` (its stat cache spares
    /// rereading them).
    pub fn new(
        root: &'a Path,
        fingerprinter: &'a Fingerprinter,
        projects: Vec<PathBuf>,
        results: &'a Results,
    ) -> SourceReader<'a> {
        SourceReader {
            root,
            fingerprinter,
            projects,
            installed: BTreeMap::new(),
            results,
        }
    }

    /// Read only the package directories of the top-level packages the environment got from
    /// each of these projects.
    pub fn installed(mut self, packages: BTreeMap<PathBuf, BTreeSet<String>>) -> Self {
        self.installed = packages
            .into_iter()
            .map(|(path, names)| (path.canonicalize().unwrap_or(path), names))
            .collect();
        self
    }

    /// The sources of the project directory or archive at `path`; `None` when it is missing.
    pub fn read(&self, path: &Path) -> Result<Option<Sources>, String> {
        let unreadable = |error: String| {
            format!(
                "cannot read the local project `{}`: {error}",
                display(self.root, path)
            )
        };
        match fs::metadata(path) {
            Err(_) => Ok(None),
            Ok(metadata) if metadata.is_dir() => self.directory(path).map(Some).map_err(unreadable),
            Ok(_) => Digest::of_file(path)
                .map(|contents| Some(Sources::archive(contents)))
                .map_err(|error| unreadable(error.to_string())),
        }
    }

    /// The sources of a project directory. Below the project root the shared fingerprinter
    /// walks it; elsewhere (`../lib`) one of its own, without a stat cache.
    fn directory(&self, dir: &Path) -> Result<Sources, String> {
        let dir = dir.canonicalize().map_err(|error| error.to_string())?;
        let packages = self.installed.get(&dir).cloned();
        let canonical_root = self
            .root
            .canonicalize()
            .map_err(|error| error.to_string())?;
        let (base, top, own) = match RelPath::from_path(&canonical_root, &dir) {
            Some(top) => (canonical_root.clone(), top, None),
            None => {
                // A directory holding the project root (`..`) holds rtask's own directory too,
                // and what the project's walks skip (the environments' directory).
                let mut skipped = vec![dir.join(STATE_DIR), canonical_root.join(STATE_DIR)];
                skipped.extend(self.fingerprinter.skipped().iter().cloned());
                let own = Fingerprinter::new(&dir, skipped, None);
                (dir, RelPath::root(), Some(own))
            }
        };
        let relative = |path: &Path| {
            let path = path.canonicalize().ok()?;
            RelPath::from_path(&base, &path).filter(|path| path.starts_with(&top))
        };
        let tops: Vec<RelPath> = self
            .projects
            .iter()
            .filter_map(|project| relative(project))
            .collect();
        let patterns = InputPatterns {
            literals: vec![top.clone()],
            glob_bases: Vec::new(),
            glob_entries: Vec::new(),
            globs: GlobSet::empty(),
            excludes: built(&tops),
        };
        let tracked = own
            .as_ref()
            .unwrap_or(self.fingerprinter)
            .inputs(&patterns)
            .map_err(|error| error.to_string())?;
        let packed = package_dirs(&base, &top, &tracked, packages.as_ref());
        let mut packable_dirs = package_dirs(&base, &top, &tracked, None);
        packable_dirs.extend(packed.iter().cloned());
        let root_in_base = RelPath::from_path(&base, &canonical_root);
        let result = |path: &RelPath| {
            let below_root = match &root_in_base {
                Some(root) if root.is_root() => Some(path.clone()),
                Some(root) => path
                    .as_str()
                    .strip_prefix(root.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .and_then(|rest| RelPath::parse(rest).ok()),
                None => None,
            };
            let packable = path.as_str().ends_with(".py")
                || packable_dirs.iter().any(|dir| path.starts_with(dir));
            !packable && below_root.is_some_and(|path| self.results.hold(&path))
        };
        let tracked: Vec<InputFile> = tracked
            .into_iter()
            .filter(|file| !result(&file.path))
            .collect();
        let ignored = IgnoredWalk {
            base: &base,
            tracked: tracked.iter().map(|file| file.path.as_str()).collect(),
            excludes: &patterns,
        };
        let mut found = BTreeMap::new();
        for package in packed {
            ignored.walk(&package, &mut found)?;
        }
        Ok(Sources {
            tracked: InputSet::of(&tracked).digest,
            ignored: ignored_digest(&found),
            packages,
        })
    }
}

/// The package directories of the project at `top`, outermost only: those holding an
/// `__init__.py` git keeps, and `src/` at its top; with `packages`, only those with one of
/// these names in their path below `top`, and the directories of these names at its top and in
/// `src/` (namespace packages, without `__init__.py`). The top itself is not one, so what tools
/// write there (`.coverage`, `htmlcov/`, logs) does not count.
fn package_dirs(
    base: &Path,
    top: &RelPath,
    tracked: &[InputFile],
    packages: Option<&BTreeSet<String>>,
) -> Vec<RelPath> {
    let mut dirs: Vec<RelPath> = tracked
        .iter()
        .filter_map(|file| {
            let path = file.path.as_str();
            let dir = match path.rsplit_once('/') {
                Some((dir, "__init__.py")) => RelPath::parse(dir).ok()?,
                None if path == "__init__.py" => RelPath::root(),
                _ => return None,
            };
            (dir != *top).then_some(dir)
        })
        .collect();
    let src = top.join("src");
    if src.to_path(base).is_dir() {
        dirs.push(src);
    }
    if let Some(packages) = packages {
        let below_top = |dir: &RelPath| {
            if top.is_root() {
                dir.as_str().to_string()
            } else {
                dir.as_str()[top.as_str().len()..].to_string()
            }
        };
        dirs.retain(|dir| {
            below_top(dir)
                .split('/')
                .any(|part| packages.contains(part))
        });
        for name in packages {
            for dir in [top.join(name), top.join("src").join(name)] {
                if dir.to_path(base).is_dir() {
                    dirs.push(dir);
                }
            }
        }
    }
    dirs.sort();
    let mut outermost: Vec<RelPath> = Vec::new();
    for dir in dirs {
        if !outermost.iter().any(|kept| dir.starts_with(kept)) {
            outermost.push(dir);
        }
    }
    outermost
}

/// Finds the files git ignores below package directories.
struct IgnoredWalk<'a> {
    base: &'a Path,
    /// The files git keeps, counted already.
    tracked: HashSet<&'a str>,
    /// What building writes.
    excludes: &'a InputPatterns,
}

impl IgnoredWalk<'_> {
    /// Add the ignored files below `dir` to `found`, by path, with their digests.
    fn walk(&self, dir: &RelPath, found: &mut BTreeMap<String, Digest>) -> Result<(), String> {
        let full = dir.to_path(self.base);
        let failed = |error: io::Error| format!("cannot list `{}`: {error}", full.display());
        let entries = match fs::read_dir(&full) {
            Ok(entries) => entries,
            // Gone since it was listed.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(failed(error)),
        };
        for entry in entries {
            let entry = entry.map_err(failed)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(format!(
                    "`{}` is not a valid UTF-8 path: rtask keys sources by their paths",
                    entry.path().display()
                ));
            };
            let path = dir.join(name);
            if self.excludes.excluded(path.as_str()) {
                continue;
            }
            let kind = entry.file_type().map_err(failed)?;
            if kind.is_dir() {
                let environment = entry.path().join("pyvenv.cfg").exists();
                if !(NEVER_PACKED.contains(&name) || name.ends_with(".egg-info") || environment) {
                    self.walk(&path, found)?;
                }
                continue;
            }
            if name.ends_with(".pyc") || self.tracked.contains(path.as_str()) {
                continue;
            }
            let digest = if kind.is_symlink() {
                fs::read_link(entry.path()).map(|target| symlink_digest(&target))
            } else {
                Digest::of_file(&entry.path())
            };
            match digest {
                Ok(digest) => {
                    found.insert(path.as_str().to_string(), digest);
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(format!("cannot read `{}`: {error}", entry.path().display()));
                }
            }
        }
        Ok(())
    }
}

fn ignored_digest(found: &BTreeMap<String, Digest>) -> Digest {
    let mut hasher = blake3::Hasher::new_derive_key("rtask 1 ignored package files");
    for (path, digest) in found {
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(digest.as_bytes());
    }
    Digest::from(hasher.finalize())
}

/// What building the projects in `tops` writes there, as globs relative to the
/// fingerprinter's root.
fn built(tops: &[RelPath]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for top in tops {
        let prefix = if top.is_root() {
            String::new()
        } else {
            format!("{}/", globset::escape(top.as_str()))
        };
        let at_top = BUILT_AT_TOP.iter().map(|name| format!("{prefix}{name}/**"));
        let prefixed = |pattern: &&str| format!("{prefix}{pattern}");
        let tested = TESTED_AT_TOP.iter().map(prefixed);
        let anywhere = BUILT_ANYWHERE.iter().map(prefixed);
        for pattern in at_top.chain(tested).chain(anywhere) {
            set.add(
                GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .build()
                    .expect("fixed globs below an escaped prefix are valid"),
            );
        }
    }
    set.build()
        .expect("a few dozen small globs fit in a glob set")
}

/// `path` relative to the project root when it lies below it, else as it is.
pub fn display(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(relative) if relative.as_os_str().is_empty() => ".".to_string(),
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// The names of the projects whose sources differ between `before` and `after`.
    fn changed(
        before: &BTreeMap<String, Option<Sources>>,
        after: &BTreeMap<String, Option<Sources>>,
    ) -> Vec<String> {
        after
            .iter()
            .filter(|(name, sources)| before.get(*name) != Some(sources))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A project's sources are the files git would keep, less what building writes: making the
    /// environment must not change what it was made from. Projects below the root and outside
    /// it are read alike.
    #[test]
    fn sources_leave_out_ignored_files_and_what_building_writes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        let projects = ["project", "project/pkg", "outside"];
        for project in projects {
            write(
                dir.path(),
                &format!("{project}/pyproject.toml"),
                "[project]\n",
            );
            write(
                dir.path(),
                &format!("{project}/src/pkg/__init__.py"),
                "VALUE = 1\n",
            );
            write(dir.path(), &format!("{project}/.gitignore"), "*.log\n");
        }
        let paths: Vec<PathBuf> = projects.iter().map(|p| dir.path().join(p)).collect();
        let fingerprinter = Fingerprinter::new(&root, vec![root.join(".rtask")], None);
        let results = Results::default();
        let reader = SourceReader::new(&root, &fingerprinter, paths.clone(), &results);
        let digests = || {
            fingerprinter.invalidate();
            projects
                .iter()
                .zip(&paths)
                .map(|(name, path)| (name.to_string(), reader.read(path).unwrap()))
                .collect::<BTreeMap<_, _>>()
        };
        let start = digests();
        assert!(start.values().all(Option::is_some));
        for project in projects {
            for built in [
                "build/lib/pkg/__init__.py",
                "dist/pkg-1.0.tar.gz",
                "src/pkg.egg-info/PKG-INFO",
                "src/pkg/__pycache__/__init__.cpython-311.pyc",
                "src/pkg/stray.pyc",
                ".eggs/x",
                ".tox/log",
                ".nox/x",
                ".venv/bin/python",
                ".rtask/venvs/x",
                "run.log",
            ] {
                write(dir.path(), &format!("{project}/{built}"), "built");
            }
        }
        let after = digests();
        assert!(
            changed(&start, &after).is_empty(),
            "nothing built counts: {:?}",
            changed(&start, &after)
        );
        write(dir.path(), "project/src/pkg/__init__.py", "VALUE = 2\n");
        let (before, after) = (after, digests());
        assert_eq!(changed(&before, &after), ["project"]);
        write(dir.path(), "project/pkg/src/pkg/build/__init__.py", "");
        let (before, after) = (after, digests());
        assert_eq!(
            changed(&before, &after),
            ["project", "project/pkg"],
            "a subproject is part of the root's sources"
        );
        write(dir.path(), "outside/src/pkg/__init__.py", "VALUE = 2\n");
        let (before, after) = (after, digests());
        assert_eq!(changed(&before, &after), ["outside"]);
    }

    /// Files git ignores count below package directories (`src/`, and directories holding an
    /// `__init__.py` git keeps), where the build may pack them; not elsewhere, and not what
    /// tools write: bytecode, caches, a virtual environment, what runs leave at the top.
    #[test]
    fn ignored_files_count_below_package_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "pyproject.toml", "[project]\n");
        write(
            root,
            ".gitignore",
            "_version.py\n*.json\n*.log\n.coverage\ncoverage.xml\nhtmlcov/\nnotes/\nsrc/env/\n",
        );
        write(root, "src/pkg/__init__.py", "");
        write(root, "flat/__init__.py", "");
        write(root, "notes/todo.txt", "");
        let fingerprinter = Fingerprinter::new(root, vec![root.join(".rtask")], None);
        let results = Results::default();
        let reader = SourceReader::new(root, &fingerprinter, vec![root.to_path_buf()], &results);
        let sources = || {
            fingerprinter.invalidate();
            reader.read(root).unwrap().unwrap()
        };
        let start = sources();
        // As pytest and mypy do, their caches ignore themselves.
        for cache in [
            ".pytest_cache",
            "src/pkg/.pytest_cache",
            "src/pkg/.mypy_cache",
        ] {
            write(root, &format!("{cache}/.gitignore"), "*\n");
        }
        for written in [
            ".coverage",
            "coverage.xml",
            "htmlcov/index.html",
            ".pytest_cache/v/cache/lastfailed",
            "pytest.log",
            "notes/todo.txt",
            "src/pkg/.pytest_cache/v/x",
            "src/pkg/.mypy_cache/x.json",
            "src/pkg/__pycache__/x.cpython-311.pyc",
            "src/env/pyvenv.cfg",
            "src/env/lib/site-packages/x/__init__.py",
            "src/pkg.egg-info/PKG-INFO",
        ] {
            write(root, written, "written by a run");
        }
        assert_eq!(sources(), start, "what tools write does not count");
        for (packed, text) in [
            ("src/pkg/_version.py", "VERSION = '1.0'\n"),
            ("src/pkg/_version.py", "VERSION = '1.1'\n"),
            ("src/top.log", "a file below `src/`"),
            ("flat/data/table.json", "{}"),
        ] {
            let before = sources();
            write(root, packed, text);
            let after = sources();
            assert_eq!(after.tracked, before.tracked, "`{packed}` is ignored");
            assert_ne!(after.ignored, before.ignored, "`{packed}` counts");
        }
    }

    /// Once the environment is made, only the package directories of the top-level packages it
    /// got from the project count: not a `tests/` package the build leaves out.
    #[test]
    fn only_installed_packages_count_once_known() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "pyproject.toml", "[project]\n");
        write(root, ".gitignore", "*.out\n");
        write(root, "src/pkg/__init__.py", "");
        write(root, "src/ns/sub/__init__.py", "");
        write(root, "tests/__init__.py", "");
        let fingerprinter = Fingerprinter::new(root, vec![root.join(".rtask")], None);
        let results = Results::default();
        let installed = BTreeMap::from([(
            root.to_path_buf(),
            BTreeSet::from(["pkg".to_string(), "ns".to_string()]),
        )]);
        let all = SourceReader::new(root, &fingerprinter, vec![root.to_path_buf()], &results);
        let known = SourceReader::new(root, &fingerprinter, vec![root.to_path_buf()], &results)
            .installed(installed);
        let read = |reader: &SourceReader<'_>| {
            fingerprinter.invalidate();
            reader.read(root).unwrap().unwrap()
        };
        assert_eq!(read(&all).packages, None);
        let packages = read(&known).packages.unwrap();
        assert_eq!(packages.into_iter().collect::<Vec<_>>(), ["ns", "pkg"]);
        for (written, counts) in [
            ("tests/run.out", false),
            ("src/other.out", false),
            ("src/pkg/data.out", true),
            ("src/ns/sub/data.out", true),
        ] {
            let (before, before_all) = (read(&known), read(&all));
            write(root, written, "written");
            let (after, after_all) = (read(&known), read(&all));
            assert_ne!(
                after_all.ignored, before_all.ignored,
                "`{written}`, all count"
            );
            assert_eq!(after.ignored != before.ignored, counts, "`{written}`");
        }
    }

    /// The sessions' declared outputs are results, not sources, where no build packs them:
    /// not below a package directory, and not Python modules. What tests write at the top
    /// (`.coverage.*`, `junit.xml`) is never a source.
    #[test]
    fn declared_outputs_are_not_sources_where_no_build_packs_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "pyproject.toml", "[project]\n");
        write(root, "src/pkg/__init__.py", "");
        let outputs = ["report.txt", "out/", "*.json", "src/pkg/*.json", "gen.py"];
        let outputs: Vec<OutputPattern> = outputs
            .iter()
            .map(|pattern| OutputPattern::compile(pattern).unwrap())
            .collect();
        let results = Results::of(&outputs);
        let fingerprinter = Fingerprinter::new(root, vec![root.join(".rtask")], None);
        let reader = SourceReader::new(root, &fingerprinter, vec![root.to_path_buf()], &results);
        let sources = || {
            fingerprinter.invalidate();
            reader.read(root).unwrap().unwrap()
        };
        for (written, counts) in [
            ("report.txt", false),
            ("out/a/b.txt", false),
            ("data.json", false),
            (".coverage.host.1.2", false),
            ("junit-py311.xml", false),
            ("src/pkg/table.json", true),
            ("gen.py", true),
            ("notes.txt", true),
        ] {
            let before = sources();
            write(root, written, "written by a run");
            assert_eq!(sources() != before, counts, "`{written}`");
        }
    }

    /// Once known, the packages the environment got name their directories even without an
    /// `__init__.py` (namespace packages): the files git ignores there count.
    #[test]
    fn installed_namespace_packages_are_package_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "pyproject.toml", "[project]\n");
        write(root, ".gitignore", "_gen.py\n");
        write(root, "pkg/api.py", "");
        write(root, "pkg/_gen.py", "V = 1\n");
        let fingerprinter = Fingerprinter::new(root, vec![root.join(".rtask")], None);
        let results = Results::default();
        let installed = BTreeMap::from([(root.to_path_buf(), BTreeSet::from(["pkg".to_string()]))]);
        let reader = SourceReader::new(root, &fingerprinter, vec![root.to_path_buf()], &results)
            .installed(installed);
        let before = reader.read(root).unwrap().unwrap();
        write(root, "pkg/_gen.py", "V = 2\n");
        fingerprinter.invalidate();
        let after = reader.read(root).unwrap().unwrap();
        assert_eq!(after.tracked, before.tracked);
        assert_ne!(after.ignored, before.ignored);
    }
}

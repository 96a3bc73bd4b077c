//! What an environment's `install` arguments read from disk, read as pip and uv read them:
//! requirement-format files (and those they include), the `pyproject.toml` of dependency
//! groups, local projects, editable or copied into the environment, and the local
//! dependencies their `pyproject.toml` files declare; and their digests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::sources::{SourceReader, Sources, display};
use crate::digest::Digest;

/// How a local project is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// `-e PATH`: the environment imports the project's live sources.
    Editable,
    /// Built and copied into the environment: a snapshot of its sources.
    Copied,
}

/// The paths `install` refers to, absolute and normalised.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Requirement, constraint, override and build-constraint files, the files they include,
    /// and the `pyproject.toml` of dependency groups: their contents matter.
    files: BTreeSet<PathBuf>,
    /// Local projects and archives, and how each is installed (copied, if it is both).
    locals: BTreeMap<PathBuf, Mode>,
    /// The first file or project named through an environment variable (`${VAR}`), as
    /// written: pip and uv expand it, so what it names cannot be known, nor keyed.
    variable: Option<String>,
}

/// What the environment is made from on disk, digested; paths relative to the project root
/// when they are below it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Watched {
    /// The [`References::files`], and the metadata files of editable projects (`None`:
    /// missing).
    pub files: BTreeMap<String, Option<Digest>>,
    /// Local projects installed without `-e`, and local archives: their sources (`None`:
    /// missing).
    pub sources: BTreeMap<String, Option<Sources>>,
}

/// The files an editable project's build reads to make its metadata.
const METADATA: &[&str] = &["pyproject.toml", "setup.cfg", "setup.py"];

/// File names pip installs as archives even without a `/` in them.
const ARCHIVES: &[&str] = &[
    ".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar",
];

/// What an option's value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// A file in the requirements format: `-r`, `-c`, and uv's overrides, excludes and build
    /// constraints.
    RequirementFile,
    /// A project to install editable.
    Editable,
    /// `[PATH:]NAME` of a dependency group (`PATH` defaults to `pyproject.toml`).
    Group,
    /// Neither a requirement nor a file whose content matters: an index, a directory of
    /// wheels, a target, an interpreter.
    Other,
}

/// pip's and uv's options that take a value, long forms then short letters.
const LONG: &[(&str, Value)] = &[
    ("--requirement", Value::RequirementFile),
    ("--requirements", Value::RequirementFile),
    ("--constraint", Value::RequirementFile),
    ("--constraints", Value::RequirementFile),
    ("--override", Value::RequirementFile),
    ("--overrides", Value::RequirementFile),
    ("--excludes", Value::RequirementFile),
    ("--build-constraint", Value::RequirementFile),
    ("--build-constraints", Value::RequirementFile),
    ("--editable", Value::Editable),
    ("--group", Value::Group),
    ("--find-links", Value::Other),
    ("--index-url", Value::Other),
    ("--extra-index-url", Value::Other),
    ("--index", Value::Other),
    ("--default-index", Value::Other),
    ("--trusted-host", Value::Other),
    ("--python", Value::Other),
    ("--target", Value::Other),
    ("--prefix", Value::Other),
    ("--root", Value::Other),
    ("--src", Value::Other),
    ("--cache-dir", Value::Other),
    ("--log", Value::Other),
    ("--report", Value::Other),
    ("--cert", Value::Other),
    ("--client-cert", Value::Other),
    ("--config-settings", Value::Other),
    ("--config-setting", Value::Other),
    ("--config-file", Value::Other),
];
const SHORT: &[(char, Value)] = &[
    ('r', Value::RequirementFile),
    ('c', Value::RequirementFile),
    ('b', Value::RequirementFile),
    ('e', Value::Editable),
    ('f', Value::Other),
    ('i', Value::Other),
    ('p', Value::Other),
    ('t', Value::Other),
    ('C', Value::Other),
];

/// What one argument (or option and value) of an install command refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference<'a> {
    RequirementFile(&'a str),
    Group(&'a str),
    Local(&'a str, Mode),
}

impl References {
    /// What `install` refers to. Its entries are read as the one command they become, so an
    /// option in one entry may take its value from the next. Files included with `-r`/`-c` are
    /// relative to the including file, local projects named in them to the project root (the
    /// install command's directory), as pip and uv read them.
    pub fn of(root: &Path, install: &[Vec<String>]) -> References {
        let words: Vec<&str> = install.iter().flatten().map(String::as_str).collect();
        // uv's `--no-editable` copies editable projects too.
        let no_editable = words.contains(&"--no-editable");
        let mut references = References::default();
        let mut pending = Vec::new();
        let mut add = |base: &Path, found: Vec<Reference<'_>>, pending: &mut Vec<PathBuf>| {
            for reference in found {
                let written = match reference {
                    Reference::RequirementFile(text) | Reference::Group(text) => text,
                    Reference::Local(text, _) => text,
                };
                if written.contains("${") && references.variable.is_none() {
                    references.variable = Some(written.to_string());
                }
                match reference {
                    Reference::RequirementFile(file) => pending.push(normalise(&base.join(file))),
                    Reference::Group(group) => {
                        let file = group
                            .rsplit_once(':')
                            .map_or("pyproject.toml", |(file, _)| file);
                        references.files.insert(normalise(&root.join(file)));
                    }
                    Reference::Local(path, mode) => {
                        let mode = if no_editable { Mode::Copied } else { mode };
                        let entry = references.locals.entry(normalise(&root.join(path)));
                        let known = entry.or_insert(mode);
                        *known = (*known).max(mode);
                    }
                }
            }
        };
        add(root, read(words), &mut pending);
        let mut read_files = BTreeSet::new();
        while let Some(file) = pending.pop() {
            if !read_files.insert(file.clone()) {
                continue;
            }
            if !in_requirements_format(&file) {
                continue;
            }
            let base = file.parent().unwrap_or(root).to_path_buf();
            for line in lines(&fs::read_to_string(&file).unwrap_or_default()) {
                add(&base, read(line.split_whitespace()), &mut pending);
            }
        }
        references.files.extend(read_files);
        references
    }

    /// Digest what is referred to: files whole, local projects and archives copied into the
    /// environment by `reader`, the metadata files of editable projects.
    pub fn watched(&self, root: &Path, reader: &SourceReader<'_>) -> Result<Watched, String> {
        // pip and uv expand `${VAR}` in requirement files: what such a path names depends on
        // the environment, which the key cannot follow.
        if let Some(written) = &self.variable {
            return Err(format!(
                "`{written}` is named through an environment variable, which pip and uv expand but rtask cannot key; write the path without `${{...}}`"
            ));
        }
        let mut watched = Watched {
            files: self
                .files
                .iter()
                .map(|file| (display(root, file), Digest::of_file(file).ok()))
                .collect(),
            sources: BTreeMap::new(),
        };
        for (path, mode) in &self.locals {
            if *mode == Mode::Editable && path.is_dir() {
                for name in METADATA {
                    let file = path.join(name);
                    watched
                        .files
                        .insert(display(root, &file), Digest::of_file(&file).ok());
                }
            } else {
                watched
                    .sources
                    .insert(display(root, path), reader.read(path)?);
            }
        }
        Ok(watched)
    }

    /// The distribution names (normalised) that `install` and the requirement files it reads
    /// ask for by name: `pytest` of `pytest>=8`, `setuptools` of `setuptools==70.0`.
    pub fn named(&self, install: &[Vec<String>]) -> BTreeSet<String> {
        let from_files = self
            .files
            .iter()
            .filter(|file| in_requirements_format(file))
            .flat_map(|file| lines(&fs::read_to_string(file).unwrap_or_default()));
        let words: Vec<String> = install
            .iter()
            .flatten()
            .cloned()
            .chain(from_files.flat_map(|line| {
                line.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            }))
            .collect();
        words
            .iter()
            .filter(|word| !word.starts_with('-') && !word.contains('/'))
            .filter_map(|word| {
                let end = word
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
                    .unwrap_or(word.len());
                let name = &word[..end];
                (!name.is_empty()).then(|| name.to_lowercase().replace(['_', '.'], "-"))
            })
            .collect()
    }

    /// The local projects and archives, editable or not.
    pub fn locals(&self) -> impl Iterator<Item = &Path> {
        self.locals.keys().map(PathBuf::as_path)
    }

    /// The distributions the local projects' `pyproject.toml` files take from local
    /// directories or archives, and those these take in turn, by path with their names:
    /// `NAME @ file:…` among `[project]` `dependencies` and `optional-dependencies`, and
    /// `[tool.uv.sources]` entries with a `path`.
    pub fn declared_local_dependencies(&self) -> BTreeMap<PathBuf, String> {
        let mut found = BTreeMap::new();
        let mut pending: Vec<PathBuf> = self.locals.keys().cloned().collect();
        let mut seen = BTreeSet::new();
        while let Some(dir) = pending.pop() {
            if !seen.insert(dir.clone()) {
                continue;
            }
            let Ok(text) = fs::read_to_string(dir.join("pyproject.toml")) else {
                continue;
            };
            for (name, path) in local_dependencies(&text) {
                let path = normalise(&dir.join(path));
                found.insert(path.clone(), name);
                pending.push(path);
            }
        }
        found
    }
}

/// The dependencies a `pyproject.toml` takes from local paths: name, and path as written.
fn local_dependencies(text: &str) -> Vec<(String, String)> {
    let Ok(document) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let project = document.get("project");
    let optional = project
        .and_then(|project| project.get("optional-dependencies"))
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|table| table.values());
    let requirements = project
        .and_then(|project| project.get("dependencies"))
        .into_iter()
        .chain(optional)
        .filter_map(toml::Value::as_array)
        .flatten()
        .filter_map(toml::Value::as_str);
    let mut found: Vec<(String, String)> = requirements
        .filter_map(|requirement| {
            let (name, _) = requirement.split_once('@')?;
            let name = without_extras(name.trim());
            let path = local(requirement).filter(|_| is_name(name))?;
            Some((name.to_string(), path.to_string()))
        })
        .collect();
    let sources = document
        .get("tool")
        .and_then(|tool| tool.get("uv"))
        .and_then(|uv| uv.get("sources"))
        .and_then(toml::Value::as_table);
    for (name, source) in sources.into_iter().flatten() {
        let alternatives = match source {
            toml::Value::Array(alternatives) => alternatives.iter().collect(),
            single => vec![single],
        };
        for alternative in alternatives {
            if let Some(path) = alternative.get("path").and_then(toml::Value::as_str) {
                found.push((name.clone(), path.to_string()));
            }
        }
    }
    found
}

/// What the words of one install command, or of one line of a requirements file, refer to.
fn read<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<Reference<'a>> {
    let mut words = words.into_iter();
    let mut found = Vec::new();
    while let Some(word) = words.next() {
        let Some((value, attached)) = option(word) else {
            if !word.starts_with('-') {
                found.extend(local(word).map(|path| Reference::Local(path, Mode::Copied)));
            }
            continue;
        };
        let Some(argument) = attached.or_else(|| words.next()) else {
            break;
        };
        match value {
            Value::RequirementFile => found.push(Reference::RequirementFile(argument)),
            Value::Editable => {
                found.extend(editable(argument).map(|path| Reference::Local(path, Mode::Editable)));
            }
            Value::Group => found.push(Reference::Group(argument)),
            Value::Other => {}
        }
    }
    found
}

/// The option a word is, if it takes a value, and the value when attached: `--requirement=F`,
/// `-rF`, `-r=F` (uv), or after short flags, as in `-Ur F` or `-qrF`.
fn option(word: &str) -> Option<(Value, Option<&str>)> {
    if let Some(long) = word.strip_prefix("--") {
        let (name, attached) = match long.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (long, None),
        };
        return LONG
            .iter()
            .find(|(option, _)| option.strip_prefix("--") == Some(name))
            .map(|(_, value)| (*value, attached.filter(|value| !value.is_empty())));
    }
    let letters = word.strip_prefix('-')?;
    for (index, letter) in letters.char_indices() {
        if let Some((_, value)) = SHORT.iter().find(|(short, _)| *short == letter) {
            let rest = &letters[index + letter.len_utf8()..];
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            return Some((*value, (!rest.is_empty()).then_some(rest)));
        }
        if !letter.is_ascii_alphabetic() {
            return None;
        }
    }
    None
}

/// The local path a requirement names, if it names one, as pip tells paths from names: it
/// starts with `.` or `/`, holds a `/`, or is an archive's file name; or it is a `file:` URL,
/// alone or after `NAME @`. Extras and URL fragments are removed: `./pkg[test]` is `./pkg`.
fn local(requirement: &str) -> Option<&str> {
    let target = match requirement.split_once('@') {
        Some((name, url)) if is_name(name.trim()) => url.trim(),
        _ => requirement,
    };
    if let Some(url) = target.strip_prefix("file:") {
        let path = url.strip_prefix("//").unwrap_or(url);
        let path = path.split(['#', ';']).next().unwrap_or(path).trim();
        return Some(without_extras(path)).filter(|path| !path.is_empty());
    }
    let path = without_extras(target);
    let looks_like_path = !path.contains("://")
        && (path.starts_with('.')
            || path.starts_with('/')
            || path.contains('/')
            || ARCHIVES.iter().any(|suffix| path.ends_with(suffix)));
    looks_like_path.then_some(path)
}

/// The path an editable install names: any target but a URL (`git+https://…`).
fn editable(target: &str) -> Option<&str> {
    if target.starts_with("file:") {
        return local(target);
    }
    (!target.contains("://")).then(|| without_extras(target))
}

/// Whether `text` is a distribution name, extras allowed: what may stand before `@` in
/// `NAME @ URL`.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.[], ".contains(c))
}

/// A local project's path without its extras: `./pkg[test]` is `./pkg`.
fn without_extras(target: &str) -> &str {
    match target.rfind('[') {
        Some(start) if target.ends_with(']') => &target[..start],
        _ => target,
    }
}

/// Whether uv reads `file` as a requirements file, not as a project's metadata
/// (`-r pyproject.toml`, `-r setup.py`, `-r pylock.toml`).
fn in_requirements_format(file: &Path) -> bool {
    let name = file
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("");
    !(name.ends_with(".toml") || name == "setup.py" || name == "setup.cfg")
}

/// The logical lines of a requirements file: continued lines joined, comments removed.
fn lines(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", "");
    joined
        .lines()
        .map(|line| {
            let comment = line
                .char_indices()
                .find(|&(index, c)| {
                    c == '#' && (index == 0 || line[..index].ends_with(char::is_whitespace))
                })
                .map_or(line.len(), |(index, _)| index);
            line[..comment].to_string()
        })
        .collect()
}

/// `path` with `.` and `..` resolved as written, as pip resolves them.
fn normalise(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names asked for in `install` and in the requirement files it reads, normalised.
    #[test]
    fn named_distributions_come_from_arguments_and_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("req.txt"),
            "Setuptools>=70 # build\n-e ./pkg\n",
        )
        .unwrap();
        let install = vec![
            vec!["-r".to_string(), "req.txt".to_string()],
            vec!["pytest[testing]==9.2".to_string(), "./local".to_string()],
        ];
        let named = References::of(dir.path(), &install).named(&install);
        assert!(named.contains("setuptools") && named.contains("pytest"));
        assert!(!named.contains("pip") && !named.contains("wheel"));
    }
    use crate::fingerprint::Fingerprinter;
    use crate::python::sources::Results;

    fn words(text: &str) -> Vec<Vec<String>> {
        vec![text.split_whitespace().map(String::from).collect()]
    }

    #[test]
    fn requirement_files_and_projects_are_fingerprinted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("requirements-test.txt"), "-r base.txt\npytest\n").unwrap();
        fs::write(root.join("base.txt"), "attrs\n").unwrap();
        fs::write(root.join("pyproject.toml"), "[project]\n").unwrap();
        let install = vec![
            vec!["-r".to_string(), "requirements-test.txt".to_string()],
            vec!["-e".to_string(), ".".to_string()],
            vec!["--constraint=missing.txt".to_string()],
            vec!["--editable=./pkg[test]".to_string()],
        ];
        let fingerprinter = Fingerprinter::new(root, Vec::new(), None);
        let references = References::of(root, &install);
        let results = Results::default();
        let reader = SourceReader::new(root, &fingerprinter, Vec::new(), &results);
        let watched = references.watched(root, &reader).unwrap();
        let names: Vec<&str> = watched.files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "base.txt",
                "missing.txt",
                "pyproject.toml",
                "requirements-test.txt",
                "setup.cfg",
                "setup.py"
            ]
        );
        assert!(watched.files["base.txt"].is_some());
        assert!(watched.files["missing.txt"].is_none());
        assert_eq!(
            watched.sources.keys().collect::<Vec<_>>(),
            ["pkg"],
            "a missing project counts as such"
        );
        assert_eq!(watched.sources["pkg"], None);
    }

    /// The local dependencies of local projects are read from their `pyproject.toml` files,
    /// and from those of the dependencies in turn; paths are relative to the declaring project.
    #[test]
    fn local_dependencies_declared_in_pyproject_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        let deppkg = dir.path().join("deppkg");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&deppkg).unwrap();
        fs::write(
            root.join("pyproject.toml"),
            format!(
                r#"
[project]
dependencies = ["deppkg @ file://{}", "requests>=2", "remote @ https://example.com/r.whl"]

[project.optional-dependencies]
test = ["tools[x] @ file:../tools ; python_version > '3'"]

[tool.uv.sources]
lib = {{ path = "libs/lib" }}
either = [{{ path = "libs/a", marker = "sys_platform == 'linux'" }}, {{ index = "x" }}]
other = {{ git = "https://example.com/other.git" }}
"#,
                deppkg.display()
            ),
        )
        .unwrap();
        fs::write(
            deppkg.join("pyproject.toml"),
            "[project]\ndependencies = [\"inner @ file:inner\"]\n",
        )
        .unwrap();
        let found = References::of(&root, &words(".")).declared_local_dependencies();
        let expected: BTreeMap<PathBuf, String> = [
            (dir.path().join("deppkg"), "deppkg"),
            (dir.path().join("deppkg/inner"), "inner"),
            (dir.path().join("tools"), "tools"),
            (root.join("libs/a"), "either"),
            (root.join("libs/lib"), "lib"),
        ]
        .into_iter()
        .map(|(path, name)| (path, name.to_string()))
        .collect();
        assert_eq!(found, expected);
    }

    /// The forms pip and uv accept for one option are read alike.
    #[test]
    fn attached_editable_group_and_requirement_forms_are_read() {
        use Mode::{Copied, Editable};
        use Reference::{Group, Local, RequirementFile};
        let cases: &[(&str, &[Reference<'_>])] = &[
            ("-e .", &[Local(".", Editable)]),
            ("-e.", &[Local(".", Editable)]),
            ("-e.[test]", &[Local(".", Editable)]),
            ("-e./pkg", &[Local("./pkg", Editable)]),
            ("--editable=./pkg[a,b]", &[Local("./pkg", Editable)]),
            ("--editable pkg", &[Local("pkg", Editable)]),
            ("-e git+https://example.com/x.git#egg=x", &[]),
            (
                ". ./pkg[test] src/lib",
                &[
                    Local(".", Copied),
                    Local("./pkg", Copied),
                    Local("src/lib", Copied),
                ],
            ),
            (
                "pytest>=8 pkg-1.0.tar.gz",
                &[Local("pkg-1.0.tar.gz", Copied)],
            ),
            ("pkg @ file:///abs/pkg", &[Local("/abs/pkg", Copied)]),
            ("pkg@file:../pkg#egg=pkg", &[Local("../pkg", Copied)]),
            ("pkg @ https://example.com/pkg.whl", &[]),
            ("-r a.txt -ra.txt -r=a.txt", &[RequirementFile("a.txt"); 3]),
            (
                "--requirement a.txt --requirement=a.txt",
                &[RequirementFile("a.txt"); 2],
            ),
            (
                "--requirements=a.txt -c a.txt --constraints=a.txt",
                &[RequirementFile("a.txt"); 3],
            ),
            ("-Ur a.txt -qra.txt", &[RequirementFile("a.txt"); 2]),
            (
                "--overrides o.txt -b b.txt",
                &[RequirementFile("o.txt"), RequirementFile("b.txt")],
            ),
            (
                "--group test --group=sub/pyproject.toml:docs",
                &[Group("test"), Group("sub/pyproject.toml:docs")],
            ),
            (
                "--find-links ./wheels -f ./wheels --python ./py -i https://x/simple",
                &[],
            ),
            ("--no-deps -U .", &[Local(".", Copied)]),
        ];
        for (text, expected) in cases {
            assert_eq!(read(text.split_whitespace()), *expected, "{text}");
        }
    }

    /// Requirement files name files relative to themselves and projects relative to the
    /// directory pip runs in; comments are not read.
    #[test]
    fn requirement_files_are_read_as_pip_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("reqs")).unwrap();
        fs::write(
            root.join("reqs/top.txt"),
            "-rnested.txt  # and ./not-a-project\n--constraint=c.txt\n-e ./lib\n./app[x] \\\n  ; python_version > '3'\n",
        )
        .unwrap();
        fs::write(root.join("reqs/nested.txt"), "-r top.txt\n.\n").unwrap();
        fs::write(root.join("pyproject.toml"), "readme = \"docs/README.md\"\n").unwrap();
        let found = References::of(
            root,
            &words("-r reqs/top.txt -e ./app --group dev -r pyproject.toml"),
        );
        let files: Vec<PathBuf> = [
            "pyproject.toml",
            "reqs/c.txt",
            "reqs/nested.txt",
            "reqs/top.txt",
        ]
        .iter()
        .map(|file| root.join(file))
        .collect();
        assert_eq!(found.files.iter().cloned().collect::<Vec<_>>(), files);
        assert_eq!(
            found.locals,
            BTreeMap::from([
                (root.to_path_buf(), Mode::Copied),
                (root.join("app"), Mode::Copied),
                (root.join("lib"), Mode::Editable),
            ]),
            "installed both ways, `./app` is copied"
        );
        let no_editable = References::of(root, &words("--no-editable -e ./lib"));
        assert_eq!(no_editable.locals[&root.join("lib")], Mode::Copied);
    }
}

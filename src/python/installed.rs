//! What a made environment got from local directories and archives, as the `direct_url.json`
//! and `RECORD` files of its distributions tell (PEP 610, PEP 376).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::venv::dist_infos;
use crate::digest::Digest;

/// A distribution found in an environment, copied there from a local directory or archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalInstall {
    pub name: String,
    pub path: PathBuf,
    /// The top-level packages it installed (`mypkg` for `mypkg/__init__.py`), from its
    /// `RECORD`.
    pub packages: BTreeSet<String>,
    /// What it installed: a digest of the files its `RECORD` lists with their hashes.
    pub files: Digest,
}

/// `direct_url.json`, as pip and uv write it in a `*.dist-info` directory (PEP 610).
#[derive(Deserialize)]
struct DirectUrl {
    url: String,
    dir_info: Option<DirInfo>,
    archive_info: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct DirInfo {
    #[serde(default)]
    editable: bool,
}

/// The distributions in an environment copied from a local directory or archive, as their
/// `direct_url.json` says: not those installed editable, which run their live sources.
pub fn local_installs(dir: &Path) -> Vec<LocalInstall> {
    dist_infos(dir)
        .into_iter()
        .filter_map(|(info, name, _)| {
            let text = fs::read(info.join("direct_url.json")).ok()?;
            let direct: DirectUrl = serde_json::from_slice(&text).ok()?;
            let copied = match &direct.dir_info {
                Some(dir) => !dir.editable,
                None => direct.archive_info.is_some(),
            };
            let path = file_url_path(&direct.url).filter(|_| copied)?;
            let record = fs::read_to_string(info.join("RECORD")).unwrap_or_default();
            Some(LocalInstall {
                name,
                path,
                packages: top_level_packages(&record),
                files: installed_files(&record),
            })
        })
        .collect()
}

/// A digest of the files a `RECORD` file lists, each with its hash: what a distribution
/// installed. Bytecode is left out (a `.pyc` holds its source's time, which a rebuild of the
/// same code changes), and so is its own metadata but `METADATA`, as installers write
/// `INSTALLER`, `REQUESTED` and the like as they please.
fn installed_files(record: &str) -> Digest {
    let mut lines: Vec<&str> = record
        .lines()
        .filter(|line| {
            let Some(path) = record_path(line) else {
                return false;
            };
            let bytecode = path.contains("__pycache__/") || path.ends_with(".pyc");
            let metadata = path
                .split_once(".dist-info/")
                .is_some_and(|(_, file)| file != "METADATA");
            !(bytecode || metadata)
        })
        .collect();
    lines.sort_unstable();
    Digest::of_bytes(lines.join("\n").as_bytes())
}

/// The top-level directories a `RECORD` file lists files in, but its own metadata and what is
/// installed outside `site-packages`.
fn top_level_packages(record: &str) -> BTreeSet<String> {
    record
        .lines()
        .filter_map(|line| {
            let (top, _) = record_path(line)?.split_once('/')?;
            let metadata = top.ends_with(".dist-info") || top.ends_with(".data");
            (!(metadata || top == ".." || top == "__pycache__")).then(|| top.to_string())
        })
        .collect()
}

/// The path a line of a `RECORD` file names. A path holding a comma is quoted, as CSV quotes
/// it.
fn record_path(line: &str) -> Option<&str> {
    match line.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => line.split(',').next(),
    }
}

/// The path of a `file:` URL (`file:///a%20b/pkg`, `file://localhost/pkg`), percent-decoded.
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file://")?;
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let mut bytes = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = tail
            .get(..2)
            .filter(|hex| byte == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            None => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    Some(PathBuf::from(OsString::from_vec(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `direct_url.json` says was copied from a local directory or archive; not what is
    /// installed editable, from an index, a remote URL or a repository.
    #[test]
    fn local_installs_come_from_direct_url_files() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("lib/python3.11/site-packages");
        let cases = [
            ("a", r#"{"url": "file:///tmp/a%20b/a", "dir_info": {}}"#),
            (
                "b",
                r#"{"url": "file:///src/b", "dir_info": {"editable": true}}"#,
            ),
            (
                "c",
                r#"{"url": "file:///w/c-1.0.tar.gz", "archive_info": {"hashes": {}}}"#,
            ),
            (
                "d",
                r#"{"url": "https://example.com/d.whl", "archive_info": {}}"#,
            ),
            (
                "e",
                r#"{"url": "git+file:///repo", "vcs_info": {"vcs": "git", "commit_id": "abc"}}"#,
            ),
            (
                "f_g",
                r#"{"url": "file://localhost/f%2Bg", "dir_info": {"editable": false}}"#,
            ),
            ("h", r#"{"url": "file:///h%zz", "dir_info": {}}"#),
        ];
        for (name, direct_url) in cases {
            let info = site.join(format!("{name}-1.0.dist-info"));
            fs::create_dir_all(&info).unwrap();
            fs::write(info.join("direct_url.json"), direct_url).unwrap();
            let record = format!(
                "{name}/__init__.py,sha256=x,1\n{name}/sub/m.py,sha256=x,1\n\
                 \"{name}_extra/a,b.py\",sha256=x,1\n{name}_module.py,sha256=x,1\n\
                 {name}-1.0.dist-info/RECORD,,\n{name}-1.0.data/scripts/x,sha256=x,1\n\
                 ../../../bin/{name},sha256=x,1\n"
            );
            fs::write(info.join("RECORD"), record).unwrap();
        }
        fs::create_dir_all(site.join("pytest-9.2.0.dist-info")).unwrap();
        let found = local_installs(dir.path());
        for install in &found {
            let name = &install.name;
            let packages = BTreeSet::from([name.clone(), format!("{name}_extra")]);
            assert_eq!(install.packages, packages, "the packages of `{name}`");
        }
        let mut found: Vec<(String, String)> = found
            .into_iter()
            .map(|install| (install.name, install.path.display().to_string()))
            .collect();
        found.sort();
        let expected = [
            ("a", "/tmp/a b/a"),
            ("c", "/w/c-1.0.tar.gz"),
            ("f_g", "/f+g"),
            ("h", "/h%zz"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, path)| (name.to_string(), path.to_string()))
            .collect();
        assert_eq!(found, expected);
    }

    /// What a distribution installed is digested from its `RECORD`, less bytecode and the
    /// metadata installers write as they please.
    #[test]
    fn installed_files_leave_out_bytecode_and_installer_metadata() {
        let record = "pkg/__init__.py,sha256=a,1\npkg/_gen.py,sha256=b,1\n\
                      pkg/__pycache__/_gen.cpython-311.pyc,sha256=c,1\n\
                      pkg-1.0.dist-info/METADATA,sha256=d,1\npkg-1.0.dist-info/RECORD,,\n";
        let base = installed_files(record);
        let reinstalled = record.replace("sha256=c", "sha256=c2").replace(
            "RECORD,,",
            "RECORD,,\npkg-1.0.dist-info/INSTALLER,sha256=e,1",
        );
        assert_eq!(installed_files(&reinstalled), base);
        assert_ne!(
            installed_files(&record.replace("sha256=b", "sha256=b2")),
            base
        );
        assert_ne!(
            installed_files(&record.replace("sha256=d", "sha256=d2")),
            base
        );
    }
}

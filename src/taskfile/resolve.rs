//! Paths as the file system will take them: `.` and `..` removed, and the symlinks of the part
//! that exists at load time followed. Cheap enough for every load: no directory is listed.

use std::path::{Path, PathBuf};

use crate::patterns::OutputPattern;
pub(super) use crate::protected::normalise;
use crate::relpath::RelPath;

/// `path` with its longest existing leading part resolved (symlinks followed), and the rest
/// normalised.
pub(super) fn resolve(path: &Path) -> PathBuf {
    path.ancestors()
        .find_map(|existing| {
            let real = existing.canonicalize().ok()?;
            let rest = path
                .strip_prefix(existing)
                .expect("an ancestor of a path is a prefix of it");
            Some(normalise(&real.join(rest)))
        })
        .unwrap_or_else(|| normalise(path))
}

/// An output whose leading directories lead somewhere else through a symlink.
pub(super) struct Aliased {
    /// The output where the symlink takes it.
    pub real: OutputPattern,
    /// The first symlink on the way, relative to the root.
    pub link: RelPath,
}

/// Where `output` really lies, when a symlink in its leading directories moves it elsewhere in
/// the project.
pub(super) fn aliased(root: &Path, output: &OutputPattern) -> Option<Aliased> {
    let leading = output.leading_dirs()?;
    let real = RelPath::from_path(root, &resolve(&leading.to_path(root)))?;
    if real == leading {
        return None;
    }
    Some(Aliased {
        real: output.moved_to(&real)?,
        link: first_symlink(root, &leading)?,
    })
}

/// The shortest leading part of `path` that is a symlink.
fn first_symlink(root: &Path, path: &RelPath) -> Option<RelPath> {
    let mut prefix = RelPath::root();
    for part in path.as_str().split('/') {
        prefix = prefix.join(part);
        let is_link = prefix
            .to_path(root)
            .symlink_metadata()
            .is_ok_and(|metadata| metadata.file_type().is_symlink());
        if is_link {
            return Some(prefix);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_drops_dots_and_parents() {
        assert_eq!(normalise(Path::new("/a/./b/../c/")), Path::new("/a/c"));
        assert_eq!(normalise(Path::new("/a/../../b")), Path::new("/b"));
        assert_eq!(normalise(Path::new("a/../../b")), Path::new("../b"));
    }

    #[test]
    fn resolving_follows_links_of_the_existing_part() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        assert_eq!(
            resolve(&root.join("link/sub/new/x")),
            root.join("real/sub/new/x")
        );
        assert_eq!(resolve(&root.join("link/sub/../y")), root.join("real/y"));
        assert_eq!(resolve(&root.join("none/../z")), root.join("z"));

        let output = OutputPattern::compile("link/sub/*.txt").unwrap();
        let aliased = aliased(&root, &output).unwrap();
        assert_eq!(aliased.real.declaration(), "real/sub/*.txt");
        assert_eq!(aliased.link.as_str(), "link");
        assert!(aliased_none(&root, "real/sub/x"));
        assert!(aliased_none(&root, "x"));
    }

    fn aliased_none(root: &Path, output: &str) -> bool {
        aliased(root, &OutputPattern::compile(output).unwrap()).is_none()
    }
}

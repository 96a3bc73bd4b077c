//! Paths as the file system will take them: `.` and `..` removed, and the symlinks of the part
//! that exists at load time followed. Cheap enough for every load: no directory is listed.

use std::path::{Path, PathBuf};

use crate::patterns::{InputPatterns, InputPlace, OutputPattern};
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

/// Where outputs really lie, when symlinks in their leading directories move them elsewhere in
/// the project: each directory resolved once (most outputs of a project share a few).
pub(super) struct Aliases<'a> {
    root: &'a Path,
    /// Leading directories to where they really are and the first symlink on the way, when
    /// symlinks move them elsewhere in the project.
    moved: std::collections::HashMap<RelPath, Option<(RelPath, RelPath)>>,
}

impl Aliases<'_> {
    pub(super) fn new(root: &Path) -> Aliases<'_> {
        Aliases {
            root,
            moved: std::collections::HashMap::new(),
        }
    }

    /// Where `output` really lies, when a symlink in its leading directories moves it
    /// elsewhere in the project.
    pub(super) fn of(&mut self, output: &OutputPattern) -> Option<Aliased> {
        let leading = output.leading_dirs()?;
        let root = self.root;
        let (real, link) = self
            .moved
            .entry(leading)
            .or_insert_with_key(|leading| {
                let real = RelPath::from_path(root, &resolve(&leading.to_path(root)))?;
                if real == *leading {
                    return None;
                }
                Some((real, first_symlink(root, leading)?))
            })
            .as_ref()?;
        Some(Aliased {
            real: output.moved_to(real)?,
            link: link.clone(),
        })
    }
}

/// Where an input is read once symlinks are followed, as the input walk follows them (a
/// literal path and a glob's base are followed to the end).
pub(super) struct RealInput<'a> {
    pub place: InputPlace<'a>,
    /// The first symlink on the way, when one moved the input elsewhere in the project.
    pub link: Option<RelPath>,
}

/// Where each of `inputs` is read, with symlinks followed; inputs that symlinks lead out of the
/// project stay as written.
pub(super) fn real_inputs<'a>(root: &Path, inputs: &'a InputPatterns) -> Vec<RealInput<'a>> {
    inputs
        .places()
        .map(|place| {
            let real = RelPath::from_path(root, &resolve(&place.path.to_path(root)))
                .filter(|real| *real != place.path);
            match real {
                Some(real) => RealInput {
                    link: first_symlink(root, &place.path),
                    place: InputPlace {
                        path: real,
                        ..place
                    },
                },
                None => RealInput { place, link: None },
            }
        })
        .collect()
}

/// Where a directory output declared with `/` leads, when the declared path is itself a
/// symlink to a directory.
pub(super) enum LinkedDir {
    /// A directory of the project, never its root.
    Inside(RelPath),
    Outside(PathBuf),
}

/// Whether `output` is a directory declared with `/` whose path is itself a symlink to a
/// directory, and where it leads.
pub(super) fn linked_dir(root: &Path, output: &OutputPattern) -> Option<LinkedDir> {
    let OutputPattern::Literal { path, dir: true } = output else {
        return None;
    };
    let full = path.to_path(root);
    let is_link = full
        .symlink_metadata()
        .is_ok_and(|metadata| metadata.file_type().is_symlink());
    if !is_link || !full.is_dir() {
        return None;
    }
    let real = full.canonicalize().ok()?;
    Some(match RelPath::from_path(root, &real) {
        Some(inside) if !inside.is_root() => LinkedDir::Inside(inside),
        _ => LinkedDir::Outside(real),
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
        let moved = Aliases::new(&root).of(&output).unwrap();
        assert_eq!(moved.real.declaration(), "real/sub/*.txt");
        assert_eq!(moved.link.as_str(), "link");
        assert!(aliased_none(&root, "real/sub/x"));
        assert!(aliased_none(&root, "x"));
        assert!(aliased_none(&root, "link"));
        let dir = OutputPattern::compile("link/").unwrap();
        assert_eq!(
            Aliases::new(&root).of(&dir).unwrap().real.declaration(),
            "real/"
        );
    }

    #[test]
    fn inputs_are_followed_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        std::os::unix::fs::symlink("real/sub", root.join("sub")).unwrap();
        let inputs = InputPatterns::compile(["link/a.py", "sub", "sub/**", "other/**"]).unwrap();
        let real: Vec<(String, String, Option<String>)> = real_inputs(&root, &inputs)
            .into_iter()
            .map(|input| {
                (
                    input.place.declared.to_string(),
                    input.place.path.to_string(),
                    input.link.map(|link| link.to_string()),
                )
            })
            .collect();
        let some = |text: &str| Some(text.to_string());
        let row = |declared: &str, real: &str, link| (declared.to_string(), real.to_string(), link);
        assert_eq!(
            real,
            [
                row("link/a.py", "real/a.py", some("link")),
                row("sub", "real/sub", some("sub")),
                row("sub/**", "real/sub", some("sub")),
                row("other/**", "other", None),
            ]
        );
    }

    fn aliased_none(root: &Path, output: &str) -> bool {
        Aliases::new(root)
            .of(&OutputPattern::compile(output).unwrap())
            .is_none()
    }
}

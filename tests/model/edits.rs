//! The edits the model makes to the project's tree, and the snapshots it reverts to.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::Model;
use super::oracle::show_mode;

/// Directories files are created in and renamed into (below `src/`); no file name is one of
/// their last components, so a path never has to be a file and a directory at once.
const DIRS: &[&str] = &[
    "src",
    "src/lib",
    "src/lib/deep",
    "src/gen",
    "src/gen/x",
    "src/deep",
];

/// File names: some share a pattern (`*.tmp`, `[ab].txt`, `?.rs`), two differ only in case, and
/// two need escaping or are hidden.
const NAMES: &[&str] = &[
    "a.txt", "b.txt", "c.rs", "d.tmp", "keep.tmp", "e", "E", "f.TXT", "!bang", ".hidden",
];

/// Lines for `.gitignore` files below `src/`, over the names above.
const PATTERNS: &[&str] = &[
    "*.tmp",
    "!keep.tmp",
    "a.txt",
    "/a.txt",
    "!a.txt",
    "a.txt ",
    "lib/",
    "lib",
    "!lib/",
    "gen/**",
    "!gen/a.txt",
    "deep/",
    "**/deep",
    "lib/deep/",
    "**/b.txt",
    "lib/**/c.rs",
    "*.rs",
    "!c.rs",
    "e",
    "/e",
    "x/",
    "x/*.txt",
    "*",
    "!*/",
    "!*.txt",
    "[ab].txt",
    "?.rs",
    "\\!bang",
    ".*",
    "!.gitignore",
    ".gitignore",
    "*.TXT",
    "# a.txt",
    "",
];

/// Lines for the root `.gitignore`: none matches `src` itself, which rtask never ignores as the
/// start of its glob (git would ignore everything below it).
const ROOT_PATTERNS: &[&str] = &[
    "*.tmp",
    "!keep.tmp",
    "a.txt",
    "lib/",
    "**/deep",
    "*.rs",
    "src/lib/",
    "src/*.txt",
    "/src/gen/**",
    "!src/gen/a.txt",
    "e",
];

/// Where `.gitignore` files are edited.
const IGNORE_FILES: &[&str] = &[
    ".gitignore",
    "src/.gitignore",
    "src/lib/.gitignore",
    "src/gen/.gitignore",
    "src/lib/deep/.gitignore",
];

/// How many contents of each path are kept for reverting it.
const REMEMBERED_CONTENTS: usize = 16;

/// Targets of the symlinks made below `src/`: files, directories, nothing, and outside `src/`.
const TARGETS: &[&str] = &[
    "a.txt",
    "b.txt",
    "c.rs",
    "../a.txt",
    "lib",
    "deep",
    "missing",
    ".",
    "e",
    "../tasks.toml",
    "../.gitignore",
    "lib/.gitignore",
];

/// A file or symlink of the tree, as a snapshot keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    File { content: Vec<u8>, mode: u32 },
    Symlink(String),
}

/// The whole tree below `src/`, ignored files included, the root `.gitignore` and `MODE`.
#[derive(Clone)]
pub(super) struct Snapshot {
    step: usize,
    nodes: BTreeMap<String, Node>,
    mode: Option<Vec<u8>>,
}

/// The files, symlinks and directories below `src/` (paths from the root, sorted).
#[derive(Default)]
struct Tree {
    files: Vec<String>,
    links: Vec<String>,
    dirs: Vec<String>,
}

impl Tree {
    fn read(root: &Path) -> Tree {
        let mut tree = Tree::default();
        tree.visit(root, "src");
        tree.files.sort();
        tree.links.sort();
        tree.dirs.sort();
        tree
    }

    fn visit(&mut self, root: &Path, dir: &str) {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = format!("{dir}/{}", entry.file_name().to_str().unwrap());
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                self.dirs.push(path.clone());
                self.visit(root, &path);
            } else if kind.is_symlink() {
                self.links.push(path);
            } else {
                self.files.push(path);
            }
        }
    }

    fn files_and_links(&self) -> Vec<String> {
        self.files.iter().chain(&self.links).cloned().collect()
    }

    /// Files whose content edits make sense (`.gitignore` files have edits of their own).
    fn plain_files(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|path| !path.ends_with("/.gitignore"))
            .cloned()
            .collect()
    }
}

/// The kinds of edit.
#[derive(Clone, Copy, Debug)]
enum Edit {
    Write,
    SameSize,
    RevertFile,
    Create,
    Delete,
    Rename,
    Chmod,
    IgnoreAdd,
    IgnoreRemove,
    Mode,
    Touch,
    RevertTree,
    Symlink,
    HardLink,
    RenameDir,
    DeleteDir,
    StatCache,
}

/// How often each edit is chosen, relative to the others.
const EDITS: &[(Edit, usize)] = &[
    (Edit::Write, 10),
    (Edit::SameSize, 12),
    (Edit::RevertFile, 8),
    (Edit::Create, 8),
    (Edit::Delete, 5),
    (Edit::Rename, 6),
    (Edit::Chmod, 5),
    (Edit::IgnoreAdd, 7),
    (Edit::IgnoreRemove, 5),
    (Edit::Mode, 6),
    (Edit::Touch, 5),
    (Edit::RevertTree, 8),
    (Edit::Symlink, 4),
    (Edit::HardLink, 2),
    (Edit::RenameDir, 2),
    (Edit::DeleteDir, 1),
    (Edit::StatCache, 1),
];

impl Model {
    /// Applies one random edit and says what it did.
    pub(super) fn edit(&mut self) -> String {
        let total: usize = EDITS.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.rng.below(total);
        let edit = EDITS
            .iter()
            .find(|(_, weight)| {
                let found = roll < *weight;
                roll = roll.saturating_sub(*weight);
                found
            })
            .map(|(edit, _)| *edit)
            .unwrap();
        let tree = Tree::read(self.root());
        let plain = tree.plain_files();
        match edit {
            Edit::Create => self.create(),
            _ if plain.len() < 3 => self.create(),
            Edit::Write => self.write_new(&plain),
            Edit::SameSize => self.same_size(&plain),
            Edit::RevertFile => self.revert_file(),
            Edit::Delete => self.delete(&tree),
            Edit::Rename => self.rename(&tree),
            Edit::Chmod => self.chmod(&tree),
            Edit::IgnoreAdd => self.ignore_add(),
            Edit::IgnoreRemove => self.ignore_remove(&tree),
            Edit::Mode => self.change_mode(),
            Edit::Touch => self.touch(&plain),
            Edit::RevertTree => self.revert_tree(),
            Edit::Symlink => self.symlink(&tree),
            Edit::HardLink => self.hard_link(&plain),
            Edit::RenameDir => self.rename_dir(&tree),
            Edit::DeleteDir => self.delete_dir(&tree),
            Edit::StatCache => self.spoil_stat_cache(),
        }
    }

    /// New content of another size.
    fn write_new(&mut self, plain: &[String]) -> String {
        let path = self.rng.pick(plain).clone();
        let old = fs::read(self.root().join(&path)).unwrap();
        let content = self.rng.content(Some(old.len()));
        self.write(&path, &content);
        format!("write {path} ({} bytes)", content.len())
    }

    fn delete(&mut self, tree: &Tree) -> String {
        let path = self.rng.pick(&tree.files_and_links()).clone();
        fs::remove_file(self.root().join(&path)).unwrap();
        format!("delete {path}")
    }

    /// Executable or not, or another mode that does not change that.
    fn chmod(&mut self, tree: &Tree) -> String {
        let path = self.rng.pick(&tree.files).clone();
        let full = self.root().join(&path);
        let old = full.metadata().unwrap().permissions().mode() & 0o777;
        let mode = *self.rng.pick(&[0o644, 0o755, 0o744, 0o600]);
        fs::set_permissions(&full, fs::Permissions::from_mode(mode)).unwrap();
        format!("chmod {path} {old:o} -> {mode:o}")
    }

    /// A new mtime, now or in the past, and the same content: the state does not change.
    fn touch(&mut self, plain: &[String]) -> String {
        let path = self.rng.pick(plain).clone();
        let time = if self.rng.percent(50) {
            SystemTime::now()
        } else {
            SystemTime::now() - Duration::from_secs(1 + self.rng.next() % 100_000)
        };
        self.set_mtime(&path, time);
        format!("touch {path}")
    }

    /// A second name for a file: an edit through one changes the other.
    fn hard_link(&mut self, plain: &[String]) -> String {
        let from = self.rng.pick(plain).clone();
        let to = format!("{}/{}", self.rng.pick(DIRS), self.rng.pick(NAMES));
        let full = self.root().join(&to);
        if full.symlink_metadata().is_ok() {
            return format!("hard link {to}: taken");
        }
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::hard_link(self.root().join(&from), &full).unwrap();
        format!("hard link {to} to {from}")
    }

    fn delete_dir(&mut self, tree: &Tree) -> String {
        if tree.dirs.is_empty() {
            return "delete no directory".to_string();
        }
        let dir = self.rng.pick(&tree.dirs).clone();
        fs::remove_dir_all(self.root().join(&dir)).unwrap();
        format!("delete {dir}/")
    }

    /// Deletes or truncates rtask's stat cache, which only makes it hash files again.
    fn spoil_stat_cache(&mut self) -> String {
        let file = self.root().join(".rtask/stat-cache");
        let Ok(bytes) = fs::read(&file) else {
            return "no stat cache to spoil".to_string();
        };
        if self.rng.percent(50) {
            fs::remove_file(&file).unwrap();
            "delete the stat cache".to_string()
        } else {
            let keep = self.rng.below(bytes.len().max(1));
            fs::write(&file, &bytes[..keep]).unwrap();
            format!("cut the stat cache to {keep} of {} bytes", bytes.len())
        }
    }

    /// Writes `content` to the file `path` (replacing a symlink), remembering it for reverts.
    fn write(&mut self, path: &str, content: &[u8]) {
        let full = self.root().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        if full
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            fs::remove_file(&full).unwrap();
        }
        fs::write(&full, content).unwrap();
        self.remember(path, content);
    }

    /// Remembers that the file `path` held `content`, for reverts (the last few contents).
    fn remember(&mut self, path: &str, content: &[u8]) {
        let earlier = self.contents.entry(path.to_string()).or_default();
        if !earlier.iter().any(|known| known == content) {
            earlier.push(content.to_vec());
            if earlier.len() > REMEMBERED_CONTENTS {
                earlier.remove(0);
            }
        }
    }

    fn set_mtime(&self, path: &str, time: SystemTime) {
        fs::File::options()
            .append(true)
            .open(self.root().join(path))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    pub(super) fn create(&mut self) -> String {
        let dir = *self.rng.pick(DIRS);
        let name = *self.rng.pick(NAMES);
        let path = format!("{dir}/{name}");
        let content = self.rng.content(None);
        self.write(&path, &content);
        let mut text = format!("create {path} ({} bytes)", content.len());
        if self.rng.percent(20) {
            let full = self.root().join(&path);
            fs::set_permissions(&full, fs::Permissions::from_mode(0o755)).unwrap();
            text.push_str(" +x");
        }
        text
    }

    /// The racy case: new content of the same size, with the old mtime put back, right after
    /// rtask hashed the file. Only the ctime (and the content) tells.
    fn same_size(&mut self, plain: &[String]) -> String {
        let path = self.rng.pick(plain).clone();
        let path = path.as_str();
        let full = self.root().join(path);
        let mut content = fs::read(&full).unwrap();
        if content.is_empty() {
            content = b"z".to_vec();
            self.write(path, &content);
            return format!("write {path} (1 byte)");
        }
        let mtime = full.metadata().unwrap().modified().unwrap();
        let at = self.rng.below(content.len());
        content[at] = if content[at] == b'q' { b'w' } else { b'q' };
        let mut file = fs::File::options().write(true).open(&full).unwrap();
        file.write_all(&content).unwrap();
        file.set_modified(mtime).unwrap();
        drop(file);
        self.remember(path, &content);
        format!("same-size edit of {path} at byte {at}, mtime put back")
    }

    /// Puts an earlier content back into a file (which may have been deleted since).
    fn revert_file(&mut self) -> String {
        let paths: Vec<&String> = self.contents.keys().collect();
        if paths.is_empty() {
            return self.create();
        }
        let path = self.rng.pick(&paths).to_string();
        let now = fs::read(self.root().join(&path)).ok();
        let earlier: Vec<&Vec<u8>> = self.contents[&path]
            .iter()
            .filter(|content| Some(*content) != now.as_ref())
            .collect();
        if earlier.is_empty() {
            return self.create();
        }
        let content = self.rng.pick(&earlier).to_vec();
        self.write(&path, &content);
        format!(
            "revert {path} to an earlier content ({} bytes)",
            content.len()
        )
    }

    /// Renames a file or symlink, perhaps into a new directory or over another file.
    fn rename(&mut self, tree: &Tree) -> String {
        let from = self.rng.pick(&tree.files_and_links()).clone();
        let from = from.as_str();
        let link = tree.links.iter().any(|path| path == from);
        let dir = *self.rng.pick(DIRS);
        let name = if self.rng.percent(5) && (self.settings.symlinked_gitignores || !link) {
            ".gitignore"
        } else {
            *self.rng.pick(NAMES)
        };
        let to = format!("{dir}/{name}");
        let full = self.root().join(&to);
        if to == from || full.is_dir() {
            return format!("rename {from} onto itself or a directory: nothing");
        }
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::rename(self.root().join(from), &full).unwrap();
        format!("rename {from} -> {to}")
    }

    fn rename_dir(&mut self, tree: &Tree) -> String {
        if tree.dirs.is_empty() {
            return "rename no directory".to_string();
        }
        let from = self.rng.pick(&tree.dirs).clone();
        let to = (*self.rng.pick(&DIRS[1..])).to_string();
        let target = self.root().join(&to);
        if target.symlink_metadata().is_ok() || to.starts_with(&format!("{from}/")) {
            return format!("rename {from}/ -> {to}/: taken");
        }
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::rename(self.root().join(&from), &target).unwrap();
        format!("rename {from}/ -> {to}/")
    }

    fn ignore_add(&mut self) -> String {
        let file = *self.rng.pick(IGNORE_FILES);
        let line = if file == ".gitignore" {
            *self.rng.pick(ROOT_PATTERNS)
        } else {
            *self.rng.pick(PATTERNS)
        };
        let full = self.root().join(file);
        if full.symlink_metadata().is_ok_and(|m| !m.is_file()) {
            fs::remove_file(&full).unwrap();
        }
        let mut text = fs::read(&full).unwrap_or_default();
        text.extend_from_slice(format!("{line}\n").as_bytes());
        self.write(file, &text);
        format!("add {line:?} to {file}")
    }

    fn ignore_remove(&mut self, tree: &Tree) -> String {
        let mut files: Vec<String> = tree
            .files
            .iter()
            .filter(|path| path.ends_with("/.gitignore"))
            .cloned()
            .collect();
        if self.root().join(".gitignore").is_file() {
            files.push(".gitignore".to_string());
        }
        if files.is_empty() {
            return self.ignore_add();
        }
        let file = self.rng.pick(&files).clone();
        let text = fs::read(self.root().join(&file)).unwrap();
        let mut lines: Vec<&[u8]> = text.split_inclusive(|&byte| byte == b'\n').collect();
        if lines.is_empty() || self.rng.percent(10) {
            fs::remove_file(self.root().join(&file)).unwrap();
            return format!("delete {file}");
        }
        let at = self.rng.below(lines.len());
        let line = String::from_utf8_lossy(lines.remove(at)).into_owned();
        let text = lines.concat();
        self.write(&file, &text);
        format!("remove {:?} from {file}", line.trim_end_matches('\n'))
    }

    fn change_mode(&mut self) -> String {
        let mut values: Vec<Option<&[u8]>> = vec![
            None,
            Some(b""),
            Some(b"debug"),
            Some(b"release"),
            Some(b"debug "),
            Some("ünï".as_bytes()),
            Some(b"a\nb"),
            Some(b"(unset)"),
        ];
        if self.settings.non_utf8 {
            values.extend([Some(&b"\xff"[..]), Some(b"debug\xff"), Some(b"\xc3(")]);
        }
        let old = self.mode.clone();
        self.mode = self.rng.pick(&values).map(<[u8]>::to_vec);
        format!(
            "MODE {} -> {}",
            show_mode(old.as_deref()),
            show_mode(self.mode.as_deref())
        )
    }

    fn symlink(&mut self, tree: &Tree) -> String {
        let path = if tree.links.is_empty() || self.rng.percent(50) {
            let name = if self.settings.symlinked_gitignores && self.rng.percent(30) {
                ".gitignore"
            } else {
                *self.rng.pick(NAMES)
            };
            format!("{}/{name}", self.rng.pick(DIRS))
        } else {
            self.rng.pick(&tree.links).clone()
        };
        let target = *self.rng.pick(TARGETS);
        let full = self.root().join(&path);
        if full.is_dir() && !full.is_symlink() {
            return format!("symlink {path}: a directory is there");
        }
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        if full.symlink_metadata().is_ok() {
            fs::remove_file(&full).unwrap();
        }
        symlink(target, &full).unwrap();
        format!("symlink {path} -> {target}")
    }

    /// Spoils `out.txt`: a hit must restore it, a run rewrite it.
    pub(super) fn spoil_output(&mut self) -> String {
        let full = self.root().join("out.txt");
        let Ok(mut content) = fs::read(&full) else {
            return "no out.txt to spoil".to_string();
        };
        let Some(byte) = content.first_mut() else {
            fs::write(&full, "x").unwrap();
            return "spoil out.txt".to_string();
        };
        *byte = if *byte == b'#' { b'%' } else { b'#' };
        let mtime = full.metadata().unwrap().modified().unwrap();
        let mut file = fs::File::options().write(true).open(&full).unwrap();
        file.write_all(&content).unwrap();
        file.set_modified(mtime).unwrap();
        "spoil out.txt (same size, mtime put back)".to_string()
    }

    pub(super) fn snapshot(&mut self, step: usize) {
        let root = self.root();
        let tree = Tree::read(root);
        let mut nodes = BTreeMap::new();
        for path in &tree.files {
            let full = root.join(path);
            let mode = full.metadata().unwrap().permissions().mode() & 0o777;
            let content = fs::read(&full).unwrap();
            nodes.insert(path.clone(), Node::File { content, mode });
        }
        for path in &tree.links {
            let target = fs::read_link(root.join(path)).unwrap();
            nodes.insert(
                path.clone(),
                Node::Symlink(target.to_str().unwrap().to_string()),
            );
        }
        if let Ok(content) = fs::read(root.join(".gitignore")) {
            nodes.insert(
                ".gitignore".to_string(),
                Node::File {
                    content,
                    mode: 0o644,
                },
            );
        }
        self.snapshots.push_back(Snapshot {
            step,
            nodes,
            mode: self.mode.clone(),
        });
        if self.snapshots.len() > 100 {
            self.snapshots.pop_front();
        }
    }

    /// Puts the whole tree (and `MODE`) back as it was after an earlier step, touching only what
    /// differs: that state was stored, so this must be a hit.
    fn revert_tree(&mut self) -> String {
        if self.snapshots.is_empty() {
            return self.create();
        }
        let snapshot = self.snapshots[self.rng.below(self.snapshots.len())].clone();
        let root = self.root().to_path_buf();
        let tree = Tree::read(&root);
        let mut now: Vec<String> = tree.files.iter().chain(&tree.links).cloned().collect();
        if root.join(".gitignore").exists() {
            now.push(".gitignore".to_string());
        }
        for path in &now {
            if !snapshot.nodes.contains_key(path) {
                fs::remove_file(root.join(path)).unwrap();
            }
        }
        for (path, node) in &snapshot.nodes {
            let full = root.join(path);
            // A directory may stand where the file was (a renamed directory).
            if full.is_dir() && !full.is_symlink() {
                fs::remove_dir_all(&full).unwrap();
            }
            match node {
                Node::File { content, mode } => {
                    // A hard link is written anew, or its twin would change too.
                    let linked = full.symlink_metadata().is_ok_and(|m| m.nlink() > 1);
                    if linked {
                        fs::remove_file(&full).unwrap();
                    }
                    if linked || fs::read(&full).ok().as_ref() != Some(content) || full.is_symlink()
                    {
                        self.write(path, content);
                    }
                    let current = full.metadata().unwrap().permissions().mode() & 0o777;
                    if current != *mode {
                        fs::set_permissions(&full, fs::Permissions::from_mode(*mode)).unwrap();
                    }
                }
                Node::Symlink(target) => {
                    if fs::read_link(&full).ok().as_deref() != Some(Path::new(target)) {
                        if full.symlink_metadata().is_ok() {
                            fs::remove_file(&full).unwrap();
                        }
                        fs::create_dir_all(full.parent().unwrap()).unwrap();
                        symlink(target, &full).unwrap();
                    }
                }
            }
        }
        self.mode = snapshot.mode.clone();
        format!("revert the tree to step {}", snapshot.step)
    }
}

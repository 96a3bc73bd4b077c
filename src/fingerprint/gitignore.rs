//! `.gitignore` files read as git reads them, so that a walk ignores what git ignores and
//! nothing else: git's line syntax, and its glob dialect (wildmatch) translated into globset's.
//!
//! Where the two dialects differ, the translation follows git: braces are literal, a `[` that
//! is never closed makes the line match nothing, `\` escapes inside a class, a backwards range
//! adds nothing, `[:space:]` and its kin are git's ASCII sets, a run of three or more asterisks
//! is `**` where `**` would be, and `**` glued after the literal start of a pattern with a
//! slash crosses directories (`a/b**/c` matches `a/b/x/c`), as git's matcher makes it. Like
//! git, a class matches one byte; only a backwards range from a non-ASCII character is
//! approximated (as nothing), where git would match some of its bytes.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::relpath::RelPath;

/// The patterns of one `.gitignore` file.
pub(super) struct IgnoreFile {
    globs: GlobSet,
    /// What each glob of `globs` does, by its index.
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pattern {
    effect: Effect,
    /// Written with a trailing `/`: it matches directories only (never a symlink to one).
    only_dirs: bool,
}

/// What a matching pattern does to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Ignore,
    /// A `!` pattern: the path is not ignored after all.
    Include,
}

/// How a `.gitignore` is opened: never through a symlink (git reads none that is one), and
/// without blocking (a FIFO would hang the walk).
const OPEN_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_NONBLOCK);

impl IgnoreFile {
    /// The `.gitignore` in the open directory `dir`, when it is a regular file. One that cannot
    /// be read ignores nothing, as git warns and goes on.
    pub(super) fn read_in(dir: &Dir) -> Option<IgnoreFile> {
        let fd: OwnedFd = nix::fcntl::openat(dir, ".gitignore", OPEN_FLAGS, Mode::empty()).ok()?;
        IgnoreFile::read(File::from(fd))
    }

    /// The `.gitignore` at `path`, when it is a regular file.
    pub(super) fn read_path(path: &Path) -> Option<IgnoreFile> {
        let file = File::options()
            .read(true)
            .custom_flags(OPEN_FLAGS.bits())
            .open(path)
            .ok()?;
        IgnoreFile::read(file)
    }

    fn read(mut file: File) -> Option<IgnoreFile> {
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text).ok()?;
        Some(IgnoreFile::parse(&text))
    }

    fn parse(text: &[u8]) -> IgnoreFile {
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let mut globs = GlobSetBuilder::new();
        let mut patterns = Vec::new();
        for line in text.split(|byte| *byte == b'\n') {
            let Some((pattern, glob)) = parse_line(line) else {
                continue;
            };
            // The translation makes valid globs; should one fail, it matches nothing, which
            // only ever makes an input of a file git would ignore.
            if let Ok(glob) = GlobBuilder::new(&glob)
                .literal_separator(true)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
            {
                globs.add(glob);
                patterns.push(pattern);
            }
        }
        match globs.build() {
            Ok(globs) => IgnoreFile { globs, patterns },
            Err(_) => IgnoreFile {
                globs: GlobSet::empty(),
                patterns: Vec::new(),
            },
        }
    }

    /// What the last pattern matching `path` (relative to the file's directory) does.
    fn matched(&self, path: &[u8], is_dir: bool) -> Option<Effect> {
        thread_local! {
            static MATCHES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
        }
        if self.patterns.is_empty() {
            return None;
        }
        MATCHES.with_borrow_mut(|matches| {
            self.globs
                .matches_into(Path::new(OsStr::from_bytes(path)), matches);
            matches
                .iter()
                .rev()
                .filter_map(|index| self.patterns.get(*index))
                .find(|pattern| is_dir || !pattern.only_dirs)
                .map(|pattern| pattern.effect)
        })
    }
}

/// One line as git reads it: comments and blank lines skipped, one `\r` before the newline
/// dropped, trailing spaces dropped unless escaped, then `!`, and a trailing `/` for
/// directories only. A pattern with no other `/` matches a name at any depth; one with a `/`
/// matches the whole path below the file's directory. `None` for a line that matches nothing.
fn parse_line(line: &[u8]) -> Option<(Pattern, String)> {
    if line.is_empty() || line.first() == Some(&b'#') {
        return None;
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Globs are text: a line that is not UTF-8 (a file in another encoding) is skipped, where
    // git would match its bytes.
    let line = trim_trailing_spaces(std::str::from_utf8(line).ok()?);
    let (effect, body) = match line.strip_prefix('!') {
        Some(body) => (Effect::Include, body),
        None => (Effect::Ignore, line),
    };
    let (only_dirs, body) = match body.strip_suffix('/') {
        Some(body) => (true, body),
        None => (false, body),
    };
    if body.is_empty() {
        return None;
    }
    let glob = if body.contains('/') {
        translate(body.strip_prefix('/').unwrap_or(body), Shape::Path)?
    } else {
        format!("**/{}", translate(body, Shape::Name)?)
    };
    Some((Pattern { effect, only_dirs }, glob))
}

/// Drops trailing spaces, except one escaped with a backslash (git's `trim_trailing_spaces`).
fn trim_trailing_spaces(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut index = 0;
    let mut spaces_from = None;
    while let Some(byte) = bytes.get(index) {
        match byte {
            b' ' => {
                spaces_from.get_or_insert(index);
            }
            b'\\' => {
                index += 1;
                if index == bytes.len() {
                    return line;
                }
                spaces_from = None;
            }
            _ => spaces_from = None,
        }
        index += 1;
    }
    spaces_from.and_then(|end| line.get(..end)).unwrap_or(line)
}

/// How git matches a pattern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No `/`: against each name, whole.
    Name,
    /// Against the path below the file's directory. Git compares the literal start (up to the
    /// first `*`, `?`, `[` or `\`) as a string, and matches the rest as a pattern of its own.
    Path,
}

/// A wildmatch pattern as a globset glob (literal separator, backslash escapes, empty
/// alternates); `None` when git's matcher would match nothing with it.
fn translate(pattern: &str, shape: Shape) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let wild_start = match shape {
        Shape::Name => 0,
        Shape::Path => chars
            .iter()
            .position(|c| matches!(c, '*' | '?' | '[' | '\\'))
            .unwrap_or(chars.len()),
    };
    let slash_at = |index: usize| match chars.get(index) {
        Some('/') => Some(1),
        Some('\\') if chars.get(index + 1) == Some(&'/') => Some(2),
        _ => None,
    };
    let mut glob = String::with_capacity(pattern.len() + 8);
    let mut index = 0;
    while let Some(&c) = chars.get(index) {
        index += 1;
        match c {
            '\\' => {
                push_literal(&mut glob, *chars.get(index)?);
                index += 1;
            }
            '*' => {
                let start = index - 1;
                while chars.get(index) == Some(&'*') {
                    index += 1;
                }
                let after_boundary = start == wild_start
                    || start
                        .checked_sub(1)
                        .is_some_and(|before| chars.get(before) == Some(&'/'));
                let slash = slash_at(index);
                let recursive = index - start >= 2
                    && after_boundary
                    && (slash.is_some() || index == chars.len());
                if !recursive {
                    glob.push('*');
                } else if glob.is_empty() || glob.ends_with('/') {
                    // Where globset reads `**` as git does.
                    glob.push_str("**");
                } else if let Some(length) = slash {
                    // Glued to the literal start: nothing, or anything that ends with a `/`.
                    glob.push_str("{,*/**/}");
                    index += length;
                } else {
                    // Anything, `/` included.
                    glob.push_str("{*,*/**}");
                }
            }
            '?' => glob.push('?'),
            '[' => {
                let (class, next) = Class::parse(&chars, index)?;
                class.push_to(&mut glob)?;
                index = next;
            }
            '/' => glob.push('/'),
            c => push_literal(&mut glob, c),
        }
    }
    Some(glob)
}

fn push_literal(glob: &mut String, c: char) {
    if matches!(c, '\\' | '*' | '?' | '[' | ']' | '{' | '}' | ',') {
        glob.push('\\');
    }
    glob.push(c);
}

/// A bracket expression, as git's matcher reads it: each character in it is a member; `-`
/// between two makes a range (a backwards one adds nothing); `\` escapes; `[:name:]` is a set.
struct Class {
    negated: bool,
    /// Inclusive ranges of members, in the order written.
    members: Vec<(char, char)>,
}

impl Class {
    /// The class whose first character after the `[` is at `start`, and the index after its
    /// `]`. `None` when it is never closed or names an unknown set: git's matcher gives up on
    /// the whole pattern then, which matches nothing.
    fn parse(chars: &[char], start: usize) -> Option<(Class, usize)> {
        let mut index = start;
        let negated = matches!(chars.get(index), Some('!' | '^'));
        if negated {
            index += 1;
        }
        let mut members = Vec::new();
        // The character a `-` can start a range from.
        let mut previous: Option<char> = None;
        loop {
            let c = *chars.get(index)?;
            previous = match c {
                '\\' => {
                    index += 1;
                    let escaped = *chars.get(index)?;
                    members.push((escaped, escaped));
                    Some(escaped)
                }
                '-' if previous.is_some()
                    && chars.get(index + 1).is_some_and(|next| *next != ']') =>
                {
                    index += 1;
                    let mut last = chars.get(index).copied()?;
                    if last == '\\' {
                        index += 1;
                        last = *chars.get(index)?;
                    }
                    if let Some(first) = previous.filter(|first| *first <= last) {
                        members.push((first, last));
                    }
                    None
                }
                '[' if chars.get(index + 1) == Some(&':') => {
                    let close = (index + 2..chars.len()).find(|at| chars.get(*at) == Some(&']'))?;
                    match chars
                        .get(index + 2..close)
                        .and_then(|inner| inner.strip_suffix(&[':']))
                    {
                        Some(name) => {
                            let name: String = name.iter().collect();
                            members.extend_from_slice(named_set(&name)?);
                            index = close;
                            None
                        }
                        // Not `[:name:]`: a plain `[`, and the rest read on.
                        None => {
                            members.push(('[', '['));
                            Some('[')
                        }
                    }
                }
                c => {
                    members.push((c, c));
                    Some(c)
                }
            };
            index += 1;
            if chars.get(index) == Some(&']') {
                return Some((Class { negated, members }, index + 1));
            }
        }
    }

    /// Writes the class in globset's syntax, which has no escapes in classes: a `]` is literal
    /// only first, a `-` only last, and `[:` starts a set. So `]` (or else `/`, which a class
    /// never matches anyway) goes first, and `[` and `-` last. `None` when it matches nothing.
    fn push_to(&self, glob: &mut String) -> Option<()> {
        const SPECIAL: [char; 3] = [']', '[', '-'];
        let has = |c: char| {
            self.members
                .iter()
                .any(|(first, last)| (*first..=*last).contains(&c))
        };
        let plain: Vec<(char, char)> = self
            .members
            .iter()
            .flat_map(|&range| without(range, &SPECIAL))
            .collect();
        if !self.negated && plain.is_empty() && !SPECIAL.into_iter().any(has) {
            return None;
        }
        glob.push('[');
        if self.negated {
            glob.push('!');
        }
        glob.push(if has(']') { ']' } else { '/' });
        for (first, last) in plain {
            glob.push(first);
            if last != first {
                glob.push('-');
                glob.push(last);
            }
        }
        for special in ['[', '-'] {
            if has(special) {
                glob.push(special);
            }
        }
        glob.push(']');
        Some(())
    }
}

/// The parts of `range` left once the ASCII characters `cut` are taken out.
fn without((first, last): (char, char), cut: &[char]) -> Vec<(char, char)> {
    let mut parts = Vec::new();
    let mut from = first;
    let mut sorted = cut.to_vec();
    sorted.sort_unstable();
    for c in sorted {
        if c < from || c > last {
            continue;
        }
        if c > from {
            parts.push((from, char::from_u32(c as u32 - 1).unwrap_or(from)));
        }
        match char::from_u32(c as u32 + 1) {
            Some(next) => from = next,
            None => return parts,
        }
    }
    if from <= last {
        parts.push((from, last));
    }
    parts
}

/// The `[:name:]` sets of git's matcher, over ASCII with git's own character types (its
/// `space` is tab, newline, carriage return and space only).
fn named_set(name: &str) -> Option<&'static [(char, char)]> {
    Some(match name {
        "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
        "alpha" => &[('A', 'Z'), ('a', 'z')],
        "blank" => &[('\t', '\t'), (' ', ' ')],
        "cntrl" => &[('\0', '\u{1f}'), ('\u{7f}', '\u{7f}')],
        "digit" => &[('0', '9')],
        "graph" => &[('!', '~')],
        "lower" => &[('a', 'z')],
        "print" => &[(' ', '~')],
        "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
        "space" => &[('\t', '\n'), ('\r', '\r'), (' ', ' ')],
        "upper" => &[('A', 'Z')],
        "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
        _ => return None,
    })
}

/// The `.gitignore` rules that apply in a directory: its own, then those of the directories
/// above it (as in git, the innermost rule that matches decides).
pub(super) struct Rules {
    pub(super) file: IgnoreFile,
    pub(super) anchor: Anchor,
    pub(super) parent: Option<Arc<Rules>>,
}

/// How a project-relative path is made relative to the directory of a `.gitignore`.
pub(super) enum Anchor {
    /// The directory is inside the project: strip this many leading bytes.
    Strip(usize),
    /// The directory holds the project: prepend the project's path below it.
    Prepend(String),
}

impl Anchor {
    /// For the project's directory `dir`: what lies below it is relative to it once `dir/` is
    /// stripped (nothing, for the root).
    pub(super) fn inside(dir: &RelPath) -> Anchor {
        Anchor::Strip(if dir.is_root() {
            0
        } else {
            dir.as_str().len() + 1
        })
    }
}

impl Rules {
    /// Whether the innermost rule matching `path` (project-relative, `/`-separated bytes)
    /// ignores it.
    pub(super) fn ignores(rules: Option<&Rules>, path: &[u8], is_dir: bool) -> bool {
        let mut next = rules;
        while let Some(rules) = next {
            let matched = match &rules.anchor {
                Anchor::Strip(length) => {
                    debug_assert!(path.len() >= *length, "rules of a directory above the path");
                    rules
                        .file
                        .matched(path.get(*length..).unwrap_or(path), is_dir)
                }
                Anchor::Prepend(prefix) => {
                    let joined = [prefix.as_bytes(), path].concat();
                    rules.file.matched(&joined, is_dir)
                }
            };
            if let Some(effect) = matched {
                return effect == Effect::Ignore;
            }
            next = rules.parent.as_deref();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(line: &str) -> Option<String> {
        parse_line(line.as_bytes()).map(|(_, glob)| glob)
    }

    #[test]
    fn lines_translate_to_globs_as_git_reads_them() {
        assert_eq!(glob("*.log").as_deref(), Some("**/*.log"));
        assert_eq!(glob("/build/").as_deref(), Some("build"));
        assert_eq!(glob("a/**/b").as_deref(), Some("a/**/b"));
        assert_eq!(glob("{a,b}").as_deref(), Some("**/\\{a\\,b\\}"));
        assert_eq!(glob("***/x").as_deref(), Some("**/x"));
        assert_eq!(glob("d/foo**/bar").as_deref(), Some("d/foo{,*/**/}bar"));
        assert_eq!(glob("d/foo**").as_deref(), Some("d/foo{*,*/**}"));
        assert_eq!(glob("[\\]a-c-]x").as_deref(), Some("**/[]aa-c-]x"));
        assert_eq!(glob("[!z-a]").as_deref(), Some("**/[!/z]"));
        assert_eq!(glob("sq[uare"), None);
        assert_eq!(glob("[[:nope:]]"), None);
        assert_eq!(glob("end\\"), None);
        assert_eq!(glob("dir\\/"), None);
        assert_eq!(glob("esc\\ ").as_deref(), Some("**/esc "));
    }

    #[test]
    fn the_last_matching_pattern_decides() {
        let file = IgnoreFile::parse(b"*.log\n!keep.log\nout/\n");
        assert_eq!(file.matched(b"a/x.log", false), Some(Effect::Ignore));
        assert_eq!(file.matched(b"a/keep.log", false), Some(Effect::Include));
        assert_eq!(file.matched(b"out", false), None);
        assert_eq!(file.matched(b"out", true), Some(Effect::Ignore));
    }
}

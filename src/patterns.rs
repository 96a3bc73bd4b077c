//! Input and output path patterns: literal paths, globs and `!` exclusions, compiled once.

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::relpath::RelPath;

/// Why a pattern from `tasks.toml` was refused; the validator adds where it stood.
#[derive(Debug)]
pub struct PatternError {
    pub message: String,
    pub hint: String,
}

/// A session's `inputs`, compiled.
#[derive(Debug, Clone)]
pub struct InputPatterns {
    /// Paths named without glob characters: they always count, ignored by git or not.
    pub literals: Vec<RelPath>,
    /// Directories the glob patterns can match below; the walk starts there, not at the root.
    pub glob_bases: Vec<RelPath>,
    /// Each glob as written (normalised), with its own base: what validation names.
    pub glob_entries: Vec<InputGlob>,
    pub globs: GlobSet,
    pub excludes: GlobSet,
}

/// A glob of a session's `inputs`.
#[derive(Debug, Clone)]
pub struct InputGlob {
    pub pattern: String,
    /// Its leading directories without glob characters.
    pub base: RelPath,
}

/// Where one of a session's inputs is read: a literal path, or the fixed base of a glob.
#[derive(Debug, Clone)]
pub struct InputPlace<'a> {
    /// The input as declared (normalised).
    pub declared: &'a str,
    pub path: RelPath,
    pub kind: PlaceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    /// The path itself is the input (a file, or a directory read whole).
    Literal,
    /// The input glob's walk starts at the path.
    GlobBase,
}

/// One entry of a session's `outputs`.
#[derive(Debug, Clone)]
pub enum OutputPattern {
    /// A file or directory; `dir` when written with a trailing `/`.
    Literal { path: RelPath, dir: bool },
    /// Any number of files, matched after the session ran.
    Glob {
        pattern: String,
        base: RelPath,
        matcher: GlobMatcher,
    },
}

pub fn has_glob_chars(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

impl InputPatterns {
    pub fn compile<'a>(
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<InputPatterns, (usize, PatternError)> {
        let mut literals = Vec::new();
        let mut glob_entries = Vec::new();
        let mut globs = GlobSetBuilder::new();
        let mut excludes = GlobSetBuilder::new();
        for (index, pattern) in patterns.into_iter().enumerate() {
            let fail = |error| (index, error);
            if let Some(excluded) = pattern.strip_prefix('!') {
                let path = normalise(excluded).map_err(fail)?;
                excludes.add(compile_glob(&path).map_err(fail)?);
                excludes.add(compile_glob(&format!("{path}/**")).map_err(fail)?);
            } else if has_glob_chars(pattern) {
                let path = normalise(pattern).map_err(fail)?;
                globs.add(compile_glob(&path).map_err(fail)?);
                glob_entries.push(InputGlob {
                    base: glob_base(&path),
                    pattern: path,
                });
            } else {
                literals.push(parse_path(pattern).map_err(fail)?);
            }
        }
        let mut glob_bases: Vec<RelPath> =
            glob_entries.iter().map(|glob| glob.base.clone()).collect();
        glob_bases.sort();
        glob_bases.dedup();
        let mut outermost: Vec<RelPath> = Vec::new();
        for base in glob_bases {
            if !outermost.iter().any(|outer| base.starts_with(outer)) {
                outermost.push(base);
            }
        }
        Ok(InputPatterns {
            literals,
            glob_bases: outermost,
            glob_entries,
            globs: build(globs)?,
            excludes: build(excludes)?,
        })
    }

    pub fn excluded(&self, path: impl AsRef<std::path::Path>) -> bool {
        self.excludes.is_match(path)
    }

    /// Where the inputs are read: the literals, then the globs' bases, each in declaration order.
    pub fn places(&self) -> impl Iterator<Item = InputPlace<'_>> {
        let literals = self.literals.iter().map(|path| InputPlace {
            declared: path.as_str(),
            path: path.clone(),
            kind: PlaceKind::Literal,
        });
        let globs = self.glob_entries.iter().map(|glob| InputPlace {
            declared: &glob.pattern,
            path: glob.base.clone(),
            kind: PlaceKind::GlobBase,
        });
        literals.chain(globs)
    }

    /// The first input, as declared, that names `dir` or a path below it: a literal path there,
    /// or a glob whose fixed base lies there.
    pub fn first_within(&self, dir: &RelPath) -> Option<&str> {
        self.places()
            .find(|place| place.path.starts_with(dir))
            .map(|place| place.declared)
    }
}

impl OutputPattern {
    pub fn compile(pattern: &str) -> Result<OutputPattern, PatternError> {
        if has_glob_chars(pattern) {
            let path = normalise(pattern)?;
            Ok(OutputPattern::Glob {
                base: glob_base(&path),
                matcher: compile_glob(&path)?.compile_matcher(),
                pattern: path,
            })
        } else {
            let path = parse_path(pattern)?;
            if path.is_root() {
                return Err(PatternError {
                    message: "the project root cannot be an output".into(),
                    hint: "name the files or directories the session writes".into(),
                });
            }
            Ok(OutputPattern::Literal {
                path,
                dir: pattern.ends_with('/'),
            })
        }
    }

    /// The pattern as written, normalised: what the cache key holds.
    pub fn declaration(&self) -> String {
        match self {
            OutputPattern::Literal { path, dir: true } => format!("{path}/"),
            OutputPattern::Literal { path, dir: false } => path.to_string(),
            OutputPattern::Glob { pattern, .. } => pattern.clone(),
        }
    }

    /// Whether a restore of this output would overwrite what is read at `place`: an input at
    /// or below a literal output, or a literal input that an output glob matches.
    pub fn holds(&self, place: &InputPlace) -> bool {
        match self {
            OutputPattern::Literal { path, .. } => place.path.starts_with(path),
            OutputPattern::Glob { matcher, .. } => {
                place.kind == PlaceKind::Literal && matcher.is_match(place.path.as_str())
            }
        }
    }

    /// The path this output names: a literal's path, a glob's pattern.
    pub fn names(&self) -> &str {
        match self {
            OutputPattern::Literal { path, .. } => path.as_str(),
            OutputPattern::Glob { pattern, .. } => pattern,
        }
    }

    /// The directories whose symlinks lead this output elsewhere, unless that is the project
    /// root: a literal's parent, a glob's fixed base, and a directory declared with `/` itself.
    pub fn leading_dirs(&self) -> Option<RelPath> {
        let (leading, _) = self.split_leading()?;
        RelPath::parse(leading).ok()
    }

    /// The same output below `dirs` instead of its [`leading_dirs`](Self::leading_dirs).
    pub fn moved_to(&self, dirs: &RelPath) -> Option<OutputPattern> {
        let (_, rest) = self.split_leading()?;
        let mut text = if rest.is_empty() {
            dirs.to_string()
        } else {
            dirs.join(rest).to_string()
        };
        if let OutputPattern::Literal { dir: true, .. } = self {
            text.push('/');
        }
        OutputPattern::compile(&text).ok()
    }

    /// The declaration split after its leading directories.
    fn split_leading(&self) -> Option<(&str, &str)> {
        let (text, end) = match self {
            OutputPattern::Literal { path, dir: true } => (path.as_str(), path.as_str().len()),
            OutputPattern::Literal { path, .. } => (path.as_str(), path.as_str().rfind('/')?),
            OutputPattern::Glob { base, .. } if base.is_root() => return None,
            OutputPattern::Glob { pattern, base, .. } => (pattern.as_str(), base.as_str().len()),
        };
        let rest = text.get(end + 1..).unwrap_or_default();
        Some((&text[..end], rest))
    }

    /// Whether this declaration covers `path`: the path itself, or a path below a directory it
    /// names or matches.
    pub fn declares(&self, path: &RelPath) -> bool {
        match self {
            OutputPattern::Literal { path: declared, .. } => path.starts_with(declared),
            OutputPattern::Glob { matcher, .. } => {
                let parts: Vec<&str> = path.as_str().split('/').collect();
                (1..=parts.len()).any(|depth| matcher.is_match(parts[..depth].join("/")))
            }
        }
    }

    /// Whether two sessions' declarations can claim the same path.
    pub fn overlaps(&self, other: &OutputPattern) -> bool {
        match (self, other) {
            (OutputPattern::Literal { path: a, .. }, OutputPattern::Literal { path: b, .. }) => {
                a.starts_with(b) || b.starts_with(a)
            }
            (OutputPattern::Literal { path, .. }, OutputPattern::Glob { matcher, .. })
            | (OutputPattern::Glob { matcher, .. }, OutputPattern::Literal { path, .. }) => {
                matcher.is_match(path.as_str())
            }
            (OutputPattern::Glob { pattern: a, .. }, OutputPattern::Glob { pattern: b, .. }) => {
                a == b
            }
        }
    }
}

fn parse_path(text: &str) -> Result<RelPath, PatternError> {
    RelPath::parse(text).map_err(|error| PatternError {
        message: format!("path `{text}` {error}"),
        hint: "paths are relative to the project root and cannot leave it".into(),
    })
}

/// A glob's text with `./` and duplicate slashes removed, after the same checks as a path.
fn normalise(pattern: &str) -> Result<String, PatternError> {
    let trimmed = pattern.trim_end_matches('/');
    parse_path(trimmed).map(|path| path.to_string())
}

/// The leading directories of a glob that hold no glob characters.
fn glob_base(pattern: &str) -> RelPath {
    let literal: Vec<&str> = pattern
        .split('/')
        .take_while(|part| !has_glob_chars(part))
        .collect();
    let parts = &literal[..literal.len().min(pattern.split('/').count() - 1)];
    if parts.is_empty() {
        RelPath::root()
    } else {
        RelPath::parse(&parts.join("/")).unwrap_or_else(|_| RelPath::root())
    }
}

fn compile_glob(pattern: &str) -> Result<Glob, PatternError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        // `.coverage{,.*}` names `.coverage` too, as in a shell.
        .empty_alternates(true)
        .build()
        .map_err(|error| PatternError {
            message: format!("invalid glob `{pattern}`: {}", error.kind()),
            hint: "globs use `*` within a directory, `**` across directories, `?`, `[abc]` and `{a,b}`".into(),
        })
}

fn build(builder: GlobSetBuilder) -> Result<GlobSet, (usize, PatternError)> {
    builder.build().map_err(|error| {
        (
            0,
            PatternError {
                message: format!("invalid glob: {error}"),
                hint: String::new(),
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_literals_globs_and_exclusions() {
        let inputs = InputPatterns::compile([
            "src/**/*.py",
            "src/pkg/*.txt",
            "pyproject.toml",
            "!src/gen/**",
        ])
        .unwrap();
        assert_eq!(inputs.literals, [RelPath::parse("pyproject.toml").unwrap()]);
        assert_eq!(inputs.glob_bases, [RelPath::parse("src").unwrap()]);
        assert!(inputs.globs.is_match("src/a/b.py"));
        assert!(!inputs.globs.is_match("src/a/b.txt"));
        assert!(inputs.excluded("src/gen/x.py"));
        assert!(!inputs.excluded("src/x.py"));
    }

    #[test]
    fn glob_bases_stop_at_the_first_glob() {
        assert_eq!(glob_base("*.py"), RelPath::root());
        assert_eq!(glob_base("src/**/*.py").as_str(), "src");
        assert_eq!(glob_base("a/b/c.*").as_str(), "a/b");
    }

    #[test]
    fn refuses_escaping_and_broken_patterns() {
        assert!(OutputPattern::compile("/tmp/x").is_err());
        assert!(OutputPattern::compile("../x").is_err());
        assert!(InputPatterns::compile(["src/[a.py"]).is_err());
        assert!(OutputPattern::compile(".").is_err());
    }

    #[test]
    fn outputs_know_the_inputs_they_hold() {
        let inputs =
            InputPatterns::compile(["src/**/*.py", "src/**", "gen/schema.json", "!src/x"]).unwrap();
        let held = |output: &str| {
            let output = OutputPattern::compile(output).unwrap();
            inputs
                .places()
                .find(|place| output.holds(place))
                .map(|place| place.declared.to_string())
        };
        assert_eq!(held("src/").as_deref(), Some("src/**/*.py"));
        assert_eq!(held("gen").as_deref(), Some("gen/schema.json"));
        assert_eq!(held("*/*.json").as_deref(), Some("gen/schema.json"));
        assert_eq!(held("src/pkg/"), None);
        assert_eq!(held("gen/other.json"), None);
        assert_eq!(held("*.json"), None);
    }

    #[test]
    fn outputs_move_with_their_leading_directories() {
        let real = RelPath::parse("real/dir").unwrap();
        let moved = |output: &str| {
            let output = OutputPattern::compile(output).unwrap();
            let leading = output.leading_dirs().map(|dirs| dirs.to_string());
            let moved = output.moved_to(&real).map(|moved| moved.declaration());
            (leading, moved)
        };
        let some = |text: &str| Some(text.to_string());
        assert_eq!(moved("out/x"), (some("out"), some("real/dir/x")));
        assert_eq!(moved("a/b/c"), (some("a/b"), some("real/dir/c")));
        assert_eq!(moved("a/b/c/"), (some("a/b/c"), some("real/dir/")));
        assert_eq!(
            moved("out/**/*.txt"),
            (some("out"), some("real/dir/**/*.txt"))
        );
        assert_eq!(moved("x"), (None, None));
        assert_eq!(moved("*.txt"), (None, None));
    }

    #[test]
    fn overlapping_outputs_are_detected() {
        let html = OutputPattern::compile("htmlcov/").unwrap();
        let index = OutputPattern::compile("htmlcov/index.html").unwrap();
        let data = OutputPattern::compile(".coverage.*").unwrap();
        assert!(html.overlaps(&index));
        assert!(!html.overlaps(&data));
        assert!(data.overlaps(&OutputPattern::compile(".coverage.x").unwrap()));
    }
}

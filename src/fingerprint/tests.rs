//! The walk's `.gitignore` handling checked against git itself: for each tree of a corpus, the
//! files `inputs = ["**"]` finds must be those `git ls-files -co --exclude-standard` lists.
//!
//! Kept out of the corpus, because rtask deliberately differs: the global excludes file,
//! `.git/info/exclude` (both emptied for git here), files git tracks although they are ignored
//! (nothing is committed here), and names that are not UTF-8 (never keys).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use super::Fingerprinter;
use crate::patterns::InputPatterns;

/// One tree: `.gitignore` (or other) files with their text, and empty files; `link -> target`
/// makes a symlink.
struct Tree {
    about: &'static str,
    texts: &'static [(&'static str, &'static str)],
    files: &'static [&'static str],
}

const CORPUS: &[Tree] = &[
    Tree {
        about: "negation",
        texts: &[(".gitignore", "*.log\n!keep.log\n!/top.log\n")],
        files: &[
            "a.log",
            "keep.log",
            "top.log",
            "sub/top.log",
            "sub/keep.log",
            "sub/b.log",
        ],
    },
    Tree {
        about: "nothing is re-included below an excluded directory",
        texts: &[(
            ".gitignore",
            "build/\n!build/keep.txt\n/out/*\n!/out/keep/\ndir\n!dir/x\n/*.d/\n!/a.d/b\n",
        )],
        files: &[
            "build/keep.txt",
            "build/x",
            "out/keep/a",
            "out/other/b",
            "out/c",
            "dir/x",
            "a.d/b",
            "other.txt",
        ],
    },
    Tree {
        about: "the example of gitignore(5): only foo/bar",
        texts: &[(".gitignore", "/*\n!/foo\n/foo/*\n!/foo/bar\n")],
        files: &["foo/bar/x", "foo/baz/y", "top", "z/w"],
    },
    Tree {
        about: "leading, trailing and inner `**`",
        texts: &[(
            ".gitignore",
            "**/logs\n**/deep/*.txt\na/**\nx/**/y\n/**/anch\n",
        )],
        files: &[
            "logs/a",
            "q/logs/b",
            "deep/1.txt",
            "r/deep/2.txt",
            "r/deep/s/3.txt",
            "r/deep/s/3.md",
            "a/b/c",
            "a/d",
            "aa/e",
            "x/y",
            "x/m/y",
            "x/m/n/y",
            "x/m/y2",
            "anch",
            "m/anch/z",
        ],
    },
    Tree {
        about: "other runs of asterisks",
        texts: &[(
            ".gitignore",
            "a**b\n***/tri\nq/***/r\nfoo/**bar\nd/foo**/bar\ne/pre**\n!e/pre/\n",
        )],
        files: &[
            "aXb",
            "aXYb",
            "s/aZb",
            "tri",
            "s/t/tri",
            "q/r",
            "q/s/r",
            "q/s/t/r",
            "foo/xbar",
            "foo/s/xbar",
            "d/foobar",
            "d/foo/bar",
            "d/fooX/bar",
            "d/fooX/q/bar",
            "d/fooYbar",
            "e/pre/keep",
            "e/prefix",
            "e/other",
        ],
    },
    Tree {
        about: "trailing spaces, unless escaped",
        texts: &[(".gitignore", "tr  \nesc\\ \nesc2\\  \nmid dle\ntab\t\n")],
        files: &[
            "tr", "tr ", "esc ", "esc", "esc2 ", "esc2", "mid dle", "tab", "tab\t",
        ],
    },
    Tree {
        about: "escapes",
        texts: &[(
            ".gitignore",
            "\\#hash\n\\!bang\nst\\*r\nq\\?\nbr\\[x]\n\\\\back\nend\\\n\\a\\b\n",
        )],
        files: &[
            "#hash", "!bang", "st*r", "star", "q?", "qx", "br[x]", "brx", "\\back", "end", "end\\",
            "ab",
        ],
    },
    Tree {
        about: "comments and blank lines",
        texts: &[(".gitignore", "#c\n # not a comment\n\n\n#\n")],
        files: &["#c", " # not a comment", "c"],
    },
    Tree {
        about: "character classes",
        texts: &[(
            ".gitignore",
            "[abc].c\n[!a].d\n[^a].e\n[a-c]x\n[]]y\n[!]]z\n[[:digit:]]n\n[[:alpha:][:digit:]]m\n\
             [a-]h\n[\\]]k\n[z-a]r\n[z-ab]s\n[[:nope:]]t\n[[:alpha]u\n[[:space:]]v\n",
        )],
        files: &[
            "a.c", "d.c", "b.d", "a.d", "b.e", "a.e", "bx", "dx", "]y", "ay", "]z", "az", "1n",
            "an", "am", "1m", "-m", "-h", "bh", "]k", "\\k", "ar", "br", "zs", "bs", "as", "nt",
            "au", "[u", ":u", "zu", " v", "\u{b}v", "xv",
        ],
    },
    Tree {
        about: "odd classes",
        texts: &[(
            ".gitignore",
            "[a-c-e]1\n[!]2\n[[]3\n[[:]4\n[a-\\z]5\n[\\\n[]-]6\n[!a-z]7\n[---]8\n[ü]9\n",
        )],
        files: &[
            "a1", "d1", "e1", "-1", "!2", "]2", "[3", "x3", "[4", ":4", "x4", "z5", "y5", "\\5",
            "]6", "-6", "a6", "A7", "a7", "-8", "a8", "ü9", "u9",
        ],
    },
    Tree {
        about: "named sets",
        texts: &[(
            ".gitignore",
            "[[:space:]]s\n[[:punct:]]p\n[[:upper:][:digit:]]u\n[![:alnum:]]n\n[[:xdigit:]]x\n\
             [[:cntrl:]]c\n[[:blank:]]b\n",
        )],
        files: &[
            "\ts", "\rs", "\u{b}s", "\u{c}s", " s", "as", "!p", "_p", "~p", "-p", "[p", "]p", "ap",
            "Au", "3u", "au", "-n", "an", "fx", "Fx", "gx", "\u{1}c", "\u{7f}c", "ac", "\tb", " b",
            "\rb",
        ],
    },
    Tree {
        about: "unclosed brackets match nothing",
        texts: &[(".gitignore", "sq[uare\nx[\n[ab\nkeep*\n!keep[\n[]\n")],
        files: &["sq[uare", "squ", "x[", "[ab", "a", "keep[", "keepx", "[]"],
    },
    Tree {
        about: "braces are literal",
        texts: &[(".gitignore", "{a,b}\nx{1,2}\n")],
        files: &["a", "b", "{a,b}", "x{1,2}", "x1"],
    },
    Tree {
        about: "directories only",
        texts: &[(".gitignore", "dir/\nd*/\n!dx/\n")],
        files: &["dir/x", "sub/dir/y", "other/dir", "dfile", "dy/z", "dx/k"],
    },
    Tree {
        about: "anchored and unanchored",
        texts: &[(".gitignore", "/x\na/y\nz\n")],
        files: &["x", "s/x", "a/y", "s/a/y", "z", "s/z"],
    },
    Tree {
        about: "nested .gitignore files decide before their parents",
        texts: &[
            (".gitignore", "*.txt\n/sub/c.md\n"),
            ("sub/.gitignore", "!*.txt\n/local\n!c.md\n"),
            ("sub/deeper/.gitignore", "a.txt\n"),
            ("sub/mid/.gitignore", "/top\nx/y\n*.o\n"),
        ],
        files: &[
            "t.txt",
            "sub/t.txt",
            "sub/c.md",
            "sub/deeper/a.txt",
            "sub/deeper/b.txt",
            "sub/local",
            "sub/x/local",
            "local",
            "top",
            "sub/mid/top",
            "sub/mid/deeper/top",
            "sub/mid/x/y",
            "sub/mid/q/x/y",
            "sub/mid/a.o",
            "b.o",
        ],
    },
    Tree {
        about: "CRLF line endings",
        texts: &[(".gitignore", "crlf\r\nsp  \r\nk*\r\n!keep\r\ncr\r\r\n")],
        files: &["crlf", "crlf\r", "sp", "sp ", "kx", "keep", "cr", "cr\r"],
    },
    Tree {
        about: "a byte order mark starts the file",
        texts: &[(".gitignore", "\u{feff}bom\nx\n")],
        files: &["bom", "x", "y"],
    },
    Tree {
        about: "a trailing slash never matches a symlink",
        texts: &[(".gitignore", "ld/\nreal/\nlf\n")],
        files: &[
            "ld -> target",
            "target/t",
            "real/r",
            "lf -> target/t",
            "sub/ld/q",
        ],
    },
    Tree {
        about: "spaces and unicode in names",
        texts: &[(".gitignore", "my file.txt\nüber*\n*ß\n?x\n[ü]y\nü?z\n")],
        files: &[
            "my file.txt",
            "other file.txt",
            "über.txt",
            "überall",
            "groß",
            "fuß",
            "gross",
            "üx",
            "ax",
            "üy",
            "üaz",
        ],
    },
    Tree {
        about: "a .gitignore that is a symlink is not read",
        texts: &[("real-ignore", "x\n")],
        files: &["s/.gitignore -> ../real-ignore", "s/x", "s/y"],
    },
    Tree {
        about: "degenerate lines",
        texts: &[(".gitignore", "!\n/\n!/\n\\\n\r\n \n")],
        files: &["a", "b", "\\"],
    },
    Tree {
        about: "slashes",
        texts: &[(".gitignore", "a//b\n//c\na\\/b2\ndir\\/\n")],
        files: &["a/b", "c", "a/b2", "dir/f"],
    },
    Tree {
        about: "ignoring everything but directories and a few files",
        texts: &[
            (".gitignore", "*\n!*/\n!.gitignore\n!*.keep\n"),
            ("d/.gitignore", ""),
        ],
        files: &["x", ".hidden", "a.keep", "d/b.keep", "d/c", ".h.keep"],
    },
    Tree {
        about: "asterisks glued to the literal start of a path",
        texts: &[(
            ".gitignore",
            "x/y**/**/z\na[b]/c**/d\nm/n\\***\nk/**/\n**/cache/\n",
        )],
        files: &[
            "x/yz",
            "x/y/z",
            "x/y/q/z",
            "x/yq/r/z",
            "ab/cq/d",
            "ab/c/q/d",
            "m/n*",
            "m/n*x",
            "m/nx",
            "m/n*y/x",
            "k/f",
            "k/d/f",
            "cache/a",
            "s/cache/b",
            "t/cache",
        ],
    },
    Tree {
        about: "a nested .gitignore re-includes a directory",
        texts: &[
            (".gitignore", "build/\n"),
            ("sub/.gitignore", "!build/\n/**/deep\n"),
        ],
        files: &["build/x", "sub/build/y", "sub/deep", "sub/a/deep", "deep"],
    },
    Tree {
        about: "a directory named .gitignore",
        texts: &[],
        files: &["sub/.gitignore/x", "sub/y"],
    },
    Tree {
        about: "case matters",
        texts: &[(".gitignore", "README\n")],
        files: &["README", "readme"],
    },
];

#[test]
fn gitignore_rules_agree_with_git_ls_files() {
    let mut disagreements = Vec::new();
    for tree in CORPUS {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), tree);
        let git = git_files(dir.path());
        let rtask = rtask_files(dir.path());
        if git != rtask {
            disagreements.push(format!(
                "{}:\n  only git lists:   {:?}\n  only rtask lists: {:?}",
                tree.about,
                git.difference(&rtask).collect::<Vec<_>>(),
                rtask.difference(&git).collect::<Vec<_>>(),
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

fn build(root: &Path, tree: &Tree) {
    let texts = tree.texts.iter().copied();
    let files = tree.files.iter().map(|file| (*file, ""));
    for (path, text) in texts.chain(files) {
        let (path, target) = match path.split_once(" -> ") {
            Some((link, target)) => (link, Some(target)),
            None => (path, None),
        };
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        match target {
            Some(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
            None => fs::write(&path, text).unwrap(),
        }
    }
}

/// What git lists, with no configuration but the repository's, and an empty `info/exclude`.
fn git_files(root: &Path) -> BTreeSet<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(["-c", "core.excludesFile=/dev/null"])
            .args(args)
            .current_dir(root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?} failed: {output:?}");
        output.stdout
    };
    git(&["init", "-q"]);
    git(&["config", "user.email", "test@example.com"]);
    git(&["config", "user.name", "test"]);
    fs::write(root.join(".git/info/exclude"), "").unwrap();
    git(&["ls-files", "-co", "--exclude-standard", "-z"])
        .split(|byte| *byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8(name.to_vec()).unwrap())
        .collect()
}

fn rtask_files(root: &Path) -> BTreeSet<String> {
    let fingerprinter = Fingerprinter::new(root, Vec::new(), None);
    let all = InputPatterns::compile(["**"]).unwrap();
    fingerprinter
        .inputs(&all)
        .unwrap()
        .into_iter()
        .map(|file| file.path.to_string())
        .collect()
}

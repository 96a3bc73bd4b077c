//! PEP 508 environment markers of `install` entries (`pytest-xdist; python_version >= '3.10'`):
//! parsed and checked when the task file is read, evaluated against a session's interpreter when
//! its environment is planned.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A variable a marker may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Variable {
    PythonVersion,
    PythonFullVersion,
    ImplementationName,
    ImplementationVersion,
    PlatformPythonImplementation,
    SysPlatform,
    OsName,
    PlatformSystem,
    PlatformMachine,
    PlatformRelease,
    PlatformVersion,
    /// Always empty: `install` entries are not the dependencies of an extra.
    Extra,
}

impl Variable {
    pub(crate) const ALL: [Variable; 12] = [
        Variable::PythonVersion,
        Variable::PythonFullVersion,
        Variable::ImplementationName,
        Variable::ImplementationVersion,
        Variable::PlatformPythonImplementation,
        Variable::SysPlatform,
        Variable::OsName,
        Variable::PlatformSystem,
        Variable::PlatformMachine,
        Variable::PlatformRelease,
        Variable::PlatformVersion,
        Variable::Extra,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Variable::PythonVersion => "python_version",
            Variable::PythonFullVersion => "python_full_version",
            Variable::ImplementationName => "implementation_name",
            Variable::ImplementationVersion => "implementation_version",
            Variable::PlatformPythonImplementation => "platform_python_implementation",
            Variable::SysPlatform => "sys_platform",
            Variable::OsName => "os_name",
            Variable::PlatformSystem => "platform_system",
            Variable::PlatformMachine => "platform_machine",
            Variable::PlatformRelease => "platform_release",
            Variable::PlatformVersion => "platform_version",
            Variable::Extra => "extra",
        }
    }

    fn of(name: &str) -> Option<Variable> {
        Variable::ALL.into_iter().find(|known| known.name() == name)
    }
}

/// The values of the variables, for one interpreter on one machine.
pub(crate) type Values = BTreeMap<Variable, String>;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Equal,
    NotEqual,
    Compatible,
    Arbitrary,
    In,
    NotIn,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Less => "<",
            Op::LessEqual => "<=",
            Op::Greater => ">",
            Op::GreaterEqual => ">=",
            Op::Equal => "==",
            Op::NotEqual => "!=",
            Op::Compatible => "~=",
            Op::Arbitrary => "===",
            Op::In => "in",
            Op::NotIn => "not in",
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Variable(Variable),
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Compare { left: Value, op: Op, right: Value },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed marker, with its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    text: String,
    expr: Expr,
}

/// Why a marker cannot be read: what, and where in its text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarkerError {
    pub message: String,
    pub at: Range<usize>,
    pub hint: String,
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Marker {
    /// Parse the text after an entry's `;`.
    pub(crate) fn parse(text: &str) -> Result<Marker, MarkerError> {
        let tokens = tokens(text)?;
        let mut parser = Parser {
            tokens: &tokens,
            next: 0,
            end: text.len(),
        };
        let expr = parser.or()?;
        if let Some((_, at)) = parser.tokens.get(parser.next) {
            return Err(error(
                "expected `and`, `or` or the end of the marker",
                at.clone(),
                "join comparisons with `and` / `or`",
            ));
        }
        Ok(Marker {
            text: text.trim().to_string(),
            expr,
        })
    }

    /// Whether the marker holds where the variables have `values`.
    pub(crate) fn evaluate(&self, values: &Values) -> bool {
        evaluate(&self.expr, values)
    }
}

/// The hint every unknown name gets.
fn variables_hint() -> String {
    let names: Vec<String> = Variable::ALL
        .iter()
        .map(|variable| format!("`{}`", variable.name()))
        .collect();
    format!("markers can use {}", names.join(", "))
}

fn error(message: impl Into<String>, at: Range<usize>, hint: impl Into<String>) -> MarkerError {
    MarkerError {
        message: message.into(),
        at,
        hint: hint.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
    Str(String),
    Op(Op),
}

fn tokens(text: &str) -> Result<Vec<(Token, Range<usize>)>, MarkerError> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        let start = at;
        let token = match c {
            b' ' | b'\t' => {
                at += 1;
                continue;
            }
            b'(' => {
                at += 1;
                Token::Open
            }
            b')' => {
                at += 1;
                Token::Close
            }
            b'\'' | b'"' => {
                let Some(length) = text[at + 1..].find(c as char) else {
                    return Err(error(
                        "this string is not closed",
                        at..text.len(),
                        format!("end it with `{}`", c as char),
                    ));
                };
                at += length + 2;
                Token::Str(text[start + 1..at - 1].to_string())
            }
            b'<' | b'>' | b'=' | b'!' | b'~' => {
                let op = ["===", "<=", ">=", "==", "!=", "~=", "<", ">"]
                    .into_iter()
                    .find(|op| text[at..].starts_with(op));
                let op = match op {
                    Some("===") => Op::Arbitrary,
                    Some("<=") => Op::LessEqual,
                    Some(">=") => Op::GreaterEqual,
                    Some("==") => Op::Equal,
                    Some("!=") => Op::NotEqual,
                    Some("~=") => Op::Compatible,
                    Some("<") => Op::Less,
                    Some(">") => Op::Greater,
                    _ => {
                        return Err(error(
                            "unknown operator",
                            at..at + 1,
                            "compare with <, <=, >, >=, ==, !=, ~=, ===, in or not in",
                        ));
                    }
                };
                at += op.text().len();
                Token::Op(op)
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' => {
                while at < bytes.len()
                    && (bytes[at].is_ascii_alphanumeric() || b"_.".contains(&bytes[at]))
                {
                    at += 1;
                }
                Token::Word(text[start..at].to_string())
            }
            _ => {
                let width = text[at..].chars().next().map_or(1, char::len_utf8);
                return Err(error(
                    format!("unexpected `{}` in the marker", &text[at..at + width]),
                    at..at + width,
                    "markers compare variables with quoted strings, such as `python_version >= '3.10'`",
                ));
            }
        };
        found.push((token, start..at));
    }
    Ok(found)
}

struct Parser<'a> {
    tokens: &'a [(Token, Range<usize>)],
    next: usize,
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(token, _)| token)
    }

    fn here(&self) -> Range<usize> {
        self.tokens
            .get(self.next)
            .map_or(self.end..self.end, |(_, at)| at.clone())
    }

    fn keyword(&mut self, word: &str) -> bool {
        if self.peek() == Some(&Token::Word(word.to_string())) {
            self.next += 1;
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<Expr, MarkerError> {
        let mut expr = self.and()?;
        while self.keyword("or") {
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr, MarkerError> {
        let mut expr = self.atom()?;
        while self.keyword("and") {
            expr = Expr::And(Box::new(expr), Box::new(self.atom()?));
        }
        Ok(expr)
    }

    fn atom(&mut self) -> Result<Expr, MarkerError> {
        if self.peek() == Some(&Token::Open) {
            let open = self.here();
            self.next += 1;
            let expr = self.or()?;
            if self.peek() != Some(&Token::Close) {
                return Err(error(
                    "this parenthesis is not closed",
                    open,
                    "add `)` after the comparisons it groups",
                ));
            }
            self.next += 1;
            return Ok(expr);
        }
        let (left, left_at) = self.value()?;
        let op = self.op()?;
        let (right, right_at) = self.value()?;
        let (literal, literal_at) = match (&left, &right) {
            (Value::Literal(_), Value::Literal(_)) => {
                return Err(error(
                    "this comparison names no variable",
                    left_at.start..right_at.end,
                    variables_hint(),
                ));
            }
            (Value::Variable(_), Value::Variable(_)) => {
                return Err(error(
                    "this comparison compares two variables",
                    left_at.start..right_at.end,
                    "compare a variable with a quoted string, such as `python_version >= '3.10'`",
                ));
            }
            (Value::Literal(text), _) => (text, left_at),
            (_, Value::Literal(text)) => (text, right_at),
        };
        if op == Op::Compatible
            && Version::parse(literal).is_none_or(|version| version.release.len() < 2)
        {
            return Err(error(
                format!("`~=` needs a version of two parts or more, not `{literal}`"),
                literal_at,
                "write `~= '3.10'` (3.10 or later 3.x)",
            ));
        }
        Ok(Expr::Compare { left, op, right })
    }

    fn value(&mut self) -> Result<(Value, Range<usize>), MarkerError> {
        let at = self.here();
        let value = match self.tokens.get(self.next).map(|(token, _)| token) {
            Some(Token::Str(text)) => Value::Literal(text.clone()),
            Some(Token::Word(name)) => match Variable::of(name) {
                Some(variable) => Value::Variable(variable),
                None => {
                    return Err(error(
                        format!("unknown marker variable `{name}`"),
                        at,
                        variables_hint(),
                    ));
                }
            },
            _ => {
                return Err(error(
                    "expected a variable or a quoted string",
                    at,
                    "markers compare variables with quoted strings, such as `python_version >= '3.10'`",
                ));
            }
        };
        self.next += 1;
        Ok((value, at))
    }

    fn op(&mut self) -> Result<Op, MarkerError> {
        let at = self.here();
        let op = match self.peek() {
            Some(Token::Op(op)) => *op,
            Some(Token::Word(word)) if word == "in" => Op::In,
            Some(Token::Word(word)) if word == "not" => {
                self.next += 1;
                if !self.keyword("in") {
                    return Err(error(
                        "expected `in` after `not`",
                        self.here(),
                        "write `not in`",
                    ));
                }
                return Ok(Op::NotIn);
            }
            _ => {
                return Err(error(
                    "expected a comparison operator",
                    at,
                    "compare with <, <=, >, >=, ==, !=, ~=, ===, in or not in",
                ));
            }
        };
        self.next += 1;
        Ok(op)
    }
}

fn evaluate(expr: &Expr, values: &Values) -> bool {
    match expr {
        Expr::And(left, right) => evaluate(left, values) && evaluate(right, values),
        Expr::Or(left, right) => evaluate(left, values) || evaluate(right, values),
        Expr::Compare { left, op, right } => {
            let value = |side: &Value| match side {
                Value::Literal(text) => text.clone(),
                Value::Variable(variable) => values.get(variable).cloned().unwrap_or_default(),
            };
            compare(&value(left), *op, &value(right))
        }
    }
}

/// As `packaging` does: `left op right` as a version specifier `op right` containing `left`
/// (pre-releases included) when both read as versions, else as strings.
fn compare(left: &str, op: Op, right: &str) -> bool {
    match op {
        Op::In => return right.contains(left),
        Op::NotIn => return !right.contains(left),
        Op::Arbitrary => return left.eq_ignore_ascii_case(right),
        _ => {}
    }
    if let Some(result) = version_compare(left, op, right) {
        return result;
    }
    match op {
        Op::Less => left < right,
        Op::LessEqual => left <= right,
        Op::Greater => left > right,
        Op::GreaterEqual => left >= right,
        Op::Equal => left == right,
        Op::NotEqual => left != right,
        // Undefined on strings: the entry is not installed.
        _ => false,
    }
}

fn version_compare(left: &str, op: Op, right: &str) -> Option<bool> {
    let version = Version::parse(left)?;
    if let Some(prefix) = right.trim().strip_suffix(".*") {
        let prefix = Version::parse(prefix)?;
        let matches = prefix.is_prefix_of(&version);
        return match op {
            Op::Equal => Some(matches),
            Op::NotEqual => Some(!matches),
            _ => None,
        };
    }
    let spec = Version::parse(right)?;
    let order = version.cmp(&spec);
    Some(match op {
        Op::Equal => order == Ordering::Equal,
        Op::NotEqual => order != Ordering::Equal,
        Op::LessEqual => order != Ordering::Greater,
        Op::GreaterEqual => order != Ordering::Less,
        // `< 3.13` does not take 3.13's pre-releases, `> 3.13` not its post-releases.
        Op::Less => {
            order == Ordering::Less
                && (spec.is_pre()
                    || !version.is_pre()
                    || version.release_key() != spec.release_key())
        }
        Op::Greater => {
            order == Ordering::Greater
                && (spec.post.is_some()
                    || version.post.is_none()
                    || version.release_key() != spec.release_key())
        }
        Op::Compatible => {
            let mut prefix = spec.clone();
            prefix.release.pop();
            prefix.pre = None;
            prefix.post = None;
            prefix.dev = None;
            order != Ordering::Less && prefix.is_prefix_of(&version)
        }
        Op::Arbitrary | Op::In | Op::NotIn => return None,
    })
}

/// A PEP 440 version, without local labels.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// `a`, `b`, `rc` as 0, 1, 2, and the number.
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
}

impl Version {
    fn parse(text: &str) -> Option<Version> {
        let text = text.trim().to_ascii_lowercase();
        let text = text.strip_prefix('v').unwrap_or(&text);
        // A local label (`+abc`, or the bare `+` of a CPython built from a checkout:
        // `3.13.0a1+`) takes no part in comparisons, as in `packaging`.
        let text = text.split_once('+').map_or(text, |(public, _)| public);
        let (epoch, rest) = match text.split_once('!') {
            Some((epoch, rest)) => (epoch.parse().ok()?, rest),
            None => (0, text),
        };
        let release_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let release_text = rest[..release_end].trim_end_matches('.');
        let release: Vec<u64> = release_text
            .split('.')
            .map(|part| part.parse().ok())
            .collect::<Option<_>>()?;
        let mut rest = &rest[release_text.len()..];
        let mut version = Version {
            epoch,
            release,
            pre: None,
            post: None,
            dev: None,
        };
        let number = |rest: &mut &str| -> u64 {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let value = rest[..end].parse().unwrap_or(0);
            *rest = &rest[end..];
            value
        };
        let separator = |rest: &mut &str| {
            *rest = rest.strip_prefix(['.', '-', '_']).unwrap_or(rest);
        };
        let mut probe = rest;
        separator(&mut probe);
        for (phase, names) in [
            (0u8, &["alpha", "a"][..]),
            (1, &["beta", "b"]),
            (2, &["rc", "c", "preview", "pre"]),
        ] {
            if let Some(name) = names.iter().find(|name| probe.starts_with(**name)) {
                probe = &probe[name.len()..];
                separator(&mut probe);
                version.pre = Some((phase, number(&mut probe)));
                rest = probe;
                break;
            }
        }
        let mut probe = rest;
        separator(&mut probe);
        for name in ["post", "rev", "r"] {
            if let Some(after) = probe.strip_prefix(name) {
                probe = after;
                separator(&mut probe);
                version.post = Some(number(&mut probe));
                rest = probe;
                break;
            }
        }
        let mut probe = rest;
        separator(&mut probe);
        if let Some(after) = probe.strip_prefix("dev") {
            probe = after;
            separator(&mut probe);
            version.dev = Some(number(&mut probe));
            rest = probe;
        }
        rest.is_empty().then_some(version)
    }

    fn is_pre(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The release without trailing zeros: `3.10.0` is `3.10`.
    fn release_key(&self) -> (u64, Vec<u64>) {
        let mut release = self.release.clone();
        while release.last() == Some(&0) {
            release.pop();
        }
        (self.epoch, release)
    }

    /// Whether `version`'s release starts with this one's (padded with zeros).
    fn is_prefix_of(&self, version: &Version) -> bool {
        self.epoch == version.epoch
            && self
                .release
                .iter()
                .enumerate()
                .all(|(index, part)| version.release.get(index).copied().unwrap_or(0) == *part)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// PEP 440's order: dev releases before pre-releases before the release before
    /// post-releases.
    fn cmp(&self, other: &Version) -> Ordering {
        let key = |v: &Version| {
            // A dev release of the release itself comes before its pre-releases.
            let pre = match (v.pre, v.post, v.dev) {
                (None, None, Some(_)) => (0, 0, 0),
                (Some((phase, n)), _, _) => (1, phase, n),
                (None, _, _) => (2, 0, 0),
            };
            let post = v.post.map_or((0, 0), |n| (1, n));
            let dev = v.dev.map_or((1, 0), |n| (0, n));
            (v.release_key(), pre, post, dev)
        };
        key(self).cmp(&key(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(version: &str, platform: &str) -> Values {
        BTreeMap::from([
            (Variable::PythonVersion, version.to_string()),
            (Variable::PythonFullVersion, format!("{version}.1")),
            (Variable::SysPlatform, platform.to_string()),
            (Variable::ImplementationName, "cpython".to_string()),
        ])
    }

    fn holds(marker: &str, values: &Values) -> bool {
        Marker::parse(marker).unwrap().evaluate(values)
    }

    #[test]
    fn versions_compare_as_pep_440_not_as_strings() {
        let py310 = values("3.10", "linux");
        assert!(holds("python_version >= '3.9'", &py310));
        assert!(!holds("python_version < '3.9'", &py310));
        assert!(holds("'3.9' < python_version", &py310));
        assert!(holds("python_version == '3.10.*'", &py310));
        assert!(!holds("python_version != '3.10'", &py310));
        assert!(holds("python_full_version ~= '3.10.0'", &py310));
        assert!(!holds("python_full_version ~= '3.10.2'", &py310));
        assert!(holds("python_version ~= '3.8'", &py310));
    }

    #[test]
    fn pre_releases_are_not_below_their_release() {
        let rc = BTreeMap::from([(Variable::PythonFullVersion, "3.13.0rc1".to_string())]);
        assert!(!holds("python_full_version < '3.13'", &rc));
        assert!(holds("python_full_version < '3.13.0rc2'", &rc));
        assert!(holds("python_full_version >= '3.13.0a1'", &rc));
        assert!(!holds("python_full_version >= '3.13'", &rc));
    }

    #[test]
    fn a_local_label_takes_no_part() {
        let checkout = BTreeMap::from([(Variable::PythonFullVersion, "3.13.0a1+".to_string())]);
        assert!(holds("python_full_version >= '3.9'", &checkout));
        assert!(holds("python_full_version >= '3.13.0a1'", &checkout));
        let local = BTreeMap::from([(Variable::PythonFullVersion, "3.12.4+deb1".to_string())]);
        assert!(holds("python_full_version == '3.12.4'", &local));
    }

    #[test]
    fn strings_and_logic() {
        let linux = values("3.12", "linux");
        assert!(holds(
            "sys_platform == \"linux\" and implementation_name == 'cpython'",
            &linux
        ));
        assert!(holds(
            "sys_platform == 'win32' or (python_version > '3.11' and 'lin' in sys_platform)",
            &linux
        ));
        assert!(!holds("sys_platform not in 'linux darwin'", &linux));
        assert!(!holds("extra == 'test'", &linux));
        assert!(!holds(
            "sys_platform == 'win32' or sys_platform == 'darwin' and python_version > '3'",
            &linux
        ));
    }

    #[test]
    fn errors_point_inside_the_marker() {
        let unknown = Marker::parse("python_versoin >= '3.9'").unwrap_err();
        assert_eq!(unknown.message, "unknown marker variable `python_versoin`");
        assert_eq!(unknown.at, 0..14);
        let unclosed = Marker::parse("python_version >= '3.9").unwrap_err();
        assert_eq!(unclosed.at, 18..22);
        let missing = Marker::parse("python_version '3.9'").unwrap_err();
        assert_eq!(missing.message, "expected a comparison operator");
        assert_eq!(missing.at, 15..20);
        assert!(Marker::parse("python_version >= '3.9' and").is_err());
        assert!(Marker::parse("(python_version >= '3.9'").is_err());
        assert!(Marker::parse("'a' == 'b'").is_err());
        assert!(Marker::parse("python_version ~= '3'").is_err());
    }
}

//! Session variants as nox names them: one per Python version and combination of parameters,
//! and the `{name}` placeholders that parameters fill in.

use std::collections::BTreeMap;
use std::fmt;

/// One value of a `parametrize` list.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl ParamValue {
    pub fn from_toml(value: &toml::Value) -> Option<ParamValue> {
        Some(match value {
            toml::Value::String(text) => ParamValue::Str(text.clone()),
            toml::Value::Integer(number) => ParamValue::Int(*number),
            toml::Value::Float(number) => ParamValue::Float(*number),
            toml::Value::Boolean(flag) => ParamValue::Bool(*flag),
            _ => return None,
        })
    }

    /// As Python's `repr`, which nox puts in session names: `'sqlite'`, `1`, `True`.
    pub fn repr(&self) -> String {
        match self {
            ParamValue::Str(text) => {
                // Python quotes with `"` when the text holds `'` and no `"`.
                let quote = if text.contains('\'') && !text.contains('"') {
                    '"'
                } else {
                    '\''
                };
                let escaped = text
                    .replace('\\', "\\\\")
                    .replace(quote, &format!("\\{quote}"));
                format!("{quote}{escaped}{quote}")
            }
            other => other.to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Str(text) => serde_json::Value::from(text.as_str()),
            ParamValue::Int(number) => serde_json::Value::from(*number),
            ParamValue::Float(number) => serde_json::Value::from(*number),
            ParamValue::Bool(flag) => serde_json::Value::from(*flag),
        }
    }
}

/// As Python's `str`: what a `{name}` placeholder becomes.
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Str(text) => f.write_str(text),
            ParamValue::Int(number) => write!(f, "{number}"),
            ParamValue::Float(number) if number.fract() == 0.0 && number.is_finite() => {
                write!(f, "{number:.1}")
            }
            ParamValue::Float(number) => write!(f, "{number}"),
            ParamValue::Bool(true) => f.write_str("True"),
            ParamValue::Bool(false) => f.write_str("False"),
        }
    }
}

/// A session's `python` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pythons {
    /// Absent or `false`: no interpreter of its own.
    None,
    /// One version: the session keeps its name.
    Single(String),
    /// A list: one variant per version, named `NAME-VERSION`.
    Matrix(Vec<String>),
}

/// One concrete session made from a `[sessions.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The `[sessions.NAME]` it comes from.
    pub base: String,
    pub name: String,
    pub python: Option<String>,
    pub call_spec: Vec<(String, ParamValue)>,
    /// The names nox reports for it: its own, then `NAME-VERSION` when that differs.
    pub signatures: Vec<String>,
}

/// `--force-python VERSION`, as nox: a session with a Python version runs with VERSION too, as
/// one more variant of its matrix (a single version becomes a matrix of it and VERSION). A
/// session without one is left alone: it has no environment to run VERSION in.
pub fn force(pythons: Pythons, version: Option<&str>) -> Pythons {
    let Some(version) = version else {
        return pythons;
    };
    let mut versions = match pythons {
        Pythons::None => return Pythons::None,
        Pythons::Single(single) => vec![single],
        Pythons::Matrix(versions) => versions,
    };
    if !versions.iter().any(|listed| listed == version) {
        versions.push(version.to_string());
    }
    Pythons::Matrix(versions)
}

/// One key of `parametrize`: one name (`db`) or several (`"db, version"`, nox's `arg_names`),
/// and its rows, in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGroup {
    pub names: Vec<String>,
    pub rows: Vec<ParamRow>,
}

/// One row of a [`ParamGroup`]: a value per name, and the id that names it in place of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRow {
    pub values: Vec<ParamValue>,
    pub id: Option<String>,
}

impl ParamRow {
    /// What nox puts in the session name for this row: its id, or `name=repr, ...`.
    fn label(&self, names: &[String]) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => names
                .iter()
                .zip(&self.values)
                .map(|(name, value)| format!("{name}={}", value.repr()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One combination of rows, one from each group: its call spec and its part of the name.
#[derive(Debug, Clone, Default)]
struct Combination {
    call_spec: Vec<(String, ParamValue)>,
    labels: Vec<String>,
}

/// The product of the groups as nox's stacked `@nox.parametrize` decorators make it, the first
/// key being the decorator nearest the function: names list the groups in the order written,
/// and the last group varies slowest.
fn combinations(groups: &[ParamGroup]) -> Vec<Combination> {
    let mut combinations = vec![Combination::default()];
    for group in groups {
        combinations = group
            .rows
            .iter()
            .flat_map(|row| {
                combinations.iter().map(move |prefix| {
                    let mut combination = prefix.clone();
                    combination
                        .call_spec
                        .extend(group.names.iter().cloned().zip(row.values.iter().cloned()));
                    combination.labels.push(row.label(&group.names));
                    combination
                })
            })
            .collect();
    }
    combinations
}

/// Every variant of a session: the product of its Python versions and its parameters, in
/// the order nox lists them (versions outermost, then parameters as [`combinations`] orders
/// them). `forced`: the version of `--force-python`, whose parametrized variants nox names
/// without it (`tests(db='x')`, answering to `tests-3.13(db='x')` too).
pub fn expand(
    base: &str,
    pythons: &Pythons,
    params: &[ParamGroup],
    forced: Option<&str>,
) -> Vec<Variant> {
    let versions: Vec<Option<&String>> = match pythons {
        Pythons::None => vec![None],
        Pythons::Single(version) => vec![Some(version)],
        Pythons::Matrix(versions) => versions.iter().map(Some).collect(),
    };
    let combinations = combinations(params);
    let mut variants = Vec::new();
    for version in &versions {
        for combination in &combinations {
            let call = if combination.labels.is_empty() {
                String::new()
            } else {
                format!("({})", combination.labels.join(", "))
            };
            let versioned = match (pythons, version) {
                (Pythons::Matrix(_), Some(version)) => format!("{base}-{version}{call}"),
                _ => format!("{base}{call}"),
            };
            let forced_here = version.is_some_and(|version| Some(version.as_str()) == forced);
            let (name, mut signatures) = if forced_here && !call.is_empty() {
                let name = format!("{base}{call}");
                (name.clone(), vec![name, versioned])
            } else {
                (versioned.clone(), vec![versioned])
            };
            if let Some(version) = version {
                let short = format!("{base}-{version}");
                if !signatures.contains(&short) {
                    signatures.push(short);
                }
            }
            variants.push(Variant {
                base: base.to_string(),
                name,
                python: version.cloned(),
                call_spec: combination.call_spec.clone(),
                signatures,
            });
        }
    }
    variants
}

/// Whether a `python` entry reads as a version: `3`, `3.11`, `3.11.7`, optionally after an
/// implementation name (`pypy3.10`, `pypy-3.11`), or with a `t` for a free-threaded CPython
/// (`3.13t`).
pub fn valid_version(text: &str) -> bool {
    let Some((name, numbers, free_threaded)) = split_version(text) else {
        return false;
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    // A `t` names CPython's free-threaded build only.
    (name.is_empty() || !free_threaded)
        && name.bytes().all(|b| b.is_ascii_lowercase())
        && !numbers.is_empty()
        && parts.len() <= 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// A version's implementation name (`pypy`, or empty), its numbers (`3.10`) and whether a `t`
/// ends it (`3.13t`), as written: `pypy-3.11` -> (`pypy`, `3.11`, false).
pub fn split_version(text: &str) -> Option<(&str, &str, bool)> {
    let start = text.find(|c: char| c.is_ascii_digit() || c == '-')?;
    let (name, rest) = text.split_at(start);
    let rest = if name.is_empty() {
        rest
    } else {
        rest.strip_prefix('-').unwrap_or(rest)
    };
    Some(match rest.strip_suffix('t') {
        Some(numbers) => (name, numbers, true),
        None => (name, rest, false),
    })
}

/// Fill `{name}` placeholders from `vars`. `{{` and `}}` stand for literal braces; `{posargs}`
/// and `{posargs:…}` are left for the command line; braces around anything that is not a
/// name (`{}`, `{a,b}`) are left alone. An unknown `{name}` is an error naming it.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find(['{', '}']) {
        out.push_str(&rest[..index]);
        let tail = &rest[index..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(after) = tail.strip_prefix('}') {
            out.push('}');
            rest = after;
            continue;
        }
        let name_len = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len() - 1);
        let name = &tail[1..1 + name_len];
        let after = &tail[1 + name_len..];
        let is_name = !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit());
        if is_name && name == "posargs" && (after.starts_with('}') || after.starts_with(':')) {
            let end = after
                .find('}')
                .map_or(tail.len(), |end| 1 + name_len + end + 1);
            out.push_str(&tail[..end]);
            rest = &tail[end..];
        } else if is_name && after.starts_with('}') {
            let value = vars.get(name).ok_or_else(|| name.to_string())?;
            out.push_str(value);
            rest = &after[1..];
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(names: &[&str], rows: Vec<(Vec<ParamValue>, Option<&str>)>) -> ParamGroup {
        ParamGroup {
            names: names.iter().map(|name| name.to_string()).collect(),
            rows: rows
                .into_iter()
                .map(|(values, id)| ParamRow {
                    values,
                    id: id.map(str::to_string),
                })
                .collect(),
        }
    }

    fn strings(names: &str, values: &[&str]) -> ParamGroup {
        let rows = values
            .iter()
            .map(|v| (vec![ParamValue::Str(v.to_string())], None))
            .collect();
        group(&[names], rows)
    }

    fn names(variants: Vec<Variant>) -> Vec<String> {
        variants.into_iter().map(|v| v.name).collect()
    }

    #[test]
    fn strings_are_quoted_as_python_quotes_them() {
        let repr = |text: &str| ParamValue::Str(text.to_string()).repr();
        assert_eq!(repr("sqlite"), "'sqlite'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr("a\\b"), "'a\\\\b'");
    }

    #[test]
    fn names_follow_nox() {
        let matrix = Pythons::Matrix(vec!["3.11".into(), "3.12".into()]);
        let params = vec![strings("db", &["sqlite", "postgres"])];
        assert_eq!(
            names(expand("unit_tests", &matrix, &params, None)),
            [
                "unit_tests-3.11(db='sqlite')",
                "unit_tests-3.11(db='postgres')",
                "unit_tests-3.12(db='sqlite')",
                "unit_tests-3.12(db='postgres')"
            ]
        );
        let single = expand("single", &Pythons::Single("3.11".into()), &[], None);
        assert_eq!(single[0].name, "single");
        assert_eq!(single[0].signatures, ["single", "single-3.11"]);
        let numbers = group(
            &["n"],
            vec![
                (vec![ParamValue::Int(1)], None),
                (vec![ParamValue::Bool(true)], None),
            ],
        );
        assert_eq!(
            names(expand("nums", &Pythons::None, &[numbers], None)),
            ["nums(n=1)", "nums(n=True)"]
        );
    }

    #[test]
    fn rows_ids_and_stacked_groups_follow_nox() {
        let rows = group(
            &["db", "version"],
            vec![
                (
                    vec![ParamValue::Str("sqlite".into()), ParamValue::Int(1)],
                    Some("lite"),
                ),
                (vec![ParamValue::Str("pg".into()), ParamValue::Int(2)], None),
            ],
        );
        let single = Pythons::Single("3.12".into());
        let variants = expand("e", &single, &[rows], None);
        assert_eq!(variants[0].name, "e(lite)");
        assert_eq!(variants[0].signatures, ["e(lite)", "e-3.12"]);
        assert_eq!(
            variants[0].call_spec,
            [
                ("db".to_string(), ParamValue::Str("sqlite".into())),
                ("version".to_string(), ParamValue::Int(1))
            ]
        );
        assert_eq!(variants[1].name, "e(db='pg', version=2)");
        let n = group(
            &["n"],
            vec![
                (vec![ParamValue::Int(1)], Some("one")),
                (vec![ParamValue::Int(2)], None),
            ],
        );
        let db = group(
            &["db"],
            vec![
                (vec![ParamValue::Str("sqlite".into())], Some("lite")),
                (vec![ParamValue::Str("pg".into())], None),
            ],
        );
        assert_eq!(
            names(expand("d", &Pythons::None, &[n, db], None)),
            [
                "d(one, lite)",
                "d(n=2, lite)",
                "d(one, db='pg')",
                "d(n=2, db='pg')"
            ]
        );
    }

    #[test]
    fn placeholders_fill_and_escape() {
        let vars = BTreeMap::from([
            ("python".to_string(), "3.11".to_string()),
            ("db".to_string(), "sqlite".to_string()),
        ]);
        assert_eq!(
            substitute("tests-{python} --db={db}", &vars).unwrap(),
            "tests-3.11 --db=sqlite"
        );
        assert_eq!(
            substitute("pytest {posargs} {posargs:-x a}", &vars).unwrap(),
            "pytest {posargs} {posargs:-x a}"
        );
        assert_eq!(
            substitute("print({}) {a,b} {{db}} }", &vars).unwrap(),
            "print({}) {a,b} {db} }"
        );
        assert_eq!(substitute("{nope}", &vars), Err("nope".to_string()));
    }

    #[test]
    fn versions_parse() {
        for good in [
            "3",
            "3.11",
            "3.11.7",
            "pypy3.10",
            "pypy-3.11",
            "3.13t",
            "python3.12",
        ] {
            assert!(valid_version(good), "{good}");
        }
        let bad = [
            "",
            "three",
            "3.x",
            "3..1",
            "3.11.7.1",
            "py",
            "3.13tt",
            "pypy3.10t",
        ];
        for bad in bad.into_iter().chain(["3.t", "pypy--3.1", "-3.1"]) {
            assert!(!valid_version(bad), "{bad}");
        }
    }
}

//! The converted `tasks.toml`: each recorded session as a table, variants folded into one
//! table with per-version `overrides`, and what could not be translated said in comments.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::proposal::{self, Layout};
use super::record::{
    Declared, Install, Note, NoteKind, ParamGroup, PythonSpec, Raised, Recorded, Recording, Step,
    StepKind,
};
use crate::shell_words;

/// pip options whose value is the next argument: `-r requirements.txt` is one entry.
const OPTIONS_WITH_VALUE: [&str; 11] = [
    "-r",
    "--requirement",
    "-e",
    "--editable",
    "-c",
    "--constraint",
    "--group",
    "-i",
    "--index-url",
    "--extra-index-url",
    "--find-links",
];

/// One `install` or `run` entry as written, with the comments above it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    text: String,
    comments: Vec<String>,
}

/// A variant's recording, as the task file would say it.
#[derive(Debug)]
struct Resolved {
    python: Option<String>,
    install: Vec<Entry>,
    run: Vec<Entry>,
    env: BTreeMap<String, String>,
    /// Comments above `env`: values set there that the machine gave.
    env_comments: Vec<String>,
    cwd: Option<String>,
    argvs: Vec<Vec<String>>,
    requirement_files: Vec<String>,
}

/// How a session's Python is written.
enum Pythons {
    None,
    Single(String),
    Matrix(Vec<String>),
}

/// Write the task file for `recording`.
pub(crate) fn write(recording: &Recording, layout: &Layout, root_text: &str) -> String {
    let mut out = String::from(
        "# Converted from noxfile.py by `rtask init --from-nox`. Comments mark what was not\n\
         # translated or was taken as on the machine that converted it: check them.\n",
    );
    let default_backend = settings(recording, &mut out);
    let mut context = Context {
        recording,
        layout,
        notified: notified(recording),
        default_backend,
        root_text,
        claimed: BTreeMap::new(),
    };
    for declared in &recording.sessions {
        out.push('\n');
        session(&mut out, declared, &mut context);
    }
    out
}

/// What every session's table is written with.
struct Context<'a> {
    recording: &'a Recording,
    layout: &'a Layout,
    /// Session (base name) -> the sessions that notify it.
    notified: BTreeMap<String, BTreeSet<String>>,
    /// The backend of sessions without their own (`nox.options.default_venv_backend`).
    default_backend: Option<String>,
    root_text: &'a str,
    /// Proposed output -> the session it was proposed for: rtask refuses a path claimed twice.
    claimed: BTreeMap<String, String>,
}

/// `[settings]` from `nox.options`; returns the backend sessions without their own take.
fn settings(recording: &Recording, out: &mut String) -> Option<String> {
    let mut lines = Vec::new();
    let mut comments = Vec::new();
    let mut backend = None;
    for (name, value) in &recording.options {
        match (name.as_str(), value) {
            ("sessions", serde_json::Value::Array(names)) => {
                let names: Vec<String> = names.iter().map(json_text).collect();
                lines.push(format!("default = {}", string_array(&names)));
            }
            ("tags", serde_json::Value::Array(tags)) if !recording.options.contains_key("sessions") => {
                let tags: BTreeSet<String> = tags.iter().map(json_text).collect();
                let names: Vec<String> = recording
                    .sessions
                    .iter()
                    .filter(|s| s.tags.iter().any(|t| tags.contains(t)))
                    .map(|s| s.name.clone())
                    .collect();
                comments.push(format!(
                    "# nox.options.tags = {:?}: written as the sessions carrying them",
                    tags
                ));
                lines.push(format!("default = {}", string_array(&names)));
            }
            ("error_on_external_run", serde_json::Value::Bool(flag)) => {
                lines.push(format!("error_on_external_run = {flag}"));
            }
            ("envdir", serde_json::Value::String(dir)) => {
                lines.push(format!("envdir = {}", string(dir)));
            }
            ("default_venv_backend", serde_json::Value::String(chosen)) => {
                match backend_choice(chosen) {
                    BackendChoice::Keep(found) => backend = Some(found),
                    BackendChoice::RtaskDefault => comments.push(format!(
                        "# nox.options.default_venv_backend = {chosen:?}: rtask's default (uv when on PATH, else venv)"
                    )),
                    BackendChoice::Unknown => comments.push(format!(
                        "# not converted: nox.options.default_venv_backend = {chosen:?} (rtask has no such backend)"
                    )),
                }
            }
            ("reuse_venv" | "reuse_existing_virtualenvs", value) => comments.push(format!(
                "# nox.options.{name} = {value}: rtask keeps environments while they are up to date (see --reuse-venv)"
            )),
            (_, serde_json::Value::Null) => {}
            (name, value) => comments.push(format!("# not converted: nox.options.{name} = {value}")),
        }
    }
    if !lines.is_empty() || !comments.is_empty() {
        out.push_str("\n[settings]\n");
        for line in comments.iter().chain(&lines) {
            out.push_str(line);
            out.push('\n');
        }
    }
    backend
}

enum BackendChoice {
    Keep(String),
    RtaskDefault,
    Unknown,
}

fn backend_choice(chosen: &str) -> BackendChoice {
    let first = chosen.split('|').next().unwrap_or(chosen).trim();
    match first {
        "uv" if chosen.contains('|') => BackendChoice::RtaskDefault,
        "uv" | "venv" | "virtualenv" | "none" | "conda" | "mamba" | "micromamba" => {
            BackendChoice::Keep(first.to_string())
        }
        _ => BackendChoice::Unknown,
    }
}

/// Session (base name) -> the sessions that notify it.
fn notified(recording: &Recording) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for declared in &recording.sessions {
        for variant in &declared.variants {
            for notify in &variant.notify {
                found
                    .entry(notified_session(recording, &notify.target))
                    .or_default()
                    .insert(declared.name.clone());
            }
        }
    }
    found
}

/// The session a notify target names: itself, or the session one of whose variants it names
/// (`tests-3.11`, `tests(db='pg')`), whose table then starts after the notifier.
fn notified_session(recording: &Recording, target: &str) -> String {
    recording
        .sessions
        .iter()
        .map(|declared| declared.name.as_str())
        .filter(|name| {
            target == *name
                || target
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['-', '(']))
        })
        .max_by_key(|name| name.len())
        .unwrap_or(target)
        .to_string()
}

fn session(out: &mut String, declared: &Declared, context: &mut Context) {
    let Context {
        recording,
        layout,
        root_text,
        ..
    } = *context;
    let mut notes: Vec<String> = Vec::new();
    let mut backend = declared
        .venv_backend
        .clone()
        .or(context.default_backend.clone());
    if let Some(chosen) = &declared.venv_backend {
        match backend_choice(chosen) {
            BackendChoice::Keep(found) => backend = Some(found),
            BackendChoice::RtaskDefault => {
                notes.push(format!(
                    "venv_backend={chosen:?}: rtask's default (uv when on PATH, else venv)"
                ));
                backend = None;
            }
            BackendChoice::Unknown => {
                notes.push(format!(
                    "not converted: venv_backend={chosen:?} (rtask has no such backend)"
                ));
                backend = None;
            }
        }
    }
    let no_env = backend.as_deref() == Some("none");
    let pythons = match &declared.python {
        Some(PythonSpec::Flag(false)) => Pythons::None,
        Some(PythonSpec::One(version)) => Pythons::Single(version.clone()),
        Some(PythonSpec::Many(versions)) => Pythons::Matrix(versions.clone()),
        None | Some(PythonSpec::Flag(true)) if !no_env => {
            notes.push(format!(
                "nox makes this environment with its own interpreter: written as Python {}, the one that converted it",
                recording.python
            ));
            Pythons::Single(recording.python.clone())
        }
        None | Some(PythonSpec::Flag(true)) => Pythons::None,
    };
    let param_names: Vec<&String> = declared
        .param_groups
        .iter()
        .flat_map(|group| &group.names)
        .collect();
    // Without an environment of its own, `python` may not exist on the host.
    let interpreter = if no_env || matches!(pythons, Pythons::None) {
        "python3"
    } else {
        "python"
    };
    // Values the machine gave, said on the entries written from their line when there are.
    let machine: BTreeMap<u32, Vec<&str>> = declared
        .notes
        .iter()
        .chain(declared.variants.iter().flat_map(|v| v.notes.iter()))
        .filter(|note| note.kind == NoteKind::Machine)
        .fold(BTreeMap::new(), |mut found, note| {
            let texts: &mut Vec<&str> = found.entry(note.line).or_default();
            if !texts.contains(&note.text.as_str()) {
                texts.push(&note.text);
            }
            found
        });
    let placed: BTreeSet<u32> = declared
        .variants
        .iter()
        .flat_map(|v| {
            v.steps
                .iter()
                .map(|s| s.line)
                .chain(v.install.iter().map(|i| i.line))
                .chain(v.env_lines.iter().copied())
        })
        .filter(|line| machine.contains_key(line))
        .collect();
    // A value a shell would quote, filled into a command line, splits or breaks it: every
    // command of the session is then an argv array.
    let form = if declared.variants.iter().any(|variant| {
        variant.call_spec.values().any(|value| {
            let text = py_str(value);
            shell_words::quote(&text) != text
        })
    }) {
        Form::Argv
    } else {
        Form::AsNeeded
    };
    let resolved: Vec<Resolved> = declared
        .variants
        .iter()
        .map(|variant| {
            let mut resolved = resolve(variant, &param_names, root_text, &machine, form);
            if resolved.run.is_empty() {
                resolved.run.push(nothing_run(
                    &declared.name,
                    variant.raised.as_ref(),
                    interpreter,
                ));
            }
            resolved
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut raw_notes: Vec<&Note> = declared.notes.iter().collect();
    raw_notes.extend(declared.variants.iter().flat_map(|v| v.notes.iter()));
    raw_notes.sort_by_key(|note| note.line);
    for note in raw_notes {
        if note.kind == NoteKind::Machine && placed.contains(&note.line) {
            continue;
        }
        if seen.insert(note.text.clone()) {
            notes.push(note.text.clone());
        }
    }
    for keyword in &declared.unknown_keywords {
        notes.push(format!("not converted: `{keyword}=` of @nox.session"));
    }
    let Some(base_index) = most_common(&resolved) else {
        return;
    };
    let base = &resolved[base_index];
    let mut overrides: Vec<(String, Vec<String>)> = Vec::new();
    let mut done_versions = BTreeSet::new();
    for variant in &resolved {
        if same(variant, base) {
            continue;
        }
        if variant.cwd != base.cwd {
            notes.push(
                "the working directory differs between variants: written as for the most common one"
                    .to_string(),
            );
        }
        match (&pythons, &variant.python) {
            (Pythons::Matrix(_), Some(version)) if done_versions.insert(version.clone()) => {
                let same_version: Vec<&Resolved> =
                    resolved.iter().filter(|r| r.python.as_ref() == Some(version)).collect();
                if same_version.iter().any(|r| !same(r, variant)) {
                    notes.push(format!(
                        "the variants of Python {version} differ between parameters: its override is written as for the first of them that differs"
                    ));
                }
                overrides.push((version.clone(), override_lines(variant, base, &mut notes)));
            }
            (Pythons::Matrix(_), Some(_)) => {}
            _ => notes.push(
                "the variants differ between parameters in ways rtask cannot say: written as for the most common one"
                    .to_string(),
            ),
        }
    }
    if base
        .env
        .values()
        .any(|value| absolute_path(value) || value.contains(root_text))
    {
        notes.push("`env` holds an absolute path from this machine: check it".to_string());
    }
    // Each note once, in the order first made.
    let mut seen = BTreeSet::new();
    notes.retain(|note| seen.insert(note.clone()));
    // Header and keys.
    let _ = writeln!(out, "# noxfile.py:{}", declared.line);
    let _ = writeln!(out, "[sessions.{}]", key(&declared.name));
    for note in &notes {
        let _ = writeln!(out, "# {note}");
    }
    if let Some(description) = &declared.description {
        let _ = writeln!(out, "description = {}", string(description));
    }
    match &pythons {
        Pythons::None if matches!(declared.python, Some(PythonSpec::Flag(false))) => {
            out.push_str("python = false\n");
        }
        Pythons::None => {}
        Pythons::Single(version) => {
            let _ = writeln!(out, "python = {}", string(version));
        }
        Pythons::Matrix(versions) => {
            let _ = writeln!(out, "python = {}", string_array(versions));
        }
    }
    if let Some(backend) = &backend {
        let _ = writeln!(out, "venv_backend = {}", string(backend));
    }
    if let Some(params) = &declared.venv_params {
        let _ = writeln!(out, "venv_params = {}", string_array(params));
    }
    if let Some(reuse) = declared.reuse_venv {
        let _ = writeln!(out, "reuse_venv = {reuse}");
    }
    if !declared.tags.is_empty() {
        let _ = writeln!(out, "tags = {}", string_array(&declared.tags));
    }
    // Without `[settings] default`, rtask's bare run takes nox's rule only when a session says
    // `default`: every session says it.
    if !declared.default {
        out.push_str("default = false\n");
    } else if !recording.options.contains_key("sessions") && !recording.options.contains_key("tags")
    {
        out.push_str("default = true\n");
    }
    if !declared.requires.is_empty() {
        let _ = writeln!(out, "requires = {}", string_array(&declared.requires));
    }
    if let Some(notifiers) = context.notified.get(&declared.name) {
        let notifiers: Vec<String> = notifiers.iter().cloned().collect();
        let _ = writeln!(
            out,
            "# nox's session.notify: runs after {}, when they are part of the run; `rtask {}` alone no longer runs it",
            notifiers
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            notifiers[0]
        );
        let _ = writeln!(out, "after = {}", string_array(&notifiers));
    }
    if !declared.param_groups.is_empty() {
        parametrize(out, &declared.param_groups);
    }
    if let Some(cwd) = &base.cwd {
        let _ = writeln!(out, "cwd = {}", string(cwd));
    }
    if !base.env.is_empty() {
        for comment in &base.env_comments {
            let _ = writeln!(out, "# {comment}");
        }
        let _ = writeln!(out, "env = {}", inline_table(&base.env));
    }
    if !base.install.is_empty() {
        entries(out, "install", &base.install);
    }
    entries(out, "run", &base.run);
    let kind = proposal::kind(&base.argvs);
    let sphinx_absolute = base.argvs.iter().any(|argv| {
        argv.first().is_some_and(|p| p == "sphinx-build")
            && argv.last().is_some_and(|a| a.starts_with('/'))
    });
    match kind {
        Some(kind) if !(kind == proposal::Kind::Docs && sphinx_absolute) => {
            let (inputs, outputs) = proposal::propose(
                kind,
                layout,
                &base.requirement_files,
                &base.argvs,
                base.cwd.as_deref(),
            );
            // No inputs found: leave the session uncached rather than cache it on nothing.
            if inputs.is_empty() {
                write_overrides(out, &declared.name, overrides);
                return;
            }
            // An output an earlier session claims: rtask refuses the file, and dropping the
            // output would cache a run without what it wrote, so leave the session uncached.
            if let Some((output, owner)) = outputs
                .iter()
                .find_map(|output| Some((output, context.claimed.get(output)?)))
            {
                let _ = writeln!(
                    out,
                    "# not proposed: `inputs`/`outputs` (`{output}` is proposed as an output of `{owner}`, and a path is the output of one session)"
                );
                write_overrides(out, &declared.name, overrides);
                return;
            }
            for output in &outputs {
                context
                    .claimed
                    .insert(output.clone(), declared.name.clone());
            }
            let _ = writeln!(
                out,
                "inputs = {}  # proposed: check these",
                string_array(&inputs)
            );
            if !outputs.is_empty() {
                let _ = writeln!(
                    out,
                    "outputs = {}  # proposed: check these",
                    string_array(&outputs)
                );
            }
        }
        _ => {}
    }
    write_overrides(out, &declared.name, overrides);
}

/// `parametrize = { ... }`: a key per `@nox.parametrize`, nearest the function first (the
/// order rtask multiplies them in), several names as nox's `"a, b"`, ids as `{ value, id }`.
/// A row holding other values than strings, numbers and booleans is written as its text,
/// named by nox's name for it, so names and placeholders stay as nox makes them.
fn parametrize(out: &mut String, groups: &[ParamGroup]) {
    let mut texts: Vec<String> = Vec::new();
    for group in groups {
        let several = group.names.len() > 1;
        let rows: Vec<String> = group
            .rows
            .iter()
            .map(|row| {
                let (values, id): (Vec<String>, Option<&String>) = if row.plain {
                    (
                        row.values.iter().map(toml_scalar).collect(),
                        row.id.as_ref(),
                    )
                } else {
                    let id = row.id.as_ref().unwrap_or(&row.label);
                    (
                        row.texts.iter().map(|text| string(text)).collect(),
                        Some(id),
                    )
                };
                let value = if several {
                    format!("[{}]", values.join(", "))
                } else {
                    values.join(", ")
                };
                match id {
                    Some(id) => format!("{{ value = {value}, id = {} }}", string(id)),
                    None => value,
                }
            })
            .collect();
        texts.push(format!(
            "{} = [{}]",
            key(&group.names.join(", ")),
            rows.join(", ")
        ));
    }
    if groups.iter().flat_map(|g| &g.rows).any(|row| !row.plain) {
        out.push_str(
            "# parameter values that are not strings, numbers or booleans are written as their text, named as nox names them\n",
        );
    }
    let _ = writeln!(out, "parametrize = {{ {} }}", texts.join(", "));
}

/// The `[sessions.NAME.overrides."VERSION"]` tables.
fn write_overrides(out: &mut String, name: &str, overrides: Vec<(String, Vec<String>)>) {
    for (version, lines) in overrides {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n[sessions.{}.overrides.{}]",
            key(name),
            string(&version)
        );
        for line in lines {
            out.push_str(&line);
        }
    }
}

/// The lines of an override table for `variant` against `base`.
fn override_lines(variant: &Resolved, base: &Resolved, notes: &mut Vec<String>) -> Vec<String> {
    let mut lines = Vec::new();
    if variant.install != base.install {
        let mut text = String::new();
        entries(&mut text, "install", &variant.install);
        lines.push(text);
    }
    if variant.env != base.env {
        if base.env.keys().all(|k| variant.env.contains_key(k)) {
            let changed: BTreeMap<String, String> = variant
                .env
                .iter()
                .filter(|(k, v)| base.env.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            lines.push(format!("env = {}\n", inline_table(&changed)));
        } else {
            notes.push(format!(
                "Python {} leaves out variables of `env` (an override can only add or change them): not converted",
                variant.python.as_deref().unwrap_or("?")
            ));
        }
    }
    if variant.run != base.run {
        let mut text = String::new();
        entries(&mut text, "run", &variant.run);
        lines.push(text);
    }
    lines
}

fn same(a: &Resolved, b: &Resolved) -> bool {
    a.install == b.install && a.run == b.run && a.env == b.env && a.cwd == b.cwd
}

/// The variant most others agree with (the first of equals), as the session's base.
fn most_common(resolved: &[Resolved]) -> Option<usize> {
    (0..resolved.len())
        .rev()
        .max_by_key(|&i| resolved.iter().filter(|r| same(r, &resolved[i])).count())
}

fn entries(out: &mut String, name: &str, entries: &[Entry]) {
    if entries.is_empty() {
        let _ = writeln!(out, "{name} = []");
        return;
    }
    let _ = writeln!(out, "{name} = [");
    for entry in entries {
        for comment in &entry.comments {
            let _ = writeln!(out, "  # {comment}");
        }
        let _ = writeln!(out, "  {},", entry.text);
    }
    out.push_str("]\n");
}

/// How a recorded command is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// A command line, unless an argument would need shell quoting.
    AsNeeded,
    /// Always an argv array: placeholders fill values a line would split.
    Argv,
}

/// A variant's recording with `{python}` and parameter placeholders put back.
fn resolve(
    variant: &Recorded,
    params: &[&String],
    root_text: &str,
    machine: &BTreeMap<u32, Vec<&str>>,
    form: Form,
) -> Resolved {
    let machine_at = |line: u32| -> Vec<String> {
        machine
            .get(&line)
            .map(|texts| texts.iter().map(|text| text.to_string()).collect())
            .unwrap_or_default()
    };
    let mut subs: Vec<(String, String)> = Vec::new();
    if let Some(python) = &variant.python {
        subs.push(("python".to_string(), python.clone()));
    }
    for name in params {
        if let Some(value) = variant.call_spec.get(name.as_str()) {
            subs.push((name.to_string(), py_str(value)));
        }
    }
    subs.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    let template = |text: &str| -> String {
        let mut text = escape(text);
        for (name, value) in &subs {
            text = replace_whole(&text, &escape(value), &format!("{{{name}}}"));
        }
        text
    };
    let mut requirement_files = Vec::new();
    let install = variant
        .install
        .iter()
        .flat_map(|install| {
            let mut found = install_entries(install, &mut requirement_files);
            if let Some(first) = found.first_mut() {
                first.1.splice(0..0, machine_at(install.line));
            }
            found
        })
        .map(|(text, comments)| Entry {
            // A marker compares versions: `{python}` there would read as a coincidence.
            text: string(&if text.contains(';') {
                escape(&text)
            } else {
                template(&text)
            }),
            comments,
        })
        .collect();
    let run = variant
        .steps
        .iter()
        .map(|step| {
            let mut entry = command(step, &template, root_text, form);
            entry.comments.splice(0..0, machine_at(step.line));
            entry
        })
        .collect();
    let env = variant
        .env
        .iter()
        .map(|(k, v)| (k.clone(), template(v)))
        .collect();
    let mut env_lines = variant.env_lines.clone();
    env_lines.dedup();
    Resolved {
        python: variant.python.clone(),
        install,
        run,
        env,
        env_comments: env_lines.into_iter().flat_map(machine_at).collect(),
        cwd: variant.cwd.as_ref().map(|cwd| template(&cwd.path)),
        argvs: variant.steps.iter().map(|step| step.args.clone()).collect(),
        requirement_files,
    }
}

/// The `run` of a variant that recorded no command, which rtask would refuse: a command that
/// fails saying so when the function raised first, else one that does nothing, as nox did.
fn nothing_run(name: &str, raised: Option<&Raised>, interpreter: &str) -> Entry {
    let (code, comment) = match raised {
        Some(raised) => (
            format!(
                "raise SystemExit('session `{}` was not converted: it raised {} at noxfile.py:{}')",
                name.replace('\\', "\\\\").replace('\'', "\\'"),
                raised.error,
                raised.line
            ),
            format!(
                "not converted: the session raised at noxfile.py:{} before any command; this one fails until it is written by hand",
                raised.line
            ),
        ),
        None => (
            "pass".to_string(),
            "the session runs no command: this one does nothing, as in nox".to_string(),
        ),
    };
    let argv = [interpreter.to_string(), "-c".to_string(), escape(&code)];
    Entry {
        text: string_array(&argv),
        comments: vec![comment],
    }
}

/// An `install` argument as written: bare when it splits back to itself (`"pytest>=8"`,
/// `"coverage[toml]>=7"`), shell-quoted only when it would not (spaces, quotes).
fn install_word(arg: &str) -> String {
    match shell_words::split(arg) {
        Ok(words) if words == [arg] => arg.to_string(),
        _ => shell_words::quote(arg),
    }
}

/// One `session.install(...)` call as `install` entries: pip options joined with their value.
fn install_entries(
    install: &Install,
    requirement_files: &mut Vec<String>,
) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut args = install.args.iter();
    while let Some(arg) = args.next() {
        if arg.contains(';') {
            found.push((arg.clone(), Vec::new()));
        } else if OPTIONS_WITH_VALUE.contains(&arg.as_str()) {
            let value = args.next().cloned().unwrap_or_default();
            if matches!(arg.as_str(), "-r" | "--requirement") {
                requirement_files.push(value.clone());
            }
            found.push((format!("{arg} {}", install_word(&value)), Vec::new()));
        } else {
            found.push((install_word(arg), Vec::new()));
        }
    }
    for (text, comments) in &mut found {
        if absolute_path(text) {
            comments.push(format!(
                "an absolute path from this machine at noxfile.py:{}: check it",
                install.line
            ));
        }
    }
    if !install.options.is_empty() {
        if let Some(first) = found.first_mut() {
            first.1.push(format!(
                "not converted: {} of session.install at noxfile.py:{}",
                install.options.join(", "),
                install.line
            ));
        }
    }
    found
}

/// One `session.run(...)` as a `run` entry.
fn command(step: &Step, template: &dyn Fn(&str) -> String, root_text: &str, form: Form) -> Entry {
    let mut comments = Vec::new();
    match step.kind {
        StepKind::Run => {}
        StepKind::RunInstall => comments.push(format!(
            "session.run_install at noxfile.py:{}: runs with the other commands (nox runs it while installing)",
            step.line
        )),
        StepKind::RunAlways => comments.push(format!(
            "session.run_always at noxfile.py:{}: runs with the other commands",
            step.line
        )),
    }
    if step.silent {
        comments.push(format!("`silent=True` at noxfile.py:{} dropped", step.line));
    }
    let machine = |text: &str| absolute_path(text) || text.contains(root_text);
    if step.args.iter().any(|a| machine(a)) || step.env.values().any(|v| machine(v)) {
        comments.push(format!(
            "an absolute path from this machine at noxfile.py:{}: check it",
            step.line
        ));
    }
    // An argument holding a quote or a backslash reads as the noxfile wrote it only in an argv
    // array: a line would need shell quoting around it.
    let argv = form == Form::Argv || step.args.iter().any(|arg| arg.contains(['\'', '"', '\\']));
    let mut words: Vec<String> = step
        .args
        .iter()
        .map(|arg| {
            if argv {
                template(arg)
            } else {
                template(&shell_words::quote(arg))
            }
        })
        .collect();
    if let Some(posargs) = &step.posargs {
        let token = if posargs.default.is_empty() {
            "{posargs}".to_string()
        } else {
            let default: Vec<String> = posargs
                .default
                .iter()
                .map(|w| shell_words::quote(w))
                .collect();
            let default = default.join(" ");
            if default.contains('}') {
                comments.push(format!(
                    "the default posargs at noxfile.py:{} contain `}}`: left out",
                    step.line
                ));
                "{posargs}".to_string()
            } else {
                format!("{{posargs:{default}}}")
            }
        };
        words.insert(posargs.at.min(words.len()), token);
    }
    let line = if argv {
        string_array(&words)
    } else {
        string(&words.join(" "))
    };
    let text = if step.external || !step.env.is_empty() || step.success_codes.is_some() {
        let mut parts = vec![format!("cmd = {line}")];
        if step.external {
            parts.push("external = true".to_string());
        }
        if !step.env.is_empty() {
            let env: BTreeMap<String, String> = step
                .env
                .iter()
                .map(|(k, v)| (k.clone(), template(v)))
                .collect();
            parts.push(format!("env = {}", inline_table(&env)));
        }
        if let Some(codes) = &step.success_codes {
            let codes: Vec<String> = codes.iter().map(i64::to_string).collect();
            parts.push(format!("success_codes = [{}]", codes.join(", ")));
        }
        format!("{{ {} }}", parts.join(", "))
    } else {
        line
    };
    Entry { text, comments }
}

fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

fn string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn string_array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| string(item)).collect();
    format!("[{}]", items.join(", "))
}

fn inline_table(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), string(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// A TOML key: bare when it can be.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_string()
    } else {
        string(name)
    }
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn toml_scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => string(text),
        other => other.to_string(),
    }
}

/// As Python's `str` of the value.
fn py_str(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Bool(true) => "True".to_string(),
        serde_json::Value::Bool(false) => "False".to_string(),
        serde_json::Value::Null => "None".to_string(),
        other => json_text(other),
    }
}

/// `text` with each occurrence of `value` that is not part of a longer number or word replaced:
/// `-n{n}` from `-n1` and `py{python}` from `py3.11`, but `--maxfail=10` stays, as `1` there is
/// part of `10`.
fn replace_whole(text: &str, value: &str, with: &str) -> String {
    if value.is_empty() {
        return text.to_string();
    }
    // A digit continues a number, a letter or digit continues a word.
    let joins = |edge: Option<char>, next: Option<char>| match (edge, next) {
        (Some(edge), Some(next)) if edge.is_ascii_digit() => next.is_ascii_digit(),
        (Some(edge), Some(next)) if edge.is_alphanumeric() => next.is_alphanumeric(),
        _ => false,
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(value) {
        let before = rest[..at]
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back());
        let after = rest[at + value.len()..].chars().next();
        out.push_str(&rest[..at]);
        if !joins(value.chars().next(), before) && !joins(value.chars().next_back(), after) {
            out.push_str(with);
        } else {
            out.push_str(value);
        }
        rest = &rest[at + value.len()..];
    }
    out.push_str(rest);
    out
}

/// Whether `text` is or holds an absolute path: `/tmp/x`, `-e /home/me/x`, `--basetemp=/home/me`,
/// `PATH`-like `a:/usr/bin` (a URL is not one).
fn absolute_path(text: &str) -> bool {
    text.split_whitespace().any(|word| {
        word.starts_with('/')
            || word.contains("=/")
            || (word.contains(":/") && !word.contains("://"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_take_whole_values_only() {
        assert_eq!(
            replace_whole("--maxfail=10 -n1", "1", "{n}"),
            "--maxfail=10 -n{n}"
        );
        assert_eq!(
            replace_whole(".cov.x86_64.3.11", "3.11", "{python}"),
            ".cov.x86_64.{python}"
        );
        assert_eq!(
            replace_whole("3.11 3.111 13.11 py3.11", "3.11", "{p}"),
            "{p} 3.111 13.11 py{p}"
        );
        assert_eq!(replace_whole("db=pg pgx", "pg", "{db}"), "db={db} pgx");
        assert_eq!(replace_whole("x", "", "{p}"), "x");
    }

    #[test]
    fn absolute_paths_are_seen_inside_options() {
        assert!(absolute_path("/tmp/x"));
        assert!(absolute_path("--basetemp=/home/me"));
        assert!(absolute_path("bin:/usr/bin"));
        assert!(absolute_path("-e /home/me/x"));
        assert!(!absolute_path("https://example.com/x"));
        assert!(!absolute_path("tests/unit"));
    }

    #[test]
    fn install_words_split_back_to_the_same_argument() {
        for (arg, written) in [
            ("coverage[toml]>=7.10.3", "coverage[toml]>=7.10.3"),
            ("pytest<8", "pytest<8"),
            ("-e.[tox-to-nox,pbs]", "-e.[tox-to-nox,pbs]"),
            ("pytest >= 8", "'pytest >= 8'"),
            ("it's", "'it'\\''s'"),
            ("a\\b", "'a\\b'"),
            (">", "'>'"),
            ("", "''"),
        ] {
            assert_eq!(install_word(arg), written, "{arg}");
            assert_eq!(
                shell_words::split(written).unwrap(),
                [arg],
                "{written} splits back"
            );
        }
    }
}

//! `rtask schema`: the JSON Schema of `tasks.toml`, generated from the wire types the loader
//! reads ([`crate::taskfile`]), for editors. The keys the derive cannot read (spans, values read
//! by hand) are described here, as the loader checks them.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use crate::exit::Exit;
use crate::taskfile::wire::{WireFile, WireSession};

/// Where the committed copy (`docs/tasks-toml.schema.json`) is published.
const ID: &str =
    "https://raw.githubusercontent.com/YOUR-ORG/rtask/main/docs/tasks-toml.schema.json";

/// A version `python` accepts, as `crate::variant::valid_version` reads it: `3.12`, `3.11.7`,
/// `3.13t`, `pypy3.10`, `pypy-3.11`.
const PYTHON_VERSION: &str = r"^([0-9]+(\.[0-9]+){0,2}t?|[a-z]+-?[0-9]+(\.[0-9]+){0,2})$";

/// Print the schema on stdout.
pub(crate) fn run() -> Result<Exit, crate::error::Error> {
    crate::error::print_stdout(render().as_bytes())?;
    Ok(Exit::Success)
}

/// The schema, pretty-printed (keys sorted) with a final newline.
pub(crate) fn render() -> String {
    let mut schema = SchemaGenerator::default().into_root_schema_for::<WireFile>();
    schema.insert("$id".to_string(), ID.into());
    // A `Value` keeps its keys sorted, whatever order the generator wrote them in.
    let mut value = schema.to_value();
    tidy(&mut value);
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Fit the derive's output to TOML and to editors: drop the `null` it allows for `Option`
/// fields (TOML has no null; a file leaves a setting out by leaving its key out), and join
/// the lines of descriptions taken from wrapped doc comments.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for key in ["type", "enum"] {
                if let Some(Value::Array(items)) = object.get_mut(key) {
                    items.retain(|item| item != "null" && !item.is_null());
                }
            }
            if let Some(Value::Array(types)) = object.get_mut("type") {
                if let [single] = types.as_mut_slice() {
                    let single = single.take();
                    object.insert("type".to_string(), single);
                }
            }
            if let Some(Value::Array(alternatives)) = object.get_mut("anyOf") {
                alternatives.retain(|alternative| alternative.get("type") != Some(&"null".into()));
                if let [Value::Object(single)] = alternatives.as_slice() {
                    let single = single.clone();
                    object.remove("anyOf");
                    object.extend(single);
                }
            }
            if let Some(Value::String(description)) = object.get_mut("description") {
                *description = description.replace('\n', " ");
            }
            object.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// `[env]` and the `env` tables: variable names (not empty, no `=`) to strings.
pub(crate) enum Env {}

impl JsonSchema for Env {
    fn schema_name() -> Cow<'static, str> {
        "Env".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Environment variables: names (not empty, no `=`) to strings.",
            "type": "object",
            "propertyNames": { "minLength": 1, "pattern": "^[^=]*$" },
            "additionalProperties": { "type": "string" },
        })
    }
}

/// `[sessions.NAME]`, with the names `check_session_name` accepts.
pub(crate) enum Sessions {}

impl JsonSchema for Sessions {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Sessions".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.:-]*$" },
            "additionalProperties": generator.subschema_for::<WireSession>(),
        })
    }
}

/// `success_codes`: exit codes, at least one.
pub(crate) enum ExitCodes {}

impl JsonSchema for ExitCodes {
    fn schema_name() -> Cow<'static, str> {
        "ExitCodes".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Exit codes (0 to 255) that count as success.",
            "type": "array",
            "minItems": 1,
            "items": { "type": "integer", "minimum": 0, "maximum": 255 },
        })
    }
}

/// `python`: `false`, a version, or a non-empty list of versions.
pub(crate) enum Python {}

impl JsonSchema for Python {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Python".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "const": false },
                { "type": "string", "pattern": PYTHON_VERSION },
                {
                    "type": "array",
                    "minItems": 1,
                    "items": { "type": "string", "pattern": PYTHON_VERSION },
                },
            ],
        })
    }
}

/// `venv_backend`: the backends `taskfile::python::backend` knows.
pub(crate) enum VenvBackend {}

impl JsonSchema for VenvBackend {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "VenvBackend".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "enum": ["uv", "venv", "virtualenv", "conda", "mamba", "micromamba", "none"],
        })
    }
}

/// `[settings] replay`: the modes [`crate::replay::ReplayMode`] knows.
pub(crate) enum Replay {}

impl JsonSchema for Replay {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Replay".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": ["full", "errors", "none"] })
    }
}

/// `parametrize`: each key to a non-empty list of values, rows (arrays of values, for a key
/// naming several parameters) or `{ value, id }` tables.
pub(crate) enum Parametrize {}

impl JsonSchema for Parametrize {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Parametrize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let scalar = json_schema!({ "type": ["string", "number", "boolean"] });
        let value = json_schema!({
            "anyOf": [scalar, { "type": "array", "items": scalar }],
        });
        json_schema!({
            "type": "object",
            "propertyNames": {
                "pattern": r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(,\s*[A-Za-z_][A-Za-z0-9_]*\s*)*$",
            },
            "additionalProperties": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "anyOf": [
                        value,
                        {
                            "type": "object",
                            "properties": {
                                "value": value,
                                "id": { "type": "string", "minLength": 1 },
                            },
                            "required": ["value"],
                            "additionalProperties": false,
                        },
                    ],
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_json_with_an_id_and_a_title() {
        let value: serde_json::Value = serde_json::from_str(&render()).expect("the schema is JSON");
        assert_eq!(value["$id"], ID);
        assert_eq!(value["title"], "tasks.toml");
    }
}

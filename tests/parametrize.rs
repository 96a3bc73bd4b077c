//! `parametrize` as nox writes it: several names in one key (rows), ids, stacked keys, checked
//! against the real `nox -l --json`; placeholders; and the errors.

use serde_json::Value;

use crate::errors::refuses;
use crate::support::Project;

const TASKS: &str = r#"
[sessions.a]
python = false
run = ["echo a {db}"]
parametrize = { db = [{ value = "sqlite", id = "lite" }, { value = "pg", id = "post" }] }

[sessions.b]
python = ["3.11", "3.12"]
run = ["echo b {db} {version}"]
parametrize = { "db, version" = [["sqlite", 1], ["pg", 2]] }

[sessions.c]
python = false
run = ["echo c {db} {n}"]
parametrize = { n = [1, 2], db = [{ value = "sqlite", id = "lite" }, { value = "pg", id = "post" }] }

[sessions.d]
python = false
run = ["echo d {db} {n}"]
parametrize = { n = [{ value = 1, id = "one" }, 2], db = [{ value = "sqlite", id = "lite" }, "pg"] }

[sessions.e]
python = ["3.12"]
run = ["echo e {db} {version}"]
parametrize = { "db,version" = [{ value = ["sqlite", 1], id = "lite" }, ["pg", 2]] }

[sessions.f]
python = "3.12"
run = ["echo f {x}"]
parametrize = { x = [{ value = 1, id = "one" }] }
"#;

/// The same sessions, as nox writes them.
const NOXFILE: &str = r#"
import nox

@nox.session(python=False)
@nox.parametrize("db", ["sqlite", "pg"], ids=["lite", "post"])
def a(session, db): pass

@nox.session(python=["3.11", "3.12"])
@nox.parametrize("db, version", [("sqlite", 1), ("pg", 2)])
def b(session, db, version): pass

@nox.session(python=False)
@nox.parametrize("db", ["sqlite", "pg"], ids=["lite", "post"])
@nox.parametrize("n", [1, 2])
def c(session, db, n): pass

@nox.session(python=False)
@nox.parametrize("db", [nox.param("sqlite", id="lite"), "pg"])
@nox.parametrize("n", [nox.param(1, id="one"), 2])
def d(session, db, n): pass

@nox.session(python=["3.12"])
@nox.parametrize("db,version", [nox.param("sqlite", 1, id="lite"), ("pg", 2)])
def e(session, db, version): pass

@nox.session(python="3.12")
@nox.parametrize("x", [1], ids=["one"])
def f(session, x): pass
"#;

fn nox_list(project: &Project) -> Vec<Value> {
    let output = crate::support::tool("nox")
        .args(["-l", "--json"])
        .current_dir(project.root())
        .env_remove("CI")
        .output()
        .expect("nox is installed by .ci/prepare");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn rows_ids_and_stacked_keys_list_as_nox_lists_them() {
    let project = Project::with_tasks(TASKS);
    project.write("noxfile.py", NOXFILE);
    let theirs = nox_list(&project);
    let run = project.rtask(&["-l", "--json"]);
    run.success();
    let ours: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let names = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|s| s["session"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&ours), names(&theirs), "same names, same order");
    for (ours, theirs) in ours.iter().zip(&theirs) {
        for field in ["name", "python", "call_spec"] {
            assert_eq!(
                ours[field], theirs[field],
                "`{field}` of {}",
                theirs["session"]
            );
        }
        // nox keeps the call spec's order: the names as the key and the stacking give them.
        let keys = |value: &Value| -> Vec<String> {
            value["call_spec"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(keys(ours), keys(theirs), "{}", theirs["session"]);
    }
    // The names the listing shows are the names that select.
    assert!(names(&ours).contains(&"c(n=2, lite)".to_string()));
    assert!(names(&ours).contains(&"e-3.12(lite)".to_string()));
}

#[test]
fn ids_name_the_variant_and_placeholders_get_the_values() {
    let project = Project::with_tasks(
        r#"
[sessions.c]
run = ["echo c {db} {n}"]
parametrize = { n = [1, 2], db = [{ value = "sqlite", id = "lite" }, { value = "pg", id = "post" }] }

[sessions.e]
run = ["echo e {db} {version}"]
parametrize = { "db,version" = [{ value = ["sqlite", 1], id = "lite" }, ["pg", 2]] }
"#,
    );
    project
        .rtask(&["c(n=2, lite)"])
        .success()
        .stdout_has("c sqlite 2\n")
        .stdout_lacks("c pg")
        .stdout_lacks("c sqlite 1");
    project
        .rtask(&["e(lite)", "e(db='pg', version=2)"])
        .success()
        .stdout_has("e sqlite 1\n")
        .stdout_has("e pg 2\n");
    project
        .rtask(&["-k", "post"])
        .success()
        .stdout_has("c pg 1\n")
        .stdout_has("c pg 2\n")
        .stdout_lacks("sqlite");
    // `-s` splits at commas, but not inside a name's parentheses.
    project
        .rtask(&[
            "-s",
            "c(n=2, lite),e(db='pg', version=2)",
            "-e",
            "c(n=1, post)",
        ])
        .success()
        .stdout_has("c sqlite 2\n")
        .stdout_has("e pg 2\n")
        .stdout_has("c pg 1\n")
        .stdout_lacks("c sqlite 1")
        .stdout_lacks("e sqlite");
}

#[test]
fn rows_and_ids_are_checked_where_written() {
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\n\"db, version\" = [[\"a\", 1], [\"b\"]]\n",
        "4:28",
        "this row has 1 values for the 2 names of `db, version`",
        "write one value per name",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\n\"db, version\" = [\"a\"]\n",
        "4:18",
        "a row of `db, version` must be an array of 2 values",
        "write one value per name",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\ndb = [{ value = \"a\", id = 1 }]\n",
        "4:27",
        "the id `1` is not a name",
        "write `id = \"NAME\"`",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\ndb = [{ value = \"a\", name = \"x\" }]\n",
        "4:22",
        "unknown key `name`",
        "valid keys here: `value`, `id`",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\ndb = [\"a\"]\n\"db, n\" = [[\"a\", 1]]\n",
        "5:1",
        "parameter `db` is named twice",
        "each parameter is named by one key",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\n\"db, db\" = [[\"a\", \"b\"]]\n",
        "4:1",
        "parameter `db` is named twice",
        "each parameter is named by one key",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\n\"db,\" = [\"a\"]\n",
        "4:1",
        "`db,` has an empty parameter name",
        "write several as `\"a, b\"`",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\n[sessions.t.parametrize]\ndb = [[\"a\"]]\n",
        "4:7",
        "values of parameter `db` must be strings, numbers or booleans",
        "{ value = ..., id = \"NAME\" }",
    );
    errors(
        "[sessions.t]\nrun = [\"true\"]\nparametrize = { db = [{ value = \"a\", id = \"\" }] }\n",
        "3:43",
        "the id `\"\"` is not a name",
        "a non-empty string",
    );
}

#[track_caller]
fn errors(tasks: &str, location: &str, message: &str, hint: &str) {
    refuses(&Project::with_tasks(tasks), location, message, hint);
}

//! Task files that would let the cache serve a false hit or damage the project: where the cache
//! lives, outputs that hold their own inputs, exit codes, outputs aliased through symlinks.

use crate::errors::refuses;
use crate::support::Project;

#[test]
fn success_codes_outside_0_255_are_refused() {
    let hint = "exit codes run from 0 to 255";
    for (codes, location, value) in [
        ("[0, 256]", "3:21", "256"),
        ("[-1]", "3:18", "-1"),
        ("[0, 5, 4294967296]", "3:24", "4294967296"),
    ] {
        let project = Project::with_tasks(&format!(
            "[sessions.a]\nrun = [\"true\"]\nsuccess_codes = {codes}\n"
        ));
        refuses(
            &project,
            location,
            &format!("`{value}` in `success_codes` is not an exit code"),
            hint,
        );
    }
    let project = Project::with_tasks(
        "[sessions.a]\nrun = [\"exit 255\"]\nshell = true\nsuccess_codes = [0, 255]\n",
    );
    project.rtask(&["a"]).success();
}

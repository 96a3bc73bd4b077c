//! The help pages, pinned: what each says, with its examples kept as written at any width,
//! and all of them available outside any project.

use crate::support::Project;

/// The help pages: the arguments that print them, and their snapshots' names.
const PAGES: [(&[&str], &str); 7] = [
    (&["--help"], "run_long"),
    (&["-h"], "run_short"),
    (&["cache", "--help"], "cache"),
    (&["cache", "export", "--help"], "cache_export"),
    (&["init", "--help"], "init"),
    (&["schema", "--help"], "schema"),
    (&["completions", "--help"], "completions"),
];

fn help(project: &Project, args: &[&str], columns: &str) -> String {
    let run = project.rtask_env(args, &[("COLUMNS", columns)]);
    run.success();
    assert_eq!(run.stderr, "", "{args:?} printed on stderr");
    run.stdout
}

/// The lines from `Examples:` to the end: the part clap must not reflow.
fn examples(page: &str) -> &str {
    page.find("Example").map_or("", |at| &page[at..])
}

#[test]
fn every_help_page_is_pinned_and_needs_no_project() {
    // No tasks.toml here or above: help never looks for one.
    let project = Project::new();
    for (args, name) in PAGES {
        let page = help(&project, args, "100");
        insta::assert_snapshot!(name, page);
    }
}

#[test]
fn examples_are_printed_as_written_at_any_width() {
    let project = Project::new();
    for (args, _) in PAGES {
        let wide = help(&project, args, "100");
        let narrow = help(&project, args, "40");
        if args.contains(&"export") {
            assert_eq!(examples(&wide), "", "{args:?} has no examples");
            continue;
        }
        assert!(!examples(&wide).is_empty(), "{args:?} shows no examples");
        assert_eq!(
            examples(&narrow),
            examples(&wide),
            "{args:?} reflowed its examples"
        );
    }
}

//! A model-based test of the cache's decisions: random edits to a generated tree, and after each
//! step rtask's decision (restore or run) compared with an oracle that reads every input from
//! scratch, with git deciding what `.gitignore` ignores and no stat cache.
//!
//! `RTASK_MODEL_SEED` replays a seed and `RTASK_MODEL_STEPS` sets the number of steps; see
//! docs/testing.md.

mod edits;
mod oracle;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{Project, Run};
use edits::Snapshot;
use oracle::{State, git, isolate_git};

/// One session keyed on everything below `src/` and on `MODE`. Neither the counter `.runs` nor
/// the script lies below `src/`.
const TASKS: &str = r#"
[sessions.build]
shell = true
run = ["echo run >> .runs", "sh build.sh > out.txt"]
inputs = ["src/**"]
outputs = ["out.txt"]
env_inputs = ["MODE"]
"#;

/// What a run writes: every input file git would list, in byte order, with its kind, its path
/// and its content, then `MODE`. [`State::output`] computes the same bytes.
const BUILD_SH: &str = r#"git ls-files -co --exclude-standard -- src | LC_ALL=C sort | while IFS= read -r f; do
  if [ -L "$f" ]; then
    printf 'link %s -> %s\n' "$f" "$(readlink "$f")"
    if [ -f "$f" ]; then cat "$f"; fi
  elif [ -x "$f" ]; then
    printf 'exec %s\n' "$f"; cat "$f"
  else
    printf 'file %s\n' "$f"; cat "$f"
  fi
done
printf 'MODE %s\n' "${MODE-(unset)}"
"#;

/// Steps when `RTASK_MODEL_STEPS` is not set: about 35 s of a debug build on an idle 2-core
/// machine (about 30 ms a step, most of it in the processes the step starts).
const DEFAULT_STEPS: usize = 1000;

/// Whether `MODE` takes values that are not UTF-8 unless `RTASK_MODEL_NON_UTF8` says otherwise
/// (issue 8, story 8: rtask once counted such a value as unset and restored the result of a
/// run without `MODE`).
const NON_UTF8_MODE: bool = true;

/// Whether a `.gitignore` may be a symlink unless `RTASK_MODEL_SYMLINKED_GITIGNORES` says
/// otherwise (git ≥ 2.32 never follows a symlinked `.gitignore`; rtask once read the file it
/// leads to and ignored files git counts).
const SYMLINKED_GITIGNORES: bool = true;

/// How many earlier steps a failure shows.
const SHOWN_HISTORY: usize = 12;

#[test]
fn decisions_match_an_oracle_over_random_edits() {
    explore(&Settings::from_env());
}

/// Seed 51 with symlinked `.gitignore` files: at step 77 `src/.gitignore` becomes a symlink to
/// `src/lib/.gitignore`, which holds `*`; at step 79 `src/gen/b.txt` changes. git never follows a
/// symlinked `.gitignore` and lists the file; rtask read the link, ignored every file below
/// `src/` and restored the result of step 78.
#[test]
fn a_symlinked_gitignore_hides_no_input() {
    explore(&Settings {
        seed: 51,
        steps: 79,
        non_utf8: false,
        symlinked_gitignores: true,
    });
}

/// Runs the model for `settings.steps` steps.
fn explore(settings: &Settings) {
    // Printed first, so that any failure shows it.
    eprintln!("model: {}", settings.replay());
    let mut model = Model::new(settings);
    for step in 1..=settings.steps {
        model.step(step);
    }
    eprintln!(
        "model: {} steps: {} runs, {} restores, {} states stored",
        settings.steps,
        model.runs,
        model.hits,
        model.stored.len()
    );
}

#[derive(Clone)]
struct Settings {
    seed: u64,
    steps: usize,
    /// Whether `MODE` takes values that are not UTF-8.
    non_utf8: bool,
    /// Whether `.gitignore` files may be symlinks.
    symlinked_gitignores: bool,
}

impl Settings {
    // The test's knobs come from its own environment, not rtask's.
    #[allow(clippy::disallowed_methods)]
    fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let seed = var("RTASK_MODEL_SEED").map_or_else(
            || {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                now.as_secs() ^ (u64::from(now.subsec_nanos()) << 20)
            },
            |seed| seed.parse().expect("RTASK_MODEL_SEED is a number"),
        );
        let steps = var("RTASK_MODEL_STEPS").map_or(DEFAULT_STEPS, |steps| {
            steps.parse().expect("RTASK_MODEL_STEPS is a number")
        });
        let flag = |name: &str, default: bool| var(name).map_or(default, |on| on == "1");
        Settings {
            seed,
            steps,
            non_utf8: flag("RTASK_MODEL_NON_UTF8", NON_UTF8_MODE),
            symlinked_gitignores: flag("RTASK_MODEL_SYMLINKED_GITIGNORES", SYMLINKED_GITIGNORES),
        }
    }

    /// The variables that replay these settings for `steps` steps.
    fn replay_steps(&self, steps: usize) -> String {
        let mut line = format!("RTASK_MODEL_SEED={} RTASK_MODEL_STEPS={steps}", self.seed);
        for (name, on) in [
            ("RTASK_MODEL_NON_UTF8", self.non_utf8),
            (
                "RTASK_MODEL_SYMLINKED_GITIGNORES",
                self.symlinked_gitignores,
            ),
        ] {
            line.push_str(&format!(" {name}={}", u8::from(on)));
        }
        line
    }

    fn replay(&self) -> String {
        self.replay_steps(self.steps)
    }
}

/// SplitMix64: small, fast and good enough to pick edits.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    /// True with probability `percent` %.
    fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Some bytes of printable text, sometimes with newlines, never exactly `len_not` long.
    fn content(&mut self, len_not: Option<usize>) -> Vec<u8> {
        const ALPHABET: &[u8] = b"abcxyz019 .-\n";
        let len = loop {
            let len = self.below(48);
            if Some(len) != len_not {
                break len;
            }
        };
        (0..len).map(|_| *self.pick(ALPHABET)).collect()
    }
}

/// What rtask did in a step, read from the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Restore,
    Run,
}

struct Model {
    project: Project,
    rng: Rng,
    settings: Settings,
    mode: Option<Vec<u8>>,
    /// Every state a run stored, with the step that stored it.
    stored: HashMap<State, usize>,
    /// What the last steps did.
    history: VecDeque<String>,
    /// Every content each path held, for reverting a file.
    contents: BTreeMap<String, Vec<Vec<u8>>>,
    /// The trees after the most recent steps, for reverting the whole tree.
    snapshots: VecDeque<Snapshot>,
    runs: usize,
    hits: usize,
}

impl Model {
    fn new(settings: &Settings) -> Model {
        let project = Project::with_tasks(TASKS);
        project.write("build.sh", BUILD_SH);
        let root = project.root();
        let init = git(root).args(["init", "-q"]).status().unwrap();
        assert!(init.success(), "git init failed");
        let config = git(root)
            .args(["config", "core.excludesFile", "/dev/null"])
            .status()
            .unwrap();
        assert!(config.success(), "git config failed");
        // Whatever the machine's git template put there.
        fs::write(root.join(".git/info/exclude"), "").unwrap();
        let mut model = Model {
            project,
            rng: Rng(settings.seed),
            settings: settings.clone(),
            mode: None,
            stored: HashMap::new(),
            history: VecDeque::new(),
            contents: BTreeMap::new(),
            snapshots: VecDeque::new(),
            runs: 0,
            hits: 0,
        };
        for _ in 0..6 {
            model.create();
        }
        model
    }

    fn root(&self) -> &Path {
        self.project.root()
    }

    /// Applies some edits, runs rtask and compares its decision with the oracle's.
    fn step(&mut self, step: usize) {
        let mut done = Vec::new();
        let edits = match self.rng.below(100) {
            0..8 => 0,
            8..78 => 1,
            78..93 => 2,
            _ => 3,
        };
        for _ in 0..edits {
            done.push(self.edit());
        }
        if edits == 0 {
            done.push("nothing".to_string());
        }
        match self.rng.below(100) {
            0..10 => {
                let _ = fs::remove_file(self.root().join("out.txt"));
                done.push("delete out.txt".to_string());
            }
            10..14 => done.push(self.spoil_output()),
            _ => {}
        }
        self.history
            .push_back(format!("step {step}: {}", done.join("; ")));
        if self.history.len() > SHOWN_HISTORY {
            self.history.pop_front();
        }
        self.check(step);
        self.snapshot(step);
    }

    fn check(&mut self, step: usize) {
        let state = State::read(self.root(), self.mode.as_deref());
        let expected = match self.stored.get(&state) {
            Some(_) => Decision::Restore,
            None => Decision::Run,
        };
        let before = self.project.count(".runs");
        let run = self.run();
        let decision = match self.project.count(".runs") - before {
            0 => Decision::Restore,
            1 => Decision::Run,
            n => self.fail(step, &state, expected, &run, &format!("ran {n} times")),
        };
        if run.code != 0 {
            self.fail(step, &state, expected, &run, "rtask failed");
        }
        if decision != expected {
            self.fail(
                step,
                &state,
                expected,
                &run,
                &format!("rtask chose {decision:?}"),
            );
        }
        let output = fs::read(self.root().join("out.txt")).unwrap_or_default();
        if output != state.output() {
            let why = format!(
                "after {decision:?}, out.txt is\n{}\ninstead of\n{}",
                String::from_utf8_lossy(&output),
                String::from_utf8_lossy(&state.output())
            );
            self.fail(step, &state, expected, &run, &why);
        }
        match decision {
            Decision::Restore => self.hits += 1,
            Decision::Run => {
                self.runs += 1;
                // Nothing changes the inputs while the session runs: a result not stored is
                // a wrong decision too.
                if run.stderr.contains("not cached") || run.stderr.contains("cannot store") {
                    self.fail(
                        step,
                        &state,
                        expected,
                        &run,
                        "rtask did not store the result",
                    );
                }
                self.stored.insert(state, step);
            }
        }
    }

    fn run(&self) -> Run {
        let mut command = self.project.command(&["build"]);
        isolate_git(&mut command);
        command.env_remove("MODE");
        if let Some(mode) = &self.mode {
            command.env("MODE", OsString::from_vec(mode.clone()));
        }
        Run::from(command.output().unwrap())
    }

    /// Reports a disagreement, with what it takes to replay it, and keeps the project.
    fn fail(&mut self, step: usize, state: &State, expected: Decision, run: &Run, what: &str) -> ! {
        let mut report = format!(
            "model disagreement at step {step} of seed {}: {what}\n\
             replay: {} cargo test --locked decisions_match_an_oracle_over_random_edits\n\
             the oracle expected {expected:?}",
            self.settings.seed,
            self.settings.replay_steps(step),
        );
        match self.stored.get(state) {
            Some(stored) => {
                let _ = writeln!(report, ": this state was stored at step {stored}");
            }
            None => {
                let closest = self
                    .stored
                    .iter()
                    .map(|(other, at)| (state.differences(other), *at))
                    .min_by_key(|(differences, at)| (differences.len(), usize::MAX - at));
                let _ = match closest {
                    Some((differences, at)) => writeln!(
                        report,
                        ": no run stored this state; the closest stored (step {at}) differs in {}",
                        differences.join(", ")
                    ),
                    None => writeln!(report, ": nothing was stored yet"),
                };
            }
        }
        let _ = writeln!(report, "the last steps:");
        for line in &self.history {
            let _ = writeln!(report, "  {line}");
        }
        let _ = writeln!(report, "the inputs (git's listing, read from scratch):");
        report.push_str(&state.describe());
        let _ = writeln!(report, "rtask said:\n{run}");
        let _ = writeln!(report, "the project is kept in {}", self.root().display());
        self.project.keep();
        panic!("{report}");
    }
}

//! The table that closes every run.

use std::time::Duration;

use super::style::{self, Painter, Style};
use super::words;
use crate::reporter::Outcome;

pub fn render(results: &[(&str, &Outcome)], elapsed: Duration, painter: Painter) -> String {
    let count = |wanted: fn(&Outcome) -> bool| {
        results
            .iter()
            .filter(|(_, outcome)| wanted(outcome))
            .count()
    };
    let saved: Duration = results
        .iter()
        .filter_map(|(_, outcome)| match outcome {
            Outcome::Cached { saved, .. } => Some(*saved),
            _ => None,
        })
        .sum();
    let mut parts = Vec::new();
    for (number, word) in [
        (count(|o| matches!(o, Outcome::Ran { .. })), "ran"),
        (
            count(|o| matches!(o, Outcome::Installed { .. })),
            "installed",
        ),
        (count(|o| matches!(o, Outcome::Cached { .. })), "cached"),
        (count(|o| matches!(o, Outcome::Failed { .. })), "failed"),
        (count(|o| matches!(o, Outcome::Aborted { .. })), "aborted"),
        (
            count(|o| matches!(o, Outcome::Interrupted { .. })),
            "interrupted",
        ),
        (count(|o| matches!(o, Outcome::Skipped { .. })), "skipped"),
    ] {
        if number > 0 {
            parts.push(format!("{number} {word}"));
        }
    }
    let mut totals = parts.join(", ");
    // Said whenever something was restored, even when restoring took as long as running.
    if count(|o| matches!(o, Outcome::Cached { .. })) > 0 {
        totals.push_str(&format!(" (saved {})", style::duration(saved)));
    }
    if count(|o| matches!(o, Outcome::Installed { .. })) > 0 {
        totals.push_str(" (--install-only: no command ran, nothing was restored or stored)");
    }
    let plural = if results.len() == 1 {
        "session"
    } else {
        "sessions"
    };
    let mut out = format!(
        "{} {} {plural} in {}: {totals}\n",
        painter.paint(Style::Bold, "rtask:"),
        results.len(),
        style::duration(elapsed)
    );
    let width = results
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, outcome) in results {
        let (word, style, detail) = match outcome {
            Outcome::Ran { took } => ("ran", Style::Green, style::took(took)),
            Outcome::Installed { duration } => {
                ("installed", Style::Green, style::duration(*duration))
            }
            Outcome::Cached { saved, environment } => {
                let mut detail = format!("saved {}", style::duration(*saved));
                if let Some(environment) = environment {
                    detail.push_str(&format!(" (environment {})", style::duration(*environment)));
                }
                ("cached", Style::Green, detail)
            }
            Outcome::Failed { took, error } => (
                "failed",
                Style::Red,
                format!("{}: {error}", style::took(took)),
            ),
            Outcome::Aborted { reason } => ("aborted", Style::Yellow, words::abort(reason)),
            Outcome::Interrupted { took } => ("interrupted", Style::Yellow, style::took(took)),
            Outcome::Skipped { reason } => ("skipped", Style::Yellow, words::skip(reason)),
        };
        let word = painter.paint(style, &format!("{word:<11}"));
        out.push_str(&format!("  {word} {name:<width$}  {detail}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporter::Took;

    #[test]
    fn summarises_outcomes_and_time_saved() {
        let ran = Outcome::Ran {
            took: Took {
                total: Duration::from_millis(29_100),
                environment: Some(Duration::from_millis(27_900)),
                commands: Some(Duration::from_millis(1100)),
            },
        };
        let cached = Outcome::Cached {
            saved: Duration::from_millis(3900),
            environment: None,
        };
        let text = render(
            &[("unit_tests", &cached), ("coverage_report", &ran)],
            Duration::from_millis(1300),
            Painter { color: false },
        );
        assert_eq!(
            text,
            "rtask: 2 sessions in 1.3 s: 1 ran, 1 cached (saved 3.9 s)\n  \
             cached      unit_tests       saved 3.9 s\n  \
             ran         coverage_report  1.2 s (environment 27.9 s)\n"
        );
    }

    #[test]
    fn a_hit_that_saved_nothing_says_so() {
        let cached = Outcome::Cached {
            saved: Duration::ZERO,
            environment: Some(Duration::from_millis(14_000)),
        };
        let text = render(
            &[("replay", &cached)],
            Duration::from_millis(14_400),
            Painter { color: false },
        );
        assert_eq!(
            text,
            "rtask: 1 session in 14.4 s: 1 cached (saved 0.0 s)\n  \
             cached      replay  saved 0.0 s (environment 14.0 s)\n"
        );
    }
}

//! `--replay` and `[settings] replay`: how much of a cache hit's stored log is shown.

/// How much of a cache hit's log is replayed, after turbo's `--output-logs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayMode {
    /// The whole log, each line behind a gutter, under a header that says it is a replay.
    #[default]
    Full,
    /// The logs of failures only: a hit is a success, so only its header line.
    Errors,
    /// Nothing: a hit shows only in the closing summary.
    None,
}

impl ReplayMode {
    /// The mode `[settings] replay` names, as the command line spells it.
    pub fn parse(text: &str) -> Option<ReplayMode> {
        <ReplayMode as clap::ValueEnum>::from_str(text, false).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_spell_modes_as_the_flag_does() {
        assert_eq!(ReplayMode::parse("full"), Some(ReplayMode::Full));
        assert_eq!(ReplayMode::parse("errors"), Some(ReplayMode::Errors));
        assert_eq!(ReplayMode::parse("none"), Some(ReplayMode::None));
        assert_eq!(ReplayMode::parse("Full"), None);
    }
}

//! Colours and durations as the terminal shows them.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Bold,
    Green,
    Red,
    Yellow,
}

#[derive(Debug, Clone, Copy)]
pub struct Painter {
    pub color: bool,
}

impl Painter {
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Bold => "1",
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// `0.4 s`, `12.0 s`, `2 m 05 s`.
pub fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = duration.as_secs();
        format!("{} m {:02} s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(3949)), "3.9 s");
        assert_eq!(duration(Duration::from_secs(125)), "2 m 05 s");
    }
}

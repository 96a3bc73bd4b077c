//! Errors in `tasks.toml`, rendered with the file, line, column, a caret snippet and a hint.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

/// One problem in the task file.
#[derive(Debug, Clone)]
pub struct Problem {
    pub message: String,
    pub span: Option<Range<usize>>,
    pub label: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(
        message: impl Into<String>,
        span: Range<usize>,
        label: impl Into<String>,
    ) -> Problem {
        Problem {
            message: message.into(),
            span: Some(span),
            label: label.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Problem {
        let hint = hint.into();
        self.hint = (!hint.is_empty()).then_some(hint);
        self
    }
}

/// Every problem found in one task file.
#[derive(Debug)]
pub struct TaskFileError {
    /// The file as it is shown: relative to the current directory where it can be.
    pub display_path: PathBuf,
    pub source: String,
    pub problems: Vec<Problem>,
}

struct Rendered<'a> {
    problem: &'a Problem,
    source: NamedSource<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem
            .hint
            .as_ref()
            .map(|hint| Box::new(hint) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.problem
            .span
            .as_ref()
            .map(|_| &self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.problem.span.clone()?;
        let label = (!self.problem.label.is_empty()).then(|| self.problem.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new(
            label,
            span.start,
            span.len(),
        ))))
    }
}

impl TaskFileError {
    /// The report as the terminal shows it.
    pub fn render(&self, color: bool) -> String {
        let mut theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        theme.characters.error = "error:".to_string();
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        let name = self.display_path.display().to_string();
        let mut out = String::new();
        for problem in &self.problems {
            let rendered = Rendered {
                problem,
                source: NamedSource::new(&name, mask_passwords(&self.source)),
            };
            if problem.span.is_none() || handler.render_report(&mut out, &rendered).is_err() {
                out.push_str(&format!("error: {name}: {}\n", problem.message));
            }
        }
        out
    }
}

/// `text` with the user information of every URL (`scheme://USER:PASSWORD@host`) masked, byte
/// for byte, so that the spans into it stay where they were: snippets never show a secret (a
/// password may hold `/`, a token may stand as the user).
fn mask_passwords(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let end = text[start..]
            .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
            .map_or(text.len(), |length| start + length);
        if let Some(at) = text[start..end].rfind('@') {
            // Whole characters between two ASCII bytes: the result stays UTF-8.
            for byte in &mut bytes[start..start + at] {
                if *byte != b':' {
                    *byte = b'*';
                }
            }
        }
        from = end;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::mask_passwords;

    #[test]
    fn passwords_in_urls_are_masked_in_place() {
        let text = "a = \"https://ci:s3cr3t@cache.example/x\"\nb = \"s3://bucket/p\" # u:p@h";
        let masked = mask_passwords(text);
        assert_eq!(masked.len(), text.len());
        assert!(masked.contains("https://**:******@cache.example/x"));
        assert!(masked.contains("s3://bucket/p\" # u:p@h"));
        assert!(!masked.contains("s3cr3t"));
        assert_eq!(mask_passwords("x://u:pä@h"), "x://*:***@h");
        assert_eq!(mask_passwords("x://u:a/b@h/p"), "x://*:***@h/p");
        assert_eq!(mask_passwords("x://ghp_token@h"), "x://*********@h");
    }
}

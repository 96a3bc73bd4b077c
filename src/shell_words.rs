//! Splitting a command line into words as a POSIX shell would, without running a shell.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    #[error("unclosed {0} quote")]
    UnclosedQuote(&'static str),
    #[error("the line ends with a lone backslash")]
    TrailingBackslash,
    #[error("`{0}` is shell syntax, but commands do not run in a shell")]
    Operator(String),
    #[error("it holds the control character U+0001")]
    ControlCharacter,
}

/// Shell operators that mean nothing without a shell; unquoted, they are almost certainly a mistake.
const OPERATORS: &[&str] = &[
    "|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "2>&1", "&>",
];

/// Split `line` into words: whitespace separates, single quotes keep everything, double quotes
/// keep everything but `\"`, `\\`, `\$` and `` \` `` escapes, and a backslash escapes one character.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    let mut finish = |word: &mut String, in_word: &mut bool, quoted: &mut bool| {
        if *in_word {
            if !*quoted && OPERATORS.contains(&word.as_str()) {
                return Err(SplitError::Operator(word.clone()));
            }
            words.push(std::mem::take(word));
        }
        *in_word = false;
        *quoted = false;
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => finish(&mut word, &mut in_word, &mut quoted)?,
            '\'' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnclosedQuote("single")),
                    }
                }
            }
            '"' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnclosedQuote("double")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnclosedQuote("double")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    quoted = true;
                    word.push(c);
                }
                None => return Err(SplitError::TrailingBackslash),
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    finish(&mut word, &mut in_word, &mut quoted)?;
    Ok(words)
}

/// Quote `word` so that a POSIX shell reads it back as one word.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            words("coverage run -m pytest"),
            ["coverage", "run", "-m", "pytest"]
        );
        assert_eq!(words("  a   b  "), ["a", "b"]);
        assert_eq!(
            words(r#"echo "a b" 'c d' e\ f"#),
            ["echo", "a b", "c d", "e f"]
        );
        assert_eq!(words(r#"x "say \"hi\" \n""#), ["x", r#"say "hi" \n"#]);
        assert_eq!(words("a''b ''"), ["ab", ""]);
        assert_eq!(words("--opt='a b'c"), ["--opt=a bc"]);
    }

    #[test]
    fn rejects_broken_lines_and_operators() {
        assert_eq!(split("echo 'a"), Err(SplitError::UnclosedQuote("single")));
        assert_eq!(split("echo \"a"), Err(SplitError::UnclosedQuote("double")));
        assert_eq!(split("echo a\\"), Err(SplitError::TrailingBackslash));
        assert_eq!(split("a && b"), Err(SplitError::Operator("&&".into())));
        assert_eq!(words("echo '&&' \\|"), ["echo", "&&", "|"]);
    }

    #[test]
    fn quote_round_trips() {
        for word in ["plain", "a b", "it's", "", "$HOME", "-k=x"] {
            assert_eq!(words(&quote(word)), [word]);
        }
    }
}

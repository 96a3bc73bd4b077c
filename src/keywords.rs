//! nox's `-k` keyword expressions: words (matched as substrings of a session's names) joined
//! with `and`, `or`, `not` and parentheses.

use std::iter::Peekable;
use std::vec::IntoIter;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Word(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords(Expr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

impl Keywords {
    pub fn parse(text: &str) -> Result<Keywords, String> {
        let mut tokens = tokenize(text).into_iter().peekable();
        if tokens.peek().is_none() {
            return Err("the expression is empty".to_string());
        }
        let expr = or(&mut tokens)?;
        match tokens.next() {
            None => Ok(Keywords(expr)),
            Some(Token::Close) => Err("unbalanced `)`".to_string()),
            Some(Token::Open) => Err("unexpected `(`".to_string()),
            Some(Token::Word(word)) => Err(format!(
                "unexpected `{word}`: join words with `and` or `or`"
            )),
        }
    }

    /// Whether the expression holds for a session known by these names.
    pub fn matches(&self, names: &[&str]) -> bool {
        eval(&self.0, names)
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || c == '(' || c == ')' {
            if !word.is_empty() {
                tokens.push(Token::Word(std::mem::take(&mut word)));
            }
            match c {
                '(' => tokens.push(Token::Open),
                ')' => tokens.push(Token::Close),
                _ => {}
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(Token::Word(word));
    }
    tokens
}

type Tokens = Peekable<IntoIter<Token>>;

fn is_word(tokens: &mut Tokens, keyword: &str) -> bool {
    matches!(tokens.peek(), Some(Token::Word(word)) if word == keyword)
}

fn or(tokens: &mut Tokens) -> Result<Expr, String> {
    let mut left = and(tokens)?;
    while is_word(tokens, "or") {
        tokens.next();
        left = Expr::Or(Box::new(left), Box::new(and(tokens)?));
    }
    Ok(left)
}

fn and(tokens: &mut Tokens) -> Result<Expr, String> {
    let mut left = not(tokens)?;
    while is_word(tokens, "and") {
        tokens.next();
        left = Expr::And(Box::new(left), Box::new(not(tokens)?));
    }
    Ok(left)
}

fn not(tokens: &mut Tokens) -> Result<Expr, String> {
    if is_word(tokens, "not") {
        tokens.next();
        return Ok(Expr::Not(Box::new(not(tokens)?)));
    }
    match tokens.next() {
        Some(Token::Open) => {
            let inner = or(tokens)?;
            match tokens.next() {
                Some(Token::Close) => Ok(inner),
                _ => Err("missing `)`".to_string()),
            }
        }
        Some(Token::Word(word)) if word == "and" || word == "or" => {
            Err(format!("`{word}` needs a word before it"))
        }
        Some(Token::Word(word)) => Ok(Expr::Word(word)),
        Some(Token::Close) => Err("unexpected `)`".to_string()),
        None => Err("the expression ends too early".to_string()),
    }
}

fn eval(expr: &Expr, names: &[&str]) -> bool {
    match expr {
        Expr::Word(word) => names.iter().any(|name| name.contains(word.as_str())),
        Expr::Not(inner) => !eval(inner, names),
        Expr::And(a, b) => eval(a, names) && eval(b, names),
        Expr::Or(a, b) => eval(a, names) || eval(b, names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expr: &str, name: &str) -> bool {
        Keywords::parse(expr).unwrap().matches(&[name])
    }

    #[test]
    fn evaluates_like_nox() {
        let name = "unit_tests-3.11(db='sqlite')";
        assert!(check("unit", name));
        assert!(check("sqlite and 3.11", name));
        assert!(!check("sqlite and not 3.11", name));
        assert!(check("lint or (tests and sqlite)", name));
        assert!(!check("not (tests or lint)", name));
        assert!(check("not not tests", name));
    }

    #[test]
    fn reports_broken_expressions() {
        assert!(Keywords::parse("").is_err());
        assert!(Keywords::parse("(a").is_err());
        assert!(Keywords::parse("a)").is_err());
        assert!(Keywords::parse("a b").is_err());
        assert!(Keywords::parse("and a").is_err());
        assert!(Keywords::parse("a and").is_err());
    }
}

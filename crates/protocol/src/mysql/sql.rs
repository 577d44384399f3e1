//! The endpoint of a MySQL statement: its verb and first table, found by
//! just enough of a lexer; never a literal.

use super::HEAD;
use crate::printable;

/// SQL verb and first table: `SELECT shop.items`, `CREATE TABLE t`,
/// `INSERT items`, `SET`. Names lower-cased without backquotes; never a
/// literal.
pub(super) fn endpoint(sql: &[u8]) -> String {
    let mut lexer = Lexer {
        sql: &sql[..sql.len().min(HEAD)],
        at: 0,
    };
    let verb = loop {
        match lexer.next() {
            Some(Token::Other(b'(')) => {}
            Some(Token::Word(w)) if w[0].is_ascii_alphabetic() && w.len() <= 32 => {
                break printable(w).to_ascii_uppercase();
            }
            _ => return "QUERY".to_owned(),
        }
    };
    let target = match verb.as_str() {
        "SELECT" | "DELETE" | "WITH" => lexer.name_after("FROM"),
        "INSERT" | "REPLACE" => lexer.name_after("INTO"),
        "UPDATE" => lexer.name_skipping(&["LOW_PRIORITY", "IGNORE"]),
        "TRUNCATE" | "CALL" => lexer.name_skipping(&["TABLE"]),
        "CREATE" | "DROP" | "ALTER" => lexer.object(),
        "SHOW" => match lexer.next() {
            Some(Token::Word(w)) if w[0].is_ascii_alphabetic() && w.len() <= 32 => {
                Some(printable(w).to_ascii_uppercase())
            }
            _ => None,
        },
        _ => None,
    };
    match target {
        Some(target) => format!("{verb} {target}"),
        None => verb,
    }
}

enum Token<'a> {
    /// A keyword or bare identifier (or number).
    Word(&'a [u8]),
    /// A backquoted identifier, without its quotes.
    Quoted(&'a [u8]),
    /// Punctuation, or a string literal (as its quote).
    Other(u8),
}

/// Just enough of MySQL's lexer to find keywords and names: comments and
/// string literals are stepped over, never read.
struct Lexer<'a> {
    sql: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.sql.get(self.at).copied()
    }

    /// Moves past the first `end` after the current position, or to the end.
    fn skip_past(&mut self, end: &[u8]) {
        self.at = match self.sql[self.at..]
            .windows(end.len())
            .position(|w| w == end)
        {
            Some(i) => self.at + i + end.len(),
            None => self.sql.len(),
        };
    }

    fn skip_blanks(&mut self) {
        loop {
            let rest = &self.sql[self.at..];
            match rest {
                [c, ..] if c.is_ascii_whitespace() => self.at += 1,
                [b'/', b'*', ..] => {
                    self.at += 2;
                    self.skip_past(b"*/");
                }
                [b'-', b'-', c, ..] if c.is_ascii_whitespace() => self.skip_past(b"\n"),
                [b'-', b'-'] | [b'#', ..] => self.skip_past(b"\n"),
                _ => return,
            }
        }
    }

    fn next(&mut self) -> Option<Token<'a>> {
        self.skip_blanks();
        let start = self.at;
        let c = self.peek()?;
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        if word(c) {
            while self.peek().is_some_and(word) {
                self.at += 1;
            }
            return Some(Token::Word(&self.sql[start..self.at]));
        }
        self.at += 1;
        match c {
            b'`' => {
                let rest = &self.sql[self.at..];
                let end = rest.iter().position(|&b| b == b'`').unwrap_or(rest.len());
                self.at = (self.at + end + 1).min(self.sql.len());
                Some(Token::Quoted(&rest[..end]))
            }
            b'\'' | b'"' => {
                while let Some(b) = self.peek() {
                    self.at += 1;
                    if b == b'\\' {
                        self.at = (self.at + 1).min(self.sql.len());
                    } else if b == c {
                        break;
                    }
                }
                Some(Token::Other(c))
            }
            _ => Some(Token::Other(c)),
        }
    }

    /// An identifier, `db.table` or `table`, lower-cased.
    fn name(&mut self) -> Option<String> {
        let part = |t: Option<Token>| match t {
            Some(Token::Word(w) | Token::Quoted(w)) if !w.is_empty() => {
                Some(printable(&w[..w.len().min(64)]).to_ascii_lowercase())
            }
            _ => None,
        };
        let mut name = part(self.next())?;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if let Some(table) = part(self.next()) {
                name.push('.');
                name.push_str(&table);
            }
        }
        Some(name)
    }

    /// The name after the first `keyword` that has one: `FROM (SELECT ...
    /// FROM t)` leads to `t`.
    fn name_after(&mut self, keyword: &str) -> Option<String> {
        loop {
            if let Token::Word(w) = self.next()?
                && w.eq_ignore_ascii_case(keyword.as_bytes())
            {
                let mark = self.at;
                if let Some(name) = self.name() {
                    return Some(name);
                }
                self.at = mark;
            }
        }
    }

    /// The name that comes next, after any of `modifiers`.
    fn name_skipping(&mut self, modifiers: &[&str]) -> Option<String> {
        loop {
            let mark = self.at;
            match self.next()? {
                Token::Word(w) if one_of(w, modifiers) => {}
                _ => {
                    self.at = mark;
                    return self.name();
                }
            }
        }
    }

    /// `TABLE t` after CREATE/DROP/ALTER, skipping modifiers (`OR REPLACE`,
    /// `TEMPORARY`, `IF NOT EXISTS`); users and roles without their name.
    fn object(&mut self) -> Option<String> {
        const KINDS: &[&str] = &[
            "TABLE",
            "VIEW",
            "INDEX",
            "DATABASE",
            "SCHEMA",
            "PROCEDURE",
            "FUNCTION",
            "TRIGGER",
            "EVENT",
            "SEQUENCE",
            "USER",
            "ROLE",
        ];
        for _ in 0..8 {
            let Some(Token::Word(w)) = self.next() else {
                return None;
            };
            let Some(kind) = KINDS.iter().find(|k| k.as_bytes().eq_ignore_ascii_case(w)) else {
                continue;
            };
            if matches!(*kind, "USER" | "ROLE") {
                return Some((*kind).to_owned());
            }
            return Some(match self.name_skipping(&["IF", "NOT", "EXISTS"]) {
                Some(name) => format!("{kind} {name}"),
                None => (*kind).to_owned(),
            });
        }
        None
    }
}

fn one_of(word: &[u8], keywords: &[&str]) -> bool {
    keywords
        .iter()
        .any(|k| k.as_bytes().eq_ignore_ascii_case(word))
}

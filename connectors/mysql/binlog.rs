//! Binlog positions and the statements of QUERY events this connector acts on (`TRUNCATE`, and DDL
//! that changes a synced table's columns).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A position in the binlog: a file and a byte offset in it (the start of the next event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// The binlog file's name (`mysql-bin.000003`).
    pub file: String,
    /// The byte offset in it.
    pub pos: u64,
}

impl Position {
    /// The file's sequence number (the digits after the last `.`).
    fn sequence(&self) -> u64 {
        self.file
            .rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Position {
    /// Files by sequence number, then offsets.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.sequence(), self.pos).cmp(&(other.sequence(), other.pos))
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// What a QUERY event's statement does to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `BEGIN`: a transaction's row events follow.
    Begin,
    /// `COMMIT` (a transaction on non-transactional tables ends so).
    Commit,
    /// `TRUNCATE [TABLE] t`.
    Truncate {
        /// The database (the statement's or the event's default).
        database: String,
        /// The table.
        table: String,
    },
    /// DDL that may change tables' columns (`ALTER`, `CREATE`, `RENAME`, `DROP`): the catalog is read
    /// again.
    Ddl,
    /// Anything else.
    Other,
}

/// The next identifier (`name` or `` `quoted` ``) at the start of `s`, and the rest.
fn ident(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if rest[i + 1..].starts_with('`') {
                    name.push('`');
                    chars.next();
                } else {
                    return Some((name, &rest[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        None
    } else {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(s.len());
        (end > 0).then(|| (s[..end].to_owned(), &s[end..]))
    }
}

/// Skips leading `/* ... */` comments and whitespace.
fn skip_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        match s.strip_prefix("/*") {
            Some(rest) => match rest.find("*/") {
                Some(end) => s = &rest[end + 2..],
                None => return "",
            },
            None => return s,
        }
    }
}

/// Classifies a QUERY event's statement run with default database `schema`.
pub fn classify(query: &str, schema: &str) -> Statement {
    let q = skip_comments(query);
    let word = |s: &str| -> (String, usize) {
        let s2 = s.trim_start();
        let end = s2
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(s2.len());
        (s2[..end].to_ascii_uppercase(), s.len() - s2.len() + end)
    };
    let (first, at) = word(q);
    match first.as_str() {
        "BEGIN" => Statement::Begin,
        "COMMIT" => Statement::Commit,
        "TRUNCATE" => {
            let mut rest = &q[at..];
            let (next, n) = word(rest);
            if next == "TABLE" {
                rest = &rest[n..];
            }
            let Some((a, rest)) = ident(rest) else {
                return Statement::Other;
            };
            match rest.trim_start().strip_prefix('.').and_then(ident) {
                Some((b, _)) => Statement::Truncate {
                    database: a,
                    table: b,
                },
                None => Statement::Truncate {
                    database: schema.to_owned(),
                    table: a,
                },
            }
        }
        "ALTER" | "CREATE" | "RENAME" | "DROP" => Statement::Ddl,
        _ => Statement::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let p = |f: &str, pos| Position {
            file: f.into(),
            pos,
        };
        assert!(p("bin.000010", 4) > p("bin.000009", 900));
        assert!(p("bin.000002", 5) > p("bin.000002", 4));
        assert_eq!(p("bin.000002", 5).to_string(), "bin.000002:5");
    }

    #[test]
    fn statements() {
        assert_eq!(classify("BEGIN", "app"), Statement::Begin);
        assert_eq!(
            classify("TRUNCATE TABLE `sc``x`", "app"),
            Statement::Truncate {
                database: "app".into(),
                table: "sc`x".into()
            }
        );
        assert_eq!(
            classify("/* c */ truncate shop . items", "app"),
            Statement::Truncate {
                database: "shop".into(),
                table: "items".into()
            }
        );
        assert_eq!(classify("ALTER TABLE t ADD c int", "app"), Statement::Ddl);
        assert_eq!(classify("FLUSH PRIVILEGES", "app"), Statement::Other);
        assert_eq!(classify("COMMIT", "app"), Statement::Commit);
    }
}

//! The names tables, columns and schemas get in the local warehouse.
//!
//! By default these are Fivetran's renaming rules, as `fivetran debug` applies them (the Connector SDK core's
//! `renaming.py`): accents are removed, every character that is not an ASCII letter, digit or `_` becomes `_`,
//! the name is lower-cased with a `_` where a lower-case letter meets an upper-case one and where digits meet
//! non-digits, runs of `_` become one, and tables also lose a leading `_` before a letter. A declared source
//! schema `S` becomes `<destination schema>_<s>` (lower-cased, non-word characters as `_`, not split into
//! words); tables that declare no schema go to the destination schema itself. Each name is renamed on its own:
//! two source names that become one name are not told apart (the warehouse warns and merges them).
//!
//! [`Naming::Source`] keeps every name exactly as the connector sent it.

mod unicode;

use std::fmt;
use std::str::FromStr;

/// How source names become destination names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// Fivetran's renaming rules (the default of `fivetran debug`): `userData` → `user_data`.
    #[default]
    Fivetran,
    /// The names exactly as the connector sent them.
    Source,
}

impl Naming {
    /// The destination name of a table.
    pub fn table(self, name: &str) -> String {
        match self {
            Naming::Fivetran => fivetran_table_name(name),
            Naming::Source => name.to_owned(),
        }
    }

    /// The destination name of a column.
    pub fn column(self, name: &str) -> String {
        match self {
            Naming::Fivetran => fivetran_column_name(name),
            Naming::Source => name.to_owned(),
        }
    }

    /// The destination schema of a table that declares the source schema `declared` (`None` or `""`: it declares
    /// none, so it goes to `destination` itself).
    pub fn schema(self, declared: Option<&str>, destination: &str) -> String {
        match declared {
            None | Some("") => destination.to_owned(),
            Some(declared) => match self {
                Naming::Fivetran => format!("{destination}_{declared}")
                    .chars()
                    .map(|c| {
                        if is_word(c) {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect(),
                Naming::Source => declared.to_owned(),
            },
        }
    }

    /// The name `fivetran debug` stores for this strategy: `FIVETRAN_NAMING` or `SOURCE_NAMING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::Fivetran => "FIVETRAN_NAMING",
            Naming::Source => "SOURCE_NAMING",
        }
    }
}

impl fmt::Display for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A naming strategy name that is not one of `fivetran`, `source`, `FIVETRAN_NAMING`, `SOURCE_NAMING`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown naming strategy '{0}': expected fivetran or source")]
pub struct UnknownNaming(pub String);

impl FromStr for Naming {
    type Err = UnknownNaming;

    /// Parses `fivetran`/`source` or the stored forms `FIVETRAN_NAMING`/`SOURCE_NAMING`, in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "fivetran" | "fivetran_naming" => Ok(Naming::Fivetran),
            "source" | "source_naming" => Ok(Naming::Source),
            _ => Err(UnknownNaming(text.to_owned())),
        }
    }
}

/// Fivetran's name for a column: `userData` → `user_data`, `1abc` → `_1_abc`, `_private` → `_private`.
pub fn fivetran_column_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous = 0u8;
    for byte in ascii_words(name) {
        let new_word = (previous.is_ascii_lowercase() && byte.is_ascii_uppercase())
            || (previous.is_ascii_digit() != byte.is_ascii_digit());
        if new_word {
            push_collapsing(&mut out, '_');
        }
        push_collapsing(&mut out, byte.to_ascii_lowercase() as char);
        previous = byte;
    }
    // Every character is a word character by now, so the rule "prefix `_` when the first character is not one"
    // never applies; a leading digit already got its `_` from the digit boundary above.
    out
}

/// Fivetran's name for a table: the column name, without a leading `_` that precedes a letter
/// (`_private` → `private`, but `_1abc` → `_1_abc`).
pub fn fivetran_table_name(name: &str) -> String {
    let renamed = fivetran_column_name(name);
    match renamed.strip_prefix('_') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_alphabetic()) => rest.to_owned(),
        _ => renamed,
    }
}

/// Pushes `c`, except a `_` right after another `_`: runs of underscores become one.
fn push_collapsing(out: &mut String, c: char) {
    if c == '_' && out.ends_with('_') {
        return;
    }
    out.push(c);
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The name as ASCII word bytes: accented letters lose their accents, combining marks vanish, and every other
/// character that is not an ASCII letter, digit or `_` becomes `_`.
fn ascii_words(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.chars().filter_map(|c| {
        if c.is_ascii() {
            return Some(if is_word(c) { c as u8 } else { b'_' });
        }
        if vanishes(c) {
            return None;
        }
        Some(ascii_base(c).unwrap_or(b'_'))
    })
}

fn ascii_base(c: char) -> Option<u8> {
    unicode::ASCII_BASE
        .binary_search_by_key(&c, |&(from, _)| from)
        .ok()
        .map(|i| unicode::ASCII_BASE[i].1)
}

fn vanishes(c: char) -> bool {
    let ranges = &unicode::VANISHING;
    let i = ranges.partition_point(|&(_, last)| last < c);
    i < ranges.len() && ranges[i].0 <= c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fivetran_rules_match_the_checked_examples() {
        let cases = [
            // (source, table, column)
            ("userData", "user_data", "user_data"),
            ("t1", "t_1", "t_1"),
            ("_private", "private", "_private"),
            ("user.data", "user_data", "user_data"),
            ("1abc", "_1_abc", "_1_abc"),
            ("Café Menu", "cafe_menu", "cafe_menu"),
            ("HTTPServer", "httpserver", "httpserver"),
        ];
        for (source, table, column) in cases {
            assert_eq!(Naming::Fivetran.table(source), table, "table {source}");
            assert_eq!(Naming::Fivetran.column(source), column, "column {source}");
        }
    }

    #[test]
    fn fivetran_rules_edge_cases() {
        assert_eq!(fivetran_column_name(""), "");
        assert_eq!(fivetran_column_name("a__b"), "a_b");
        assert_eq!(fivetran_column_name("__x"), "_x");
        assert_eq!(fivetran_table_name("__x"), "x");
        assert_eq!(fivetran_table_name("___"), "_");
        assert_eq!(fivetran_column_name("order-id"), "order_id");
        assert_eq!(fivetran_column_name("ÅngströmÉté"), "angstrom_ete");
        // a combining acute accent vanishes instead of becoming `_`
        assert_eq!(fivetran_column_name("e\u{301}t\u{301}e"), "ete");
        // letters without an ASCII base are not word characters
        assert_eq!(fivetran_column_name("straße"), "stra_e");
        assert_eq!(fivetran_column_name("名前"), "_");
        assert_eq!(fivetran_column_name("abc123def"), "abc_123_def");
        assert_eq!(fivetran_column_name("ID"), "id");
        assert_eq!(fivetran_column_name("userID2"), "user_id_2");
    }

    #[test]
    fn source_naming_keeps_names() {
        for name in ["userData", "_private", "Café Menu", "1abc", "a.b"] {
            assert_eq!(Naming::Source.table(name), name);
            assert_eq!(Naming::Source.column(name), name);
        }
        assert_eq!(
            Naming::Source.schema(Some("MySchema"), "tester"),
            "MySchema"
        );
    }

    #[test]
    fn schemas() {
        assert_eq!(Naming::Fivetran.schema(None, "tester"), "tester");
        assert_eq!(Naming::Fivetran.schema(Some(""), "tester"), "tester");
        assert_eq!(
            Naming::Fivetran.schema(Some("MySchema"), "tester"),
            "tester_myschema"
        );
        assert_eq!(
            Naming::Fivetran.schema(Some("sales.EU"), "tester"),
            "tester_sales_eu"
        );
        assert_eq!(Naming::Source.schema(None, "tester"), "tester");
    }

    #[test]
    fn parses_strategy_names() {
        assert_eq!("fivetran".parse::<Naming>(), Ok(Naming::Fivetran));
        assert_eq!("SOURCE_NAMING".parse::<Naming>(), Ok(Naming::Source));
        assert_eq!(
            Naming::Source.as_str().parse::<Naming>(),
            Ok(Naming::Source)
        );
        assert!("snake".parse::<Naming>().is_err());
    }

    #[test]
    fn unicode_tables_are_sorted() {
        assert!(unicode::ASCII_BASE.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(unicode::VANISHING.windows(2).all(|w| w[0].1 < w[1].0));
        assert!(unicode::VANISHING.iter().all(|r| r.0 <= r.1));
    }
}

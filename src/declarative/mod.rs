//! Declarative connectors (issue 13): one definition file per REST API, run by one engine on the kit.
//!
//! A definition (TOML, reference in `docs/declarative.md`) declares the form, the auth, the setup test
//! and the streams: each a list request with its record path, pager, incremental mode and columns,
//! plus child tables. [`load`] parses and checks it once ([`compile`]): a mistake stops there with
//! `file:line: key: message; valid choices: ...`. The result is a [`Declarative`] connector
//! ([`engine`]) whose sync loop only fills in parsed templates and runs the kit's pagers and table
//! specs.
//!
//! Shipped definitions live in `definitions/` and are compiled in ([`SHIPPED`]); `debug --definition
//! FILE` loads a user's own.

#[cfg(test)]
mod broken_tests;
pub mod compile;
pub mod engine;
pub mod format;
pub mod graphql;
pub mod state;
pub mod template;

pub use compile::{load, Definition, DefinitionError};
pub use engine::{Declarative, CONNECTION_TEST};
pub use state::DeclarativeState;

/// The definitions compiled into the binary: (file name, text).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "definitions/stripe.toml",
        include_str!("../../definitions/stripe.toml"),
    ),
    (
        "definitions/close.toml",
        include_str!("../../definitions/close.toml"),
    ),
    (
        "definitions/hubspot.toml",
        include_str!("../../definitions/hubspot.toml"),
    ),
    (
        "definitions/github.toml",
        include_str!("../../definitions/github.toml"),
    ),
];

/// The shipped definition `file` as a connector. Shipped definitions are checked by a test, so a
/// mistake in one is a build defect, reported here with its place.
pub fn shipped(file: &str) -> Result<Declarative, DefinitionError> {
    let text = SHIPPED
        .iter()
        .find(|(name, _)| *name == file)
        .map_or("", |(_, text)| *text);
    load(file, text).map(Declarative::new)
}

/// Loads the definition at `path` from disk.
pub fn load_file(path: &std::path::Path) -> Result<Declarative, DefinitionError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
        file: file.clone(),
        line: 0,
        key: "(file)".into(),
        message: format!("cannot read it: {e}"),
    })?;
    load(&file, &text).map(Declarative::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_definition_loads() {
        for (file, _) in SHIPPED {
            let c = shipped(file).unwrap_or_else(|e| panic!("{e}"));
            assert!(!c.definition().streams.is_empty(), "{file}");
        }
    }
}

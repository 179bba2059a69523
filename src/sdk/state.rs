//! Connector state: typed, versioned, round-tripped through `UpdateRequest.state_json` and `Checkpoint`.
//!
//! The version is checked here, once, for every connector. On the wire a state is a JSON object whose
//! `version` key is the layout it was written in, followed by the connector's own fields:
//! `{"version":2,"cursor":41}`. A connector's state type holds only its own fields (with
//! `#[serde(deny_unknown_fields)]`) and declares [`ConnectorState::VERSION`]; the SDK adds the key when
//! writing and, when reading:
//! - absent, empty or `{}` state is a fresh sync ([`Default`]);
//! - a version newer than the code's is refused, naming both versions (a newer release wrote it);
//! - an older version is migrated step by step through [`ConnectorState::migrate`] before it is parsed;
//! - anything that does not parse is an error naming the key, never a silent full resync.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

/// Above this a checkpoint is refused: state is meant to hold cursors, not data.
pub const MAX_STATE_BYTES: usize = 10 * 1024 * 1024;
/// Above this a checkpoint logs a warning.
pub const WARN_STATE_BYTES: usize = 1024 * 1024;
/// The key that carries the layout version.
pub const VERSION_KEY: &str = "version";

/// Errors reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `state_json` is not JSON or not this connector's state.
    #[error("state does not fit this connector ({reason}); fix or reset the state: a silent full resync would hide the problem")]
    Invalid {
        /// The parser's message (keys, positions; never values).
        reason: String,
    },
    /// The state was written by a newer release of the connector.
    #[error("state version {found} is newer than this connector's state version {supported}: it was written by a newer release; run that release or reset the state")]
    Newer {
        /// The version in the state.
        found: u64,
        /// The newest version this code reads and writes.
        supported: u32,
    },
    /// The serialized state is over [`MAX_STATE_BYTES`].
    #[error("state is {size} bytes, over the {MAX_STATE_BYTES}-byte limit: keep cursors in state, not data")]
    TooLarge {
        /// Serialized size.
        size: usize,
    },
    /// Serialization failed (a non-string map key, a NaN, a state that is not an object).
    #[error("state could not be serialized: {0}")]
    Serialize(String),
}

/// A connector's state type: serde both ways, `Default` = fresh sync, and the layout version it writes.
pub trait ConnectorState: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// The layout this code writes; 1 for a connector's first layout, raised with every incompatible
    /// change (each raise comes with a [`ConnectorState::migrate`] step and a golden test).
    const VERSION: u32;

    /// Rewrites the fields of a state written at version `from` (below [`ConnectorState::VERSION`]) into
    /// the layout of version `from + 1`. The default knows no older version.
    fn migrate(from: u32, fields: Map<String, Value>) -> Result<Map<String, Value>, String> {
        let _ = fields;
        Err(format!(
            "no migration from state version {from} is declared"
        ))
    }
}

/// An untyped state, for prototypes and tests: any JSON object, version 1.
impl ConnectorState for Map<String, Value> {
    const VERSION: u32 = 1;
}

/// Parses `state_json` (see the module docs for the rules).
pub fn parse_state<S: ConnectorState>(state_json: Option<&str>) -> Result<S, StateError> {
    let invalid = |reason: String| StateError::Invalid { reason };
    let raw = state_json.unwrap_or("");
    // A byte-order mark is an editor's artefact, not an error in the state.
    let raw = raw.trim_start_matches('\u{feff}').trim();
    if raw.is_empty() {
        return Ok(S::default());
    }
    let value: Value =
        serde_json::from_str(raw).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let Value::Object(mut fields) = value else {
        return Err(invalid("the top-level value must be a JSON object".into()));
    };
    if fields.is_empty() {
        return Ok(S::default());
    }
    let version = match fields.remove(VERSION_KEY) {
        None => return Err(invalid(format!("key '{VERSION_KEY}' is missing"))),
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or_default(),
        Some(other) => {
            return Err(invalid(format!(
                "key '{VERSION_KEY}' must be a whole number, not {}",
                kind_of(&other)
            )))
        }
    };
    if version > u64::from(S::VERSION) {
        return Err(StateError::Newer {
            found: version,
            supported: S::VERSION,
        });
    }
    let mut at = u32::try_from(version).unwrap_or(0);
    if at == 0 {
        return Err(invalid(format!(
            "key '{VERSION_KEY}' is 0, which no release writes"
        )));
    }
    while at < S::VERSION {
        fields = S::migrate(at, fields)
            .map_err(|e| invalid(format!("migrating from version {at}: {e}")))?;
        at += 1;
    }
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            invalid(inner.to_string())
        } else {
            invalid(format!("key '{path}': {inner}"))
        }
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a negative or fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serializes state compactly as `{"version":V,...fields}`, refusing sizes over [`MAX_STATE_BYTES`]
/// and warning over [`WARN_STATE_BYTES`].
pub fn serialize_state<S: ConnectorState>(state: &S) -> Result<String, StateError> {
    let fields = serde_json::to_string(state).map_err(|e| StateError::Serialize(e.to_string()))?;
    let Some(rest) = fields.strip_prefix('{') else {
        return Err(StateError::Serialize(
            "a connector state must serialize to a JSON object".into(),
        ));
    };
    let separator = if rest == "}" { "" } else { "," };
    let json = format!("{{\"{VERSION_KEY}\":{}{separator}{rest}", S::VERSION);
    if json.len() > MAX_STATE_BYTES {
        return Err(StateError::TooLarge { size: json.len() });
    }
    if json.len() > WARN_STATE_BYTES {
        tracing::warn!(bytes = json.len(), "state is large; checkpoints get slow");
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct S {
        cursor: Option<u64>,
        #[serde(default)]
        inner: Inner,
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        n: u32,
    }

    impl ConnectorState for S {
        const VERSION: u32 = 2;

        /// Version 1 called the cursor `position`.
        fn migrate(
            from: u32,
            mut fields: Map<String, Value>,
        ) -> Result<Map<String, Value>, String> {
            match from {
                1 => {
                    let position = fields.remove("position").unwrap_or(Value::Null);
                    fields.insert("cursor".into(), position);
                    Ok(fields)
                }
                other => Err(format!("unknown version {other}")),
            }
        }
    }

    #[test]
    fn empty_forms_mean_fresh_sync() {
        for raw in [None, Some(""), Some("  "), Some("{}"), Some("\u{feff}{}")] {
            assert_eq!(parse_state::<S>(raw).unwrap(), S::default());
        }
    }

    #[test]
    fn bad_state_is_an_error_not_a_resync() {
        let err = |raw: &str| parse_state::<S>(Some(raw)).unwrap_err().to_string();
        assert!(err("{not json").contains("not valid JSON"));
        assert!(err("[1]").contains("JSON object"));
        assert!(err(r#"{"cursor":3}"#).contains("'version' is missing"));
        assert!(err(r#"{"version":"2"}"#).contains("whole number, not a string"));
        let typo = err(r#"{"version":2,"cursorr":3}"#);
        assert!(typo.contains("cursorr"), "{typo}");
        let nested = err(r#"{"version":2,"inner":{"n":"x"}}"#);
        assert!(nested.contains("key 'inner.n'"), "{nested}");
    }

    #[test]
    fn a_newer_version_names_both_versions() {
        let err = parse_state::<S>(Some(r#"{"version":99}"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("99") && err.contains("version 2"), "{err}");
    }

    #[test]
    fn older_versions_are_migrated_through_the_declared_steps() {
        let state: S = parse_state(Some(r#"{"version":1,"position":7}"#)).unwrap();
        assert_eq!(state.cursor, Some(7));
        assert_eq!(
            serialize_state(&state).unwrap(),
            r#"{"version":2,"cursor":7,"inner":{"n":0}}"#
        );
    }

    #[test]
    fn round_trip_puts_the_version_first() {
        let s = S {
            cursor: Some(7),
            inner: Inner { n: 1 },
        };
        let json = serialize_state(&s).unwrap();
        assert_eq!(json, r#"{"version":2,"cursor":7,"inner":{"n":1}}"#);
        assert_eq!(parse_state::<S>(Some(&json)).unwrap(), s);
    }
}

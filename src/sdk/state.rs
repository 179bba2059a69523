//! Connector state: typed, versioned, round-tripped through `UpdateRequest.state_json` and `Checkpoint`.
//!
//! Conventions every connector follows: the state struct has a `version` field and
//! `#[serde(deny_unknown_fields)]`; `{}` (or no state) means a fresh sync; anything else that does not
//! parse is an error, never a silent full resync.

use serde::{de::DeserializeOwned, Serialize};

/// Above this a checkpoint is refused: state is meant to hold cursors, not data.
pub const MAX_STATE_BYTES: usize = 10 * 1024 * 1024;
/// Above this a checkpoint logs a warning.
pub const WARN_STATE_BYTES: usize = 1024 * 1024;

/// Errors reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `state_json` is not JSON or not this connector's state.
    #[error("state does not fit this connector ({reason}); fix or reset the state: a silent full resync would hide the problem")]
    Invalid {
        /// The parser's message (field names, positions; never values).
        reason: String,
    },
    /// The serialized state is over [`MAX_STATE_BYTES`].
    #[error("state is {size} bytes, over the {MAX_STATE_BYTES}-byte limit: keep cursors in state, not data")]
    TooLarge {
        /// Serialized size.
        size: usize,
    },
    /// Serialization failed (a non-string map key, a NaN).
    #[error("state could not be serialized: {0}")]
    Serialize(String),
}

/// What a connector's state type must be: serde both ways, `Default` = fresh sync.
pub trait ConnectorState: Serialize + DeserializeOwned + Default + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Default + Send + Sync + 'static> ConnectorState for T {}

/// Parses `state_json`: absent, empty, or `{}` → `S::default()`; otherwise `S` or [`StateError::Invalid`].
pub fn parse_state<S: ConnectorState>(state_json: Option<&str>) -> Result<S, StateError> {
    let raw = state_json.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Ok(S::default());
    }
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| StateError::Invalid {
        reason: format!("not valid JSON: {e}"),
    })?;
    match &value {
        serde_json::Value::Object(m) if m.is_empty() => Ok(S::default()),
        serde_json::Value::Object(_) => {
            serde_json::from_value(value).map_err(|e| StateError::Invalid {
                reason: e.to_string(),
            })
        }
        _ => Err(StateError::Invalid {
            reason: "the top-level value must be a JSON object".into(),
        }),
    }
}

/// Serializes state compactly, refusing sizes over [`MAX_STATE_BYTES`] and warning over
/// [`WARN_STATE_BYTES`].
pub fn serialize_state<S: Serialize + ?Sized>(state: &S) -> Result<String, StateError> {
    let json = serde_json::to_string(state).map_err(|e| StateError::Serialize(e.to_string()))?;
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
        version: u32,
        cursor: Option<u64>,
    }

    #[test]
    fn empty_forms_mean_fresh_sync() {
        for raw in [None, Some(""), Some("  "), Some("{}")] {
            assert_eq!(parse_state::<S>(raw).unwrap(), S::default());
        }
    }

    #[test]
    fn bad_state_is_an_error_not_a_resync() {
        assert!(parse_state::<S>(Some("{not json"))
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert!(parse_state::<S>(Some("[1]"))
            .unwrap_err()
            .to_string()
            .contains("JSON object"));
        let err = parse_state::<S>(Some(r#"{"version":1,"cursorr":3}"#)).unwrap_err();
        assert!(err.to_string().contains("cursorr"), "{err}");
    }

    #[test]
    fn round_trip() {
        let s = S {
            version: 1,
            cursor: Some(7),
        };
        let json = serialize_state(&s).unwrap();
        assert_eq!(json, r#"{"version":1,"cursor":7}"#);
        assert_eq!(parse_state::<S>(Some(&json)).unwrap(), s);
    }
}

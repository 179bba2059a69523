//! Typed, versioned connector state serialised to JSON with a size check. The SDK owns the state trait;
//! this is the small helper it calls.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// State above this size is refused: Fivetran stores state with every checkpoint.
pub const STATE_MAX_BYTES: usize = 10 * 1024 * 1024;
/// State above this size is logged as a warning.
pub const STATE_WARN_BYTES: usize = 1024 * 1024;

/// Why state could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The encoded state is too large.
    #[error("connector state is {bytes} bytes, above the {max}-byte limit; it must not grow with the data")]
    TooLarge {
        /// Encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The state was written by a newer connector version.
    #[error(
        "connector state has version {found} but this connector understands up to {supported}"
    )]
    NewerVersion {
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// JSON encoding or decoding failed.
    #[error("connector state is not valid: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct VersionedRef<'a, T> {
    version: u32,
    state: &'a T,
}

#[derive(Deserialize)]
struct Versioned {
    version: u32,
    state: serde_json::Value,
}

/// Encodes `state` as `{"version": version, "state": …}`, refusing it above [`STATE_MAX_BYTES`] and
/// warning above [`STATE_WARN_BYTES`].
pub fn encode_state<T: Serialize>(version: u32, state: &T) -> Result<String, StateError> {
    let json = serde_json::to_string(&VersionedRef { version, state })?;
    if json.len() > STATE_MAX_BYTES {
        return Err(StateError::TooLarge {
            bytes: json.len(),
            max: STATE_MAX_BYTES,
        });
    }
    if json.len() > STATE_WARN_BYTES {
        tracing::warn!(bytes = json.len(), "connector state is larger than 1 MiB");
    }
    Ok(json)
}

/// Decodes state written by [`encode_state`]: `Ok(None)` for no state (empty or `{}`); an older version
/// is returned with its version so the caller can migrate; a newer one is an error.
pub fn decode_state<T: DeserializeOwned>(
    json: &str,
    supported: u32,
) -> Result<Option<(u32, T)>, StateError> {
    let trimmed = json.trim();
    if trimmed.is_empty() || trimmed == "{}" || trimmed == "null" {
        return Ok(None);
    }
    let v: Versioned = serde_json::from_str(trimmed)?;
    if v.version > supported {
        return Err(StateError::NewerVersion {
            found: v.version,
            supported,
        });
    }
    Ok(Some((v.version, serde_json::from_value(v.state)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        cursor: Option<u64>,
    }

    #[test]
    fn state_round_trips_with_its_version() {
        let json = encode_state(2, &S { cursor: Some(9) }).unwrap();
        assert_eq!(json, r#"{"version":2,"state":{"cursor":9}}"#);
        assert_eq!(
            decode_state::<S>(&json, 2).unwrap(),
            Some((2, S { cursor: Some(9) }))
        );
        assert!(decode_state::<S>("{}", 2).unwrap().is_none());
        assert!(matches!(
            decode_state::<S>(&json, 1),
            Err(StateError::NewerVersion { found: 2, .. })
        ));
    }

    #[test]
    fn oversized_state_is_refused() {
        let big = "x".repeat(STATE_MAX_BYTES);
        assert!(matches!(
            encode_state(1, &big),
            Err(StateError::TooLarge { .. })
        ));
    }
}

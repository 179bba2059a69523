//! The debug runner's inputs: the configuration file and the starting state, validated before anything
//! is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::proto;

/// Errors in the runner's inputs. Each names the file and, where it applies, the key.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The configuration file is not a JSON object.
    #[error("configuration file {path} is not a JSON object: {reason}")]
    ConfigNotJson {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A configuration value is not a string (Fivetran sends only strings).
    #[error("configuration key '{key}' in {path} must be a string (Fivetran sends every value as a string), found {found}; write it as \"{example}\"")]
    NotAString {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The JSON type found.
        found: &'static str,
        /// The value rewritten as a string (never shown for password fields).
        example: String,
    },
    /// A required form field is missing.
    #[error("configuration key '{key}' ({label}) is required but missing or empty in {path}")]
    MissingRequired {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The form's label.
        label: String,
    },
    /// The state file could not be read.
    #[error("cannot read state file {path}: {source}")]
    ReadState {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The state file is not a JSON object.
    #[error(
        "state file {path} is not a JSON object ({reason}); fix it or run `fivetran_source reset`"
    )]
    StateNotJson {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
}

/// Where the configuration comes from: `--configuration`, else `FIVETRAN_CONFIGURATION`, else
/// `./configuration.json`.
pub fn configuration_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("FIVETRAN_CONFIGURATION") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("configuration.json"),
    }
}

/// Reads the configuration file: a JSON object whose values are all strings.
pub fn read_configuration(path: &Path) -> Result<HashMap<String, String>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    parse_configuration(&text, path)
}

/// Parses configuration text (see [`read_configuration`]).
pub fn parse_configuration(text: &str, path: &Path) -> Result<HashMap<String, String>, InputError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| InputError::ConfigNotJson {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let serde_json::Value::Object(map) = value else {
        return Err(InputError::ConfigNotJson {
            path: path.to_path_buf(),
            reason: "the top-level value must be an object".into(),
        });
    };
    let mut out = HashMap::with_capacity(map.len());
    for (key, value) in map {
        let found = match &value {
            serde_json::Value::String(s) => {
                out.insert(key, s.clone());
                continue;
            }
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
        };
        return Err(InputError::NotAString {
            path: path.to_path_buf(),
            key,
            found,
            example: value.to_string().replace('"', "\\\""),
        });
    }
    Ok(out)
}

/// Checks that every required field of the form (with no default) is present and non-empty.
pub fn check_required(
    form: &proto::ConfigurationFormResponse,
    config: &HashMap<String, String>,
    path: &Path,
) -> Result<(), InputError> {
    for field in &form.fields {
        let required = field.required.unwrap_or(false) && field.default_value.is_none();
        let is_group = matches!(
            field.r#type,
            Some(proto::form_field::Type::ConditionalFields(_))
        );
        if !required || is_group {
            continue;
        }
        if config.get(&field.name).is_none_or(|v| v.trim().is_empty()) {
            return Err(InputError::MissingRequired {
                path: path.to_path_buf(),
                key: field.name.clone(),
                label: field.label.clone(),
            });
        }
    }
    Ok(())
}

/// Reads the starting state: `--state`, else `files/state.json`, else `{}`. Only checks it is a JSON
/// object; the connector checks it fits its state type.
pub fn read_state(flag: Option<&Path>, files_dir: &Path) -> Result<String, InputError> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => {
            let default = files_dir.join("state.json");
            if !default.exists() {
                return Ok("{}".into());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| InputError::ReadState {
        path: path.clone(),
        source,
    })?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(text.trim().to_owned()),
        Ok(_) => Err(InputError::StateNotJson {
            path,
            reason: "the top-level value must be an object".into(),
        }),
        Err(e) => Err(InputError::StateNotJson {
            path,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_string_values_name_the_key() {
        let err = parse_configuration(r#"{"a":"x","take":1000}"#, Path::new("c.json")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("'take'") && msg.contains("a number") && msg.contains("\"1000\""),
            "{msg}"
        );
        assert!(parse_configuration("{oops", Path::new("c.json"))
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        assert_eq!(
            parse_configuration(r#"{"a":"x"}"#, Path::new("c.json")).unwrap()["a"],
            "x"
        );
    }

    #[test]
    fn required_fields_are_checked_against_the_form() {
        use crate::sdk::{Field, Form};
        let form = Form::new()
            .field(Field::password("api_key", "API key"))
            .field(Field::text("take", "Take").default_value("1000"))
            .field(Field::text("opt", "Optional").optional())
            .to_proto();
        let mut config = HashMap::new();
        let err = check_required(&form, &config, Path::new("c.json")).unwrap_err();
        assert!(err.to_string().contains("'api_key' (API key)"));
        config.insert("api_key".to_string(), "k".to_string());
        check_required(&form, &config, Path::new("c.json")).unwrap();
    }

    #[test]
    fn state_file_rules() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_state(None, dir.path()).unwrap(), "{}");
        std::fs::write(dir.path().join("state.json"), "{\"a\":1}\n").unwrap();
        assert_eq!(read_state(None, dir.path()).unwrap(), "{\"a\":1}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "[1,2]").unwrap();
        assert!(read_state(Some(&bad), dir.path())
            .unwrap_err()
            .to_string()
            .contains("reset"));
        let missing = dir.path().join("missing.json");
        assert!(matches!(
            read_state(Some(&missing), dir.path()),
            Err(InputError::ReadState { .. })
        ));
    }
}

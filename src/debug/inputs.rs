//! The debug runner's inputs: the configuration file and the starting state, validated before anything
//! is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::proto;
use crate::simulator::launch::SIMULATOR_URL;
use crate::simulator::options::SimulatorOptions;

/// Errors in the runner's inputs. Each names the file and, where it applies, the key.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {error}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The IO error (named so it is not also a `source`: chains would print it twice).
        error: std::io::Error,
    },
    /// The configuration file is not a JSON object.
    #[error("configuration file {path} is not a JSON object: {reason}")]
    ConfigNotJson {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A configuration value is not a string (Fivetran sends only strings). The value is never
    /// echoed: it may be a secret typed without quotes.
    #[error("configuration key '{key}' in {path} must be a string (Fivetran sends every value as a string), found {found}; put the value in double quotes")]
    NotAString {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// The `simulator` object is malformed or given without `base_url: simulator`.
    #[error("configuration key 'simulator' in {path}: {reason}")]
    Simulator {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
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
    #[error("cannot read state file {path}: {error}")]
    ReadState {
        /// The file.
        path: PathBuf,
        /// The IO error.
        error: std::io::Error,
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

/// A `debug` configuration file: what Fivetran would send, and the options of the bundled simulator.
#[derive(Debug, Default)]
pub struct ConfigurationFile {
    /// The connector's configuration (every value a string, as Fivetran sends it).
    pub values: HashMap<String, String>,
    /// The `simulator` object's options (only with `"base_url": "simulator"`).
    pub simulator: SimulatorOptions,
}

/// The key of a configuration file that holds options of the bundled simulator, not of the connector.
pub const SIMULATOR_KEY: &str = "simulator";

/// Reads the configuration file: a JSON object whose values are all strings, except an optional
/// `simulator` object (see [`ConfigurationFile`]).
pub fn read_configuration(path: &Path) -> Result<ConfigurationFile, InputError> {
    let text = std::fs::read_to_string(path).map_err(|error| InputError::ReadConfig {
        path: path.to_path_buf(),
        error,
    })?;
    parse_configuration(&text, path)
}

/// Parses configuration text (see [`read_configuration`]). A leading byte-order mark (Windows
/// editors write one) is ignored.
pub fn parse_configuration(text: &str, path: &Path) -> Result<ConfigurationFile, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
    let mut out = ConfigurationFile::default();
    for (key, value) in map {
        let found = match &value {
            serde_json::Value::String(s) => {
                out.values.insert(key, s.clone());
                continue;
            }
            serde_json::Value::Object(options) if key == SIMULATOR_KEY => {
                out.simulator = SimulatorOptions::from_json(options).map_err(|reason| {
                    InputError::Simulator {
                        path: path.to_path_buf(),
                        reason,
                    }
                })?;
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
        });
    }
    let on_simulator = out.values.get("base_url").map(String::as_str) == Some(SIMULATOR_URL);
    if out.simulator != SimulatorOptions::default() && !on_simulator {
        return Err(InputError::Simulator {
            path: path.to_path_buf(),
            reason: format!("simulator options apply only with \"base_url\": \"{SIMULATOR_URL}\""),
        });
    }
    Ok(out)
}

/// Checks the configuration against the form: every required field (with no default) is present and
/// non-empty, an error naming file and key otherwise. Keys the form does not have are returned as
/// warnings (Fivetran's form would never send them: most likely a typo, such as `start_dat`).
pub fn check_against_form(
    form: &proto::ConfigurationFormResponse,
    config: &HashMap<String, String>,
    path: &Path,
) -> Result<Vec<String>, InputError> {
    let mut known = Vec::new();
    collect_fields(&form.fields, &mut known);
    for field in &known {
        let required = field.required.unwrap_or(false) && field.default_value.is_none();
        if required && config.get(&field.name).is_none_or(|v| v.trim().is_empty()) {
            return Err(InputError::MissingRequired {
                path: path.to_path_buf(),
                key: field.name.clone(),
                label: field.label.clone(),
            });
        }
    }
    let names: Vec<&str> = known.iter().map(|f| f.name.as_str()).collect();
    let mut unknown: Vec<&String> = config
        .keys()
        .filter(|k| !names.contains(&k.as_str()))
        .collect();
    unknown.sort();
    Ok(unknown
        .into_iter()
        .map(|key| {
            let hint = closest(key, &names)
                .map(|n| format!(" (did you mean '{n}'?)"))
                .unwrap_or_default();
            format!(
                "configuration key '{key}' in {} is not a field of this connector{hint}; it is ignored",
                path.display()
            )
        })
        .collect())
}

/// The form's fields, those inside conditional groups included (groups are not fields themselves).
fn collect_fields<'a>(fields: &'a [proto::FormField], out: &mut Vec<&'a proto::FormField>) {
    for field in fields {
        match &field.r#type {
            Some(proto::form_field::Type::ConditionalFields(group)) => {
                collect_fields(&group.fields, out)
            }
            _ => out.push(field),
        }
    }
}

/// The known name within two edits of `key`, if one is.
fn closest<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (edit_distance(key, n), *n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
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
    let text = std::fs::read_to_string(&path).map_err(|error| InputError::ReadState {
        path: path.clone(),
        error,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    match serde_json::from_str::<serde_json::Value>(text) {
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
            msg.contains("'take'") && msg.contains("a number") && msg.contains("c.json"),
            "{msg}"
        );
        assert!(parse_configuration("{oops", Path::new("c.json"))
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        assert_eq!(
            parse_configuration(r#"{"a":"x"}"#, Path::new("c.json"))
                .unwrap()
                .values["a"],
            "x"
        );
    }

    /// Issue 16, defect 9: a secret typed as a number was echoed in the advice.
    #[test]
    fn defect_09_a_secret_that_is_not_a_string_is_never_echoed() {
        for text in [
            r#"{"api_key": 98765432123456, "base_url": "simulator"}"#,
            r#"{"password": ["hunter2secret"]}"#,
            r#"{"password": {"v": "hunter2secret"}}"#,
        ] {
            let msg = parse_configuration(text, Path::new("c.json"))
                .unwrap_err()
                .to_string();
            assert!(
                !msg.contains("98765432123456") && !msg.contains("hunter2secret"),
                "{msg}"
            );
            assert!(
                msg.contains("c.json") && msg.contains("double quotes"),
                "{msg}"
            );
        }
    }

    /// Issue 16, defect 13: a byte-order mark was reported as `expected value at line 1 column 1`.
    #[test]
    fn defect_13_a_byte_order_mark_is_ignored() {
        let file = parse_configuration("\u{feff}{\"a\":\"x\"}", Path::new("c.json")).unwrap();
        assert_eq!(file.values["a"], "x");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "\u{feff}{\"a\":1}").unwrap();
        assert_eq!(read_state(None, dir.path()).unwrap(), "{\"a\":1}");
    }

    #[test]
    fn the_simulator_object_is_taken_apart_only_with_the_simulator_base_url() {
        let file = parse_configuration(
            r#"{"base_url": "simulator", "simulator": {"seed": 3, "fault_rate": 0.1}}"#,
            Path::new("c.json"),
        )
        .unwrap();
        assert_eq!(file.simulator.fault_rate, Some(0.1));
        assert!(!file.values.contains_key("simulator"));
        let err = parse_configuration(
            r#"{"base_url": "https://api.example.org", "simulator": {"seed": 3}}"#,
            Path::new("c.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("'simulator'") && err.contains("c.json"),
            "{err}"
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
        let err = check_against_form(&form, &config, Path::new("c.json")).unwrap_err();
        assert!(err.to_string().contains("'api_key' (API key)"));
        config.insert("api_key".to_string(), "k".to_string());
        assert!(check_against_form(&form, &config, Path::new("c.json"))
            .unwrap()
            .is_empty());
    }

    /// Issue 16, defect 15: a typo such as `start_dat` was ignored without a word.
    #[test]
    fn defect_15_unknown_configuration_keys_are_warned_with_the_likely_key() {
        use crate::sdk::{Field, Form};
        let form = Form::new()
            .field(Field::password("api_key", "API key"))
            .field(Field::text("start_date", "Start").optional())
            .to_proto();
        let config: HashMap<String, String> =
            [("api_key", "k"), ("start_dat", "2024-01-01"), ("zzz", "")]
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
        let warnings = check_against_form(&form, &config, Path::new("c.json")).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("'start_dat'")
                && warnings[0].contains("did you mean 'start_date'")
                && warnings[0].contains("c.json"),
            "{warnings:?}"
        );
        assert!(!warnings[1].contains("did you mean"), "{warnings:?}");
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

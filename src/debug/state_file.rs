//! `files/state.json`: the state of the last checkpoint, which the next sync starts from.
//!
//! The state is kept as Fivetran's local tester keeps it: the checkpoint's JSON object without whitespace
//! (`{"cursor":"2024-01-01"}`), keys in the order the connector wrote them. Every write replaces the file
//! atomically: the text goes to a temporary file in the same directory, is flushed to disk, and is renamed over
//! the old file, so a crash leaves either the old state or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file name of the state inside the `files` directory.
pub const STATE_FILE_NAME: &str = "state.json";

/// What can go wrong reading, checking or writing the state.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The text is not JSON, or its top-level value is not an object (Fivetran requires an object).
    #[error("state is not a json object: {reason}")]
    NotAnObject {
        /// Why it was refused.
        reason: String,
    },
    /// The state file exists but could not be read.
    #[error("cannot read state file {path}: {source}")]
    Read {
        /// The state file.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// The state could not be written and renamed into place; the old state file is untouched.
    #[error("cannot write state file {path}: {source}")]
    Write {
        /// The state file.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
}

/// The state file of a local sync.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `<files_dir>/state.json`.
    pub fn in_dir(files_dir: &Path) -> Self {
        Self::new(files_dir.join(STATE_FILE_NAME))
    }

    /// Where the state is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, compacted, or `None` when there is no state file yet (a first sync).
    /// A file that holds something other than a JSON object is an error, not an empty state.
    pub fn read(&self) -> Result<Option<String>, StateFileError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateFileError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        compact_state(&text).map(Some)
    }

    /// Replaces the state with `state_json` (compacted) atomically: temp file, fsync, rename, then an fsync of
    /// the directory so that the rename itself survives a crash. The file is untouched if anything fails.
    pub fn write(&self, state_json: &str) -> Result<(), StateFileError> {
        let compact = compact_state(state_json)?;
        self.replace_with(&compact)
            .map_err(|source| StateFileError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn replace_with(&self, text: &str) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| STATE_FILE_NAME.to_owned());
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        sync_dir(dir);
        Ok(())
    }
}

/// Makes a rename durable (Unix; elsewhere a directory cannot be opened for that). Some file systems refuse
/// to fsync a directory; the rename has happened either way, so a refusal is only logged.
fn sync_dir(dir: &Path) {
    if cfg!(unix) {
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot fsync the state directory");
        }
    }
}

/// `state_json` without whitespace outside strings, after checking that it is a JSON object. Keys keep their
/// order and numbers their spelling: the text is not re-serialized.
pub fn compact_state(state_json: &str) -> Result<String, StateFileError> {
    match serde_json::from_str::<serde_json::Value>(state_json) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(other) => {
            return Err(StateFileError::NotAnObject {
                reason: format!("top-level value is {}", json_kind(&other)),
            })
        }
        Err(e) => {
            return Err(StateFileError::NotAnObject {
                reason: e.to_string(),
            })
        }
    }
    let mut out = String::with_capacity(state_json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in state_json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    Ok(out)
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_without_reordering_or_touching_strings() {
        let text = "{ \"z\": 1,\n  \"a\": {\"b c\": \"x \\\" y\", \"n\": 1.50 }, \"e\": [ 1, 2 ] }";
        assert_eq!(
            compact_state(text).unwrap(),
            r#"{"z":1,"a":{"b c":"x \" y","n":1.50},"e":[1,2]}"#
        );
        assert_eq!(compact_state("{}").unwrap(), "{}");
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        for bad in ["", "[]", "1", "\"s\"", "{", "null"] {
            assert!(
                matches!(compact_state(bad), Err(StateFileError::NotAnObject { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn write_then_read_round_trips_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::in_dir(dir.path());
        assert_eq!(state.read().unwrap(), None);
        state.write("{ \"cursor\": \"2024\" }").unwrap();
        assert_eq!(
            fs::read_to_string(state.path()).unwrap(),
            r#"{"cursor":"2024"}"#
        );
        state.write(r#"{"cursor":"2025"}"#).unwrap();
        assert_eq!(
            state.read().unwrap().as_deref(),
            Some(r#"{"cursor":"2025"}"#)
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE_NAME)]);
    }

    #[test]
    fn a_refused_state_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::in_dir(dir.path());
        state.write(r#"{"a":1}"#).unwrap();
        assert!(state.write("[1]").is_err());
        assert_eq!(state.read().unwrap().as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn a_failed_rename_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        // the state path is a non-empty directory: the rename over it fails
        let target = dir.path().join(STATE_FILE_NAME);
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), "x").unwrap();
        let err = StateFile::in_dir(dir.path()).write("{}").unwrap_err();
        assert!(matches!(err, StateFileError::Write { .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_corrupt_state_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE_NAME), "not json").unwrap();
        assert!(StateFile::in_dir(dir.path()).read().is_err());
    }
}

//! One writer per `files/` directory: two `debug` runs into one warehouse would interleave their
//! transactions and their checkpoints. The lock is an advisory lock on `files/.lock`, held for as long as
//! the warehouse is open; the kernel releases it when the process ends, however it ends, so a killed
//! run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::error::WarehouseError;

/// The lock file's name inside `files/`.
pub const LOCK_FILE_NAME: &str = ".lock";

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir`, or says which process holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, WarehouseError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io = |error: std::io::Error| WarehouseError::Lock {
            path: path.clone(),
            error,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the message another run prints.
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                write!(file, "{}", std::process::id()).map_err(io)?;
                Ok(Self { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(WarehouseError::Locked {
                    dir: dir.to_owned(),
                    holder: holder.trim().parse().ok(),
                })
            }
            Err(TryLockError::Error(error)) => Err(io(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_12_a_second_lock_names_the_holder_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&std::process::id().to_string()) && message.contains("--files"),
            "{message}"
        );
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}

//! Conformance: the built `fivetran_source` binary, driven over gRPC by a Python client made from Fivetran's
//! own published stubs (fivetran-connector-sdk 2.13.1), as Fivetran's host would drive it.
//!
//! The client and what it asserts are in `tests/conformance/conformance.py`; it needs the virtualenv that
//! `bash tests/conformance/setup.sh` creates in `.venv/`. The test runs that script itself (it is
//! idempotent and returns at once when the virtualenv is current), so a fresh clone runs it with
//! nothing set up by hand; if the virtualenv cannot be made (no Python 3.9+, no package index), the
//! test fails saying why. It never skips.
//!
//! The binary is `$FIVETRAN_SOURCE_BIN` if set, else `target/release/fivetran_source` when that build is
//! newer than every source file (so `.ci/run` reuses its one release build), else the binary Cargo built
//! for this test run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

#[test]
fn fivetran_python_client_drives_the_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let stubs = root.join(".venv/fivetran-sdk/protos/connector_sdk_pb2_grpc.py");
    let setup = Command::new("bash")
        .arg(root.join("tests/conformance/setup.sh"))
        .current_dir(root)
        .output()
        .expect("run tests/conformance/setup.sh");
    assert!(
        setup.status.success() && python.is_file() && stubs.is_file(),
        "the conformance virtualenv could not be made by tests/conformance/setup.sh ({}):\n{}{}",
        setup.status,
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );

    let (binary, why) = binary_under_test(root);
    println!("conformance: binary {} ({why})", binary.display());
    let output = Command::new(&python)
        .arg(root.join("tests/conformance/conformance.py"))
        .arg("--binary")
        .arg(&binary)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run the Python conformance client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "conformance client failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // One line past the harness's capture, so CI logs show what was checked and against which binary.
    let last = stdout.lines().last().unwrap_or_default();
    let _ = writeln!(std::io::stderr(), "{last} [{}: {why}]", binary.display());
}

/// The binary to test and why it was chosen.
fn binary_under_test(root: &Path) -> (PathBuf, &'static str) {
    if let Some(path) = std::env::var_os("FIVETRAN_SOURCE_BIN") {
        return (PathBuf::from(path), "from FIVETRAN_SOURCE_BIN");
    }
    let built = PathBuf::from(env!("CARGO_BIN_EXE_fivetran_source"));
    let release = built
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("release").join("fivetran_source"));
    let Some(release) = release.filter(|path| path != &built) else {
        return (built, "built by this cargo invocation");
    };
    match (modified(&release), newest_source(root)) {
        (Some(binary), Some(source)) if binary >= source => {
            (release, "release build, newer than every source file")
        }
        (Some(_), _) => (
            built,
            "built by this cargo invocation; the release build is stale",
        ),
        (None, _) => (built, "built by this cargo invocation; no release build"),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|meta| meta.modified()).ok()
}

/// The newest modification time among the inputs of the binary.
fn newest_source(root: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut pending: Vec<PathBuf> = [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src",
        "connectors",
        "proto",
    ]
    .iter()
    .map(|name| root.join(name))
    .collect();
    while let Some(path) = pending.pop() {
        let Ok(meta) = path.metadata() else { continue };
        if let Ok(entries) = std::fs::read_dir(&path) {
            pending.extend(entries.filter_map(|entry| entry.ok().map(|entry| entry.path())));
        }
        newest = newest.max(meta.modified().ok());
    }
    newest
}

//! The debug runner end to end: the production server, the local warehouse and state, and the
//! crash/resume contract (a checkpoint commits rows then state; state never runs ahead of the rows).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fivetran_source::debug::runner::{run_debug, DebugError, DebugOptions};

fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

fn db(files: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(files.join("warehouse.db")).unwrap()
}

fn count(files: &Path, sql: &str) -> i64 {
    db(files).query_row(sql, [], |r| r.get(0)).unwrap()
}

fn state(files: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(files.join("state.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn two_runs_match_the_source_with_updates_and_soft_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let cfg = config(&[("record_count", "300"), ("checkpoint_every", "100")]);

    let first = run_debug(DebugOptions::new("demo", cfg.clone(), &files))
        .await
        .unwrap();
    assert!(first.succeeded(), "{:?}", first.failure);
    assert_eq!(first.summary.checkpoints, 4);
    assert_eq!(count(&files, r#"select count(*) from "tester.items""#), 300);
    assert_eq!(
        count(
            &files,
            r#"select count(*) from "tester.items" where _fivetran_synced is null"#
        ),
        0
    );
    assert_eq!(state(&files)["next_id"], 300);

    // The source changes: item 299 is updated, item 0 deleted, 300 new items, one more event.
    let second = run_debug(DebugOptions::new("demo", cfg, &files))
        .await
        .unwrap();
    assert!(second.succeeded());
    assert_eq!(second.summary.total.updates, 1);
    assert_eq!(second.summary.total.deletes, 1);
    assert_eq!(count(&files, r#"select count(*) from "tester.items""#), 600);
    assert_eq!(
        count(
            &files,
            r#"select count(*) from "tester.items" where _fivetran_deleted = 1"#
        ),
        1
    );
    assert_eq!(
        count(
            &files,
            r#"select id from "tester.items" where _fivetran_deleted = 1"#
        ),
        0
    );
    assert_eq!(
        count(
            &files,
            r#"select revision from "tester.items" where id = 299"#
        ),
        1
    );
    // Every column of an untouched row equals what the source generated.
    let name: String = db(&files)
        .query_row(
            r#"select name from "tester.items" where id = 123"#,
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "item-123");
    assert_eq!(count(&files, r#"select count(*) from "tester.events""#), 2);
    assert_eq!(state(&files)["next_id"], 600);
    assert_eq!(state(&files)["syncs"], 2);
}

#[tokio::test]
async fn a_failed_sync_keeps_the_last_checkpoint_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let failing = config(&[
        ("record_count", "500"),
        ("checkpoint_every", "100"),
        ("fail_after", "250"),
    ]);
    let outcome = run_debug(DebugOptions::new("demo", failing, &files))
        .await
        .unwrap();
    let failure = outcome.failure.expect("the sync fails");
    assert!(failure.contains("fail_after"), "{failure}");
    // Rows after the last checkpoint (200..249) were rolled back; state is at the checkpoint.
    assert_eq!(count(&files, r#"select count(*) from "tester.items""#), 200);
    assert_eq!(state(&files)["next_id"], 200);

    let resumed = run_debug(DebugOptions::new(
        "demo",
        config(&[("record_count", "300"), ("checkpoint_every", "100")]),
        &files,
    ))
    .await
    .unwrap();
    assert!(resumed.succeeded());
    assert_eq!(count(&files, r#"select count(*) from "tester.items""#), 500);
    assert_eq!(
        count(&files, r#"select count(distinct id) from "tester.items""#),
        500
    );
    assert_eq!(count(&files, r#"select max(id) from "tester.items""#), 499);
    assert_eq!(state(&files)["next_id"], 500);
}

#[test]
fn a_killed_run_resumes_without_loss_and_state_never_leads_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config_file = dir.path().join("configuration.json");
    std::fs::write(
        &config_file,
        r#"{"record_count":"400000","checkpoint_every":"2000"}"#,
    )
    .unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_fivetran_source"))
            .args(["debug", "--connector", "demo", "--configuration"])
            .arg(&config_file)
            .arg("--files")
            .arg(&files)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = run();
    // Kill -9 once a few checkpoints are on disk.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let at = std::fs::read_to_string(files.join("state.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["next_id"].as_u64())
            .unwrap_or(0);
        if at >= 6000 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let killed_at = state(&files)["next_id"].as_i64().unwrap();
    assert!(killed_at < 400_000, "killed before the end");
    // State never leads the rows: every item below the checkpointed cursor is committed.
    let below = count(
        &files,
        &format!(r#"select count(*) from "tester.items" where id < {killed_at}"#),
    );
    assert_eq!(below, killed_at);

    // The resumed sync continues from the checkpoint (a small one keeps the test quick).
    std::fs::write(
        &config_file,
        r#"{"record_count":"1000","checkpoint_every":"2000"}"#,
    )
    .unwrap();
    let status = run().wait().unwrap();
    assert!(status.success());
    let total = state(&files)["next_id"].as_i64().unwrap();
    assert_eq!(total, killed_at + 1000);
    assert_eq!(
        count(&files, r#"select count(*) from "tester.items""#),
        total
    );
    assert_eq!(
        count(&files, r#"select max(id) from "tester.items""#),
        total - 1
    );
}

#[tokio::test]
async fn bad_inputs_fail_with_their_message_and_leave_files_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");

    // A configuration value the connector rejects: the setup test fails, nothing is written.
    let err = run_debug(DebugOptions::new(
        "demo",
        config(&[("record_count", "many")]),
        &files,
    ))
    .await
    .unwrap_err();
    assert!(matches!(&err, DebugError::SetupTest { .. }), "{err}");
    assert!(err.to_string().contains("'record_count'"), "{err}");
    assert!(!files.exists());

    // State that is not JSON, or not this connector's state.
    std::fs::create_dir_all(&files).unwrap();
    let state_path = dir.path().join("state.json");
    for (bad, expect) in [
        ("{oops", "not a JSON object"),
        (r#"{"version":1,"nextid":1}"#, "nextid"),
        (r#"{"nextid":1}"#, "'version' is missing"),
    ] {
        std::fs::write(&state_path, bad).unwrap();
        let mut options = DebugOptions::new("demo", config(&[]), &files);
        options.state_file = Some(state_path.clone());
        let err = run_debug(options).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
        assert_eq!(
            std::fs::read_dir(&files).unwrap().count(),
            0,
            "files/ must stay empty"
        );
    }

    // An unknown connector lists the valid ones.
    let err = run_debug(DebugOptions::new("nope", config(&[]), &files))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("demo"));

    // `base_url: simulator` for a connector without one says so.
    let err = run_debug(DebugOptions::new(
        "demo",
        config(&[("base_url", "simulator")]),
        &files,
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no bundled simulator"), "{err}");
    assert_eq!(std::fs::read_dir(&files).unwrap().count(), 0);
}

#[test]
fn configuration_values_must_be_strings_and_required_keys_present() {
    use fivetran_source::debug::inputs;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, r#"{"record_count": 10}"#).unwrap();
    let err = inputs::read_configuration(&path).unwrap_err().to_string();
    assert!(
        err.contains("'record_count'") && err.contains("c.json") && !err.contains("10"),
        "the key and file are named, the value never echoed: {err}"
    );
}

/// A warehouse row as (column, value) text.
type DumpedRow = Vec<(String, String)>;

/// Every table of a warehouse as its rows, `_fivetran_synced` left out (the time of the write), in a
/// fixed order.
fn dump(files: &Path) -> Vec<(String, Vec<DumpedRow>)> {
    let db = db(files);
    let mut names: Vec<String> = db
        .prepare("select name from sqlite_master where type = 'table' order by name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names.retain(|n| n.starts_with("tester."));
    names
        .into_iter()
        .map(|table| {
            let mut stmt = db
                .prepare(&format!(r#"select * from "{table}" order by 1, 2"#))
                .unwrap();
            let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
            let rows = stmt
                .query_map([], |r| {
                    Ok(columns
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| *c != "_fivetran_synced")
                        .map(|(i, c)| {
                            let v: rusqlite::types::Value = r.get(i).unwrap();
                            (c.clone(), format!("{v:?}"))
                        })
                        .collect())
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (table, rows)
        })
        .collect()
}

/// A Connector SDK host asks for the compact `row_data` cells with `ConnectorSdkRemoveValueType=true`;
/// the same sync then lands in the warehouse exactly as with typed cells, for a column of every type.
#[test]
fn compact_row_data_cells_land_exactly_as_typed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("configuration.json");
    std::fs::write(
        &config_file,
        r#"{"record_count":"700","checkpoint_every":"250"}"#,
    )
    .unwrap();
    let sync = |files: &Path, compact: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fivetran_source"));
        command
            .args(["debug", "--connector", "demo", "--configuration"])
            .arg(&config_file)
            .arg("--files")
            .arg(files)
            .env_remove("ConnectorSdkRemoveValueType")
            .stdout(Stdio::null());
        if compact {
            command.env("ConnectorSdkRemoveValueType", "true");
        }
        assert!(command.status().unwrap().success(), "compact: {compact}");
    };
    let (typed, compact) = (dir.path().join("typed"), dir.path().join("compact"));
    for _ in 0..2 {
        // The second run has updates and deletes.
        sync(&typed, false);
        sync(&compact, true);
    }
    let (typed, compact) = (dump(&typed), dump(&compact));
    assert!(
        typed.iter().any(|(_, rows)| rows.len() >= 700),
        "too little synced to compare: {:?}",
        typed.iter().map(|(t, r)| (t, r.len())).collect::<Vec<_>>()
    );
    assert_eq!(typed.len(), compact.len(), "tables differ");
    for ((table, want), (_, got)) in typed.iter().zip(&compact) {
        assert_eq!(want.len(), got.len(), "{table}: row counts differ");
        // The first differing row only: a whole table would bury it.
        if let Some((w, g)) = want.iter().zip(got).find(|(w, g)| w != g) {
            panic!("{table}: typed {w:?}\ncompact {g:?}");
        }
    }
}

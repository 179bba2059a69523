//! The `mysql` connector against real, throwaway MariaDB servers (tests/cdc/support.rs), through the
//! host seam (the gRPC server and the local warehouse): every type, changes between syncs, kills
//! during the snapshot and the stream, and bad inputs.

#[path = "cdc/support.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use fivetran_source::compliance::compare;
use fivetran_source::connectors::mysql::Mysql;
use fivetran_source::debug::host::{self, DebugError, DebugOutcome, HostOptions};
use fivetran_source::sdk::{DynConnector, Schema};

use support::MariaServer;

fn connector() -> Arc<dyn DynConnector> {
    Arc::new(Mysql)
}

/// A table of documents, a keyless table and a scratch table.
const SCHEMA_SQL: &str = r#"
CREATE TABLE docs (id int PRIMARY KEY, title varchar(100), body mediumtext, revision int);
CREATE TABLE events (kind varchar(20), at datetime, amount int);
CREATE TABLE scratch (id int PRIMARY KEY, v varchar(20));
"#;

const ROWS_SQL: &str = r#"
INSERT INTO docs SELECT seq, CONCAT('doc ', seq), REPEAT(MD5(seq), 100), 1 FROM seq_1_to_150;
INSERT INTO scratch SELECT seq, CONCAT('v', seq) FROM seq_1_to_10;
INSERT INTO events SELECT CONCAT('e', seq), '2024-01-01 00:00:00' + INTERVAL seq HOUR, seq FROM seq_1_to_30;
"#;

fn setup(db: &MariaServer) {
    db.script(support::MARIADB_EVERY_TYPE_SQL);
    db.script(SCHEMA_SQL);
    db.script(ROWS_SQL);
}

async fn sync(
    db: &MariaServer,
    files: &Path,
    change: impl FnOnce(&mut HostOptions),
) -> DebugOutcome {
    let mut options = HostOptions::new(db.configuration(), files);
    change(&mut options);
    host::sync(connector(), options)
        .await
        .expect("the sync starts")
}

async fn schema(db: &MariaServer) -> Schema {
    connector()
        .schema(&db.configuration())
        .await
        .expect("schema")
}

/// Asserts the warehouse equals the database for `tables`.
async fn assert_equal(db: &MariaServer, files: &Path, tables: &[&str], what: &str) {
    let schema = schema(db).await;
    let diff = compare(files, &schema, &db.truth(tables)).expect("compare");
    assert!(diff.is_empty(), "{what}: {diff}");
    assert!(diff.compared > 0, "{what}: nothing compared");
}

/// The keyless `events` table: its live warehouse rows equal the database's, as a multiset.
async fn assert_events_equal(db: &MariaServer, files: &Path, what: &str) {
    use fivetran_source::compliance::canon;
    use fivetran_source::debug::warehouse::{LocalWarehouse, TableName, WarehouseOptions};
    let schema = schema(db).await;
    let def = schema.table(None, "events").unwrap();
    let canonical = |row: &std::collections::BTreeMap<String, serde_json::Value>| -> String {
        def.columns
            .iter()
            .filter(|c| c.name != "_fivetran_id")
            .map(|c| canon(c.ty, row.get(&c.name).unwrap_or(&serde_json::Value::Null)))
            .collect::<Vec<_>>()
            .join("|")
    };
    let truth = db.truth(&["events"]);
    let mut want: Vec<String> = truth["events"].iter().map(canonical).collect();
    let warehouse = LocalWarehouse::open(files, WarehouseOptions::default()).unwrap();
    let mut got: Vec<String> = warehouse
        .rows(&TableName::new("tester", "events"))
        .unwrap()
        .iter()
        .filter(|r| {
            r.get("_fivetran_deleted") != Some(&serde_json::json!(true))
                && r.get("_fivetran_deleted") != Some(&serde_json::json!(1))
        })
        .map(canonical)
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{what}: events (keyless) differ");
    assert!(!want.is_empty(), "{what}: no events to compare");
}

fn state_position(files: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(files.join("state.json")).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(state["position"].clone())
}

const ALL: &[&str] = &["every_type", "docs", "scratch"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_then_changes_between_syncs_land_exactly() {
    let Some(db) = MariaServer::start() else {
        return;
    };
    setup(&db);
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&db, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "first sync: {:?}", first.failure);
    assert_equal(&db, dir.path(), ALL, "first sync").await;
    assert_events_equal(&db, dir.path(), "first sync").await;

    let schema = schema(&db).await;
    let def = schema.table(None, "every_type").unwrap();
    let ty = |c: &str| def.columns.iter().find(|x| x.name == c).unwrap().ty;
    use fivetran_source::sdk::ColumnType as T;
    assert_eq!(
        [
            ty("flag"),
            ty("ti"),
            ty("tu"),
            ty("s"),
            ty("su"),
            ty("mi"),
            ty("mu")
        ],
        [
            T::Boolean,
            T::Short,
            T::Short,
            T::Short,
            T::Int,
            T::Int,
            T::Int
        ]
    );
    assert_eq!(
        [ty("i"), ty("iu"), ty("b"), ty("f"), ty("d"), ty("y")],
        [T::Int, T::Long, T::Long, T::Float, T::Double, T::Int]
    );
    assert_eq!(
        ty("bu"),
        T::Decimal {
            precision: 20,
            scale: 0
        }
    );
    assert_eq!(
        ty("n"),
        T::Decimal {
            precision: 12,
            scale: 3
        }
    );
    assert_eq!(
        [
            ty("day"),
            ty("at"),
            ty("ts"),
            ty("j"),
            ty("bin"),
            ty("bl"),
            ty("b1"),
            ty("b12")
        ],
        [
            T::NaiveDate,
            T::NaiveDateTime,
            T::UtcDateTime,
            T::Json,
            T::Binary,
            T::Binary,
            T::Boolean,
            T::Binary
        ]
    );
    assert_eq!(
        [ty("t"), ty("ch"), ty("vc"), ty("txt"), ty("e"), ty("st")],
        [T::String; 6]
    );
    assert!(schema
        .table(None, "events")
        .unwrap()
        .columns
        .iter()
        .all(|c| !c.primary_key));

    // Every type again through the binlog: the same values inserted as new rows, and updated.
    db.script(
        r#"
INSERT INTO every_type SELECT id + 10, flag, ti, tu, s, su, mi, mu, i, iu, b, bu, n, f, d, day, at, ts, t, y, j, bin, bl, ch, vc, txt, e, st, b1, b12 FROM every_type;
UPDATE every_type SET txt = 'changed', n = 1.5, e = 'ok', st = 'b', ts = '2030-01-01 00:00:01' WHERE id = 1;
DELETE FROM every_type WHERE id = 3;
UPDATE docs SET revision = revision + 1 WHERE id <= 20;
UPDATE docs SET id = 1000 WHERE id = 150;
DELETE FROM docs WHERE id BETWEEN 30 AND 39;
INSERT INTO docs VALUES (2000, 'late', REPEAT('x', 100000), 1);
UPDATE events SET amount = -amount WHERE kind = 'e1';
DELETE FROM events WHERE kind = 'e2';
INSERT INTO events VALUES ('after update', '2025-01-01 00:00:00', 1);
TRUNCATE scratch;
INSERT INTO scratch VALUES (100, 'after truncate');
ALTER TABLE docs ADD COLUMN tags varchar(50);
UPDATE docs SET tags = 'a,b' WHERE id = 5;
ALTER TABLE every_type ADD COLUMN extra int DEFAULT 42;
INSERT INTO every_type (id, extra) VALUES (50, 7);
CREATE TABLE later (id int PRIMARY KEY, name varchar(20));
INSERT INTO later SELECT seq, CONCAT('later ', seq) FROM seq_1_to_5;
UPDATE later SET name = 'renamed' WHERE id = 2;
"#,
    );
    let second = sync(&db, dir.path(), |_| {}).await;
    assert!(second.succeeded(), "second sync: {:?}", second.failure);
    let mut all = ALL.to_vec();
    all.push("later");
    assert_equal(&db, dir.path(), &all, "after changes").await;
    assert_events_equal(&db, dir.path(), "after changes").await;

    // Changes streamed within one sync, after the new column: the stream carries it.
    db.script(
        "UPDATE docs SET tags = 'streamed' WHERE id = 6; INSERT INTO every_type (id, extra) VALUES (51, 8); \
         DELETE FROM later WHERE id = 1;",
    );
    let before = state_position(dir.path()).unwrap();
    let third = sync(&db, dir.path(), |_| {}).await;
    assert!(third.succeeded(), "third sync: {:?}", third.failure);
    assert_equal(&db, dir.path(), &all, "streamed after the new column").await;
    let after = state_position(dir.path()).unwrap();
    assert_ne!(before, after, "the position did not move");
    let idle = sync(&db, dir.path(), |_| {}).await;
    assert!(idle.succeeded(), "idle sync: {:?}", idle.failure);
    assert_eq!(
        state_position(dir.path()).unwrap(),
        after,
        "an idle sync moved the position"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_snapshot_and_stream_lose_nothing() {
    let Some(db) = MariaServer::start() else {
        return;
    };
    setup(&db);
    db.script("INSERT INTO docs SELECT seq, CONCAT('more ', seq), 'short', 1 FROM seq_151_to_400;");
    let dir = tempfile::tempdir().unwrap();
    // Killed at the third checkpoint: docs is partway through its chunks of 40.
    let killed = sync(&db, dir.path(), |o| o.stop_after_checkpoints = Some(3)).await;
    assert!(killed.stopped_early, "the sync ended before checkpoint 3");
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(
        state.contains("\"copying\""),
        "not killed mid-snapshot: {state}"
    );
    // Changes while the connector is away, some to rows already copied, some to rows not yet.
    db.script(
        "UPDATE docs SET revision = 7 WHERE id IN (1, 2, 399); DELETE FROM docs WHERE id IN (3, 398); \
         INSERT INTO docs VALUES (5000, 'while away', 'b', 1);",
    );
    let resumed = sync(&db, dir.path(), |_| {}).await;
    assert!(resumed.succeeded(), "resumed: {:?}", resumed.failure);
    assert_equal(&db, dir.path(), ALL, "killed in the snapshot, then resumed").await;
    assert_events_equal(&db, dir.path(), "killed in the snapshot, then resumed").await;

    // Many small transactions (and one big one), then a kill in the middle of streaming them.
    let mut script = String::new();
    for i in 0..300 {
        script.push_str(&format!(
            "UPDATE docs SET revision = revision + 1 WHERE id = {};\n",
            1 + i % 200
        ));
        if i % 50 == 0 {
            script.push_str(&format!("DELETE FROM docs WHERE id = {};\n", 300 + i / 50));
        }
    }
    script.push_str(
        "UPDATE docs SET revision = revision * 2;\nINSERT INTO events VALUES ('late', NULL, 5);\n",
    );
    db.script(&script);
    let acknowledged = state_position(dir.path()).unwrap();
    let killed = sync(&db, dir.path(), |o| o.stop_after_checkpoints = Some(2)).await;
    assert!(killed.stopped_early, "the stream ended before checkpoint 2");
    let mid = state_position(dir.path()).unwrap();
    assert_ne!(mid, acknowledged, "no progress checkpointed");
    let resumed = sync(&db, dir.path(), |_| {}).await;
    assert!(resumed.succeeded(), "resumed stream: {:?}", resumed.failure);
    assert_equal(&db, dir.path(), ALL, "killed in the stream, then resumed").await;
    // The keyless table too, as a multiset.
    assert_events_equal(&db, dir.path(), "killed in the stream, then resumed").await;
}

async fn setup_failure(config: HashMap<String, String>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let options = HostOptions::new(config, &files);
    match host::sync(connector(), options).await {
        Err(DebugError::SetupTest { message, .. }) => {
            assert!(
                !files.join("state.json").exists(),
                "a refused setup wrote state"
            );
            assert!(
                !message.contains(support::CDC_PASSWORD),
                "the password leaked: {message}"
            );
            message
        }
        Err(other) => panic!("not a setup failure: {other}"),
        Ok(outcome) => panic!("synced: {:?}", outcome.failure),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_fail_with_a_message_and_leave_state_alone() {
    let Some(db) = MariaServer::start() else {
        return;
    };
    setup(&db);

    let mut config = db.configuration();
    config.insert("password".into(), "wrong-password".into());
    let message = setup_failure(config).await;
    assert!(
        message.contains("password") && message.contains("1045"),
        "{message}"
    );
    eprintln!("CDC | wrong password | {message}");

    db.sql(
        "mysql",
        "CREATE USER 'plain'@'%' IDENTIFIED BY 'plain-pw'; GRANT SELECT ON app.docs TO 'plain'@'%';",
    );
    let mut config = db.configuration();
    config.insert("user".into(), "plain".into());
    config.insert("password".into(), "plain-pw".into());
    let message = setup_failure(config.clone()).await;
    assert!(
        message.contains("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'plain'@'%'"),
        "{message}"
    );
    eprintln!("CDC | no replication grants | {message}");
    db.sql(
        "mysql",
        "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'plain'@'%';",
    );
    config.insert("tables".into(), "docs, scratch".into());
    let message = setup_failure(config).await;
    assert!(
        message.contains("app.scratch")
            && message.contains("GRANT SELECT ON app.scratch TO 'plain'@'%'"),
        "{message}"
    );
    eprintln!("CDC | no SELECT | {message}");

    let mut config = db.configuration();
    config.insert("tables".into(), "docs, app.nope".into());
    let message = setup_failure(config).await;
    assert!(
        message.contains("app.nope") && message.contains("not found"),
        "{message}"
    );
    eprintln!("CDC | unknown table | {message}");

    db.sql("mysql", "SET GLOBAL binlog_format = 'STATEMENT'");
    let message = setup_failure(db.configuration()).await;
    assert!(
        message.contains("binlog_format is 'STATEMENT'")
            && message.contains("SET GLOBAL binlog_format = 'ROW'"),
        "{message}"
    );
    eprintln!("CDC | binlog_format STATEMENT | {message}");
    db.sql(
        "mysql",
        "SET GLOBAL binlog_format = 'ROW'; SET GLOBAL binlog_row_image = 'MINIMAL'",
    );
    let message = setup_failure(db.configuration()).await;
    assert!(message.contains("binlog_row_image = 'FULL'"), "{message}");
    eprintln!("CDC | binlog_row_image MINIMAL | {message}");
    db.sql("mysql", "SET GLOBAL binlog_row_image = 'FULL'");

    // A purged binlog: the sync stops saying a re-sync is needed, state untouched.
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&db, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    let state = std::fs::read(dir.path().join("state.json")).unwrap();
    db.script("UPDATE docs SET revision = 99 WHERE id = 1;");
    db.sql("mysql", "FLUSH BINARY LOGS");
    let newest = db.binlog_files().pop().unwrap();
    // MariaDB keeps a binlog until InnoDB's checkpoint has passed it: purge until it is gone.
    for _ in 0..100 {
        db.sql("mysql", &format!("PURGE BINARY LOGS TO '{newest}'"));
        if db.binlog_files() == [newest.clone()] {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        db.binlog_files(),
        [newest],
        "the old binlogs were not purged"
    );
    let outcome = sync(&db, dir.path(), |_| {}).await;
    let failure = outcome.failure.expect("a purged binlog fails the sync");
    assert!(
        failure.contains("purged") && failure.contains("re-sync"),
        "{failure}"
    );
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), state);
    eprintln!("CDC | purged binlog | {failure}");

    // The binlog off: the setup test says how to turn it on.
    drop(db);
    let Some(off) = MariaServer::start_with(&["--skip-log-bin"]) else {
        return;
    };
    let message = setup_failure(off.configuration()).await;
    assert!(
        message.contains("log_bin = OFF") && message.contains("log-bin"),
        "{message}"
    );
    eprintln!("CDC | binlog off | {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_require_and_verify_full_sync_and_a_foreign_ca_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let Some(tls) = support::tls_files(certs.path()) else {
        return;
    };
    let ca = certs.path().join("ca.crt");
    let options = [
        format!("--ssl-cert={}", tls.cert.display()),
        format!("--ssl-key={}", tls.key.display()),
        format!("--ssl-ca={}", ca.display()),
    ];
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let Some(db) = MariaServer::start_with(&options) else {
        return;
    };
    setup(&db);
    // require: encrypted, certificate not checked; the snapshot and the binlog stream both over TLS.
    let dir = tempfile::tempdir().unwrap();
    let mut config = db.configuration();
    config.insert("tls".into(), "require".into());
    let outcome = host::sync(connector(), HostOptions::new(config.clone(), dir.path()))
        .await
        .expect("starts");
    assert!(outcome.succeeded(), "require: {:?}", outcome.failure);
    let cipher = db.sql(
        "mysql",
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SSL_ACCEPTS'",
    );
    assert!(
        cipher.trim().parse::<u64>().unwrap() > 0,
        "no TLS connection was accepted"
    );

    // verify-full against the CA that signed the server's certificate: the next sync streams.
    db.script("UPDATE docs SET revision = 5 WHERE id = 1;");
    config.insert("tls".into(), "verify-full".into());
    config.insert("ca_certificate".into(), tls.ca_pem.clone());
    let outcome = host::sync(connector(), HostOptions::new(config.clone(), dir.path()))
        .await
        .expect("starts");
    assert!(outcome.succeeded(), "verify-full: {:?}", outcome.failure);
    assert_equal(&db, dir.path(), ALL, "over TLS").await;

    // verify-full against another CA: refused at the connection test, saying why.
    config.insert("ca_certificate".into(), tls.other_ca_pem.clone());
    let message = setup_failure(config.clone()).await;
    assert!(
        message.contains("certificate") && message.contains("'ca_certificate'"),
        "{message}"
    );
    eprintln!("CDC | tls verify-full, foreign CA | {message}");
    config.insert("ca_certificate".into(), "not a certificate".into());
    let message = setup_failure(config).await;
    assert!(message.contains("ca_certificate"), "{message}");
}

/// With `binlog_row_metadata = FULL` the table maps carry column names: row images are bound by name,
/// so a column added in the middle and a column dropped between syncs land exactly, also for the
/// events logged before each change (by position they would shift every later column by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_full_row_metadata_middle_and_dropped_columns_bind_by_name() {
    let Some(db) = MariaServer::start_with(&["--binlog-row-metadata=FULL"]) else {
        return;
    };
    db.script(
        "CREATE TABLE shapes (id int PRIMARY KEY, a varchar(20), b int, c varchar(20)); \
         INSERT INTO shapes SELECT seq, CONCAT('a', seq), seq, CONCAT('c', seq) FROM seq_1_to_50;",
    );
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&db, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    assert_equal(&db, dir.path(), &["shapes"], "first sync").await;

    // Every event below is streamed by the next sync, which reads the catalog after all of them:
    // the images before the DROP still carry `a`, those before the ADD lack `mid`.
    db.script(
        "UPDATE shapes SET b = b + 100 WHERE id <= 5; \
         ALTER TABLE shapes ADD COLUMN mid int DEFAULT 5 AFTER id; \
         UPDATE shapes SET b = b + 1, mid = 6 WHERE id BETWEEN 10 AND 19; \
         ALTER TABLE shapes DROP COLUMN a; \
         UPDATE shapes SET c = 'changed' WHERE id > 40; \
         INSERT INTO shapes (id, mid, b, c) VALUES (100, 7, 1, 'new'); DELETE FROM shapes WHERE id = 2;",
    );
    let second = sync(&db, dir.path(), |_| {}).await;
    assert!(second.succeeded(), "{:?}", second.failure);
    assert_equal(
        &db,
        dir.path(),
        &["shapes"],
        "after ADD ... AFTER and DROP COLUMN",
    )
    .await;

    // Changes after the new layout, streamed with it.
    db.script("UPDATE shapes SET mid = 8, c = 'late' WHERE id IN (1, 30, 100);");
    let third = sync(&db, dir.path(), |_| {}).await;
    assert!(third.succeeded(), "{:?}", third.failure);
    assert_equal(&db, dir.path(), &["shapes"], "after the new layout").await;
}

/// A stream that crosses binlog rotations (a small `max_binlog_size`: many files between two syncs)
/// sends every change, also those in the last file before the offset the previous file ended at. A
/// rotate event's offset (in the file it closes) used to be taken as the position in the file it
/// opens: the 10 M-update benchmark stopped short there, and the saved position pointed past the
/// events of the new file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_across_binlog_rotations_sends_every_change() {
    let Some(db) = MariaServer::start_with(&["--max-binlog-size=4096"]) else {
        return;
    };
    db.script(
        "CREATE TABLE counters (id int PRIMARY KEY, n int, note varchar(40)); \
         INSERT INTO counters SELECT seq, 0, 'start' FROM seq_1_to_200;",
    );
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&db, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    let before = db.binlog_files().len();
    let mut script = String::new();
    for round in 0..30 {
        script.push_str(&format!(
            "UPDATE counters SET n = n + 1, note = 'round {round}' WHERE id % 3 = {};\n",
            round % 3
        ));
    }
    // One transaction of every row makes a file far longer than the limit (it rotates after it);
    // the last file then holds one small change, ending well before the offset the previous one did.
    script.push_str("UPDATE counters SET n = n + 1000, note = 'one big transaction';\n");
    script.push_str("UPDATE counters SET note = 'last' WHERE id = 1;\n");
    db.script(&script);
    let after = db.binlog_files().len();
    assert!(
        after >= before + 5,
        "the updates rotated the binlog only {} times",
        after - before
    );
    let second = sync(&db, dir.path(), |_| {}).await;
    assert!(second.succeeded(), "{:?}", second.failure);
    assert_equal(&db, dir.path(), &["counters"], "after the rotations").await;
    // And the saved position is a real one: the next sync streams from it without error.
    db.script("UPDATE counters SET n = 100 WHERE id = 2;");
    let third = sync(&db, dir.path(), |_| {}).await;
    assert!(third.succeeded(), "{:?}", third.failure);
    assert_equal(&db, dir.path(), &["counters"], "the sync after").await;
}

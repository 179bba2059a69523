//! The `postgres` connector against real, throwaway PostgreSQL servers (tests/cdc/support.rs), through
//! the host seam (the gRPC server and the local warehouse): every type, changes between syncs, kills
//! during the snapshot and the stream, the slot's confirmed position, and bad inputs.

#[path = "cdc/support.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use fivetran_source::compliance::compare;
use fivetran_source::connectors::postgres::Postgres;
use fivetran_source::debug::host::{self, DebugError, DebugOutcome, HostOptions};
use fivetran_source::sdk::{DynConnector, Schema};

use support::{PgServer, DATABASE};

const PUBLICATION: &str = "fivetran_pub";
const SLOT: &str = "fivetran_slot";

fn connector() -> Arc<dyn DynConnector> {
    Arc::new(Postgres)
}

/// Types, the every-type table, a table with a big TOASTed column, a keyless table, the publication.
const SCHEMA_SQL: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (x integer, label text);
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE every_type (
    id bigint PRIMARY KEY,
    s smallint, i integer, b bigint,
    n numeric(12,3), nu numeric, r real, d double precision,
    flag boolean, day date, at timestamp, atz timestamptz, t time, iv interval,
    j json, jb jsonb, bin bytea, u uuid, txt text, vc varchar(20), ch char(3),
    m mood, ints integer[], texts text[], p pair, dom positive
);
CREATE TABLE docs (id integer PRIMARY KEY, title text, body text, revision integer);
CREATE TABLE events (kind text, at timestamptz, amount integer);
CREATE TABLE scratch (id integer PRIMARY KEY, v text);
ALTER TABLE events REPLICA IDENTITY FULL;
CREATE PUBLICATION fivetran_pub FOR ALL TABLES;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cdc_user;
"#;

const ROWS_SQL: &str = r#"
INSERT INTO every_type VALUES
 (1, 32767, 2147483647, 9223372036854775807, 123456789.123, 3.14159, 1.5, 2.25,
  true, '2024-02-29', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.5+02', '23:59:59', '1 day 02:03:04',
  '{"a": [1, 2], "b": null}', '{"z": 1, "a": {"k": "v"}}', '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  'tab	newline
backslash\ quote'' "dq"', 'varchar', 'ab', 'happy', '{1,2,NULL}', '{"a b","c,d",NULL}', ROW(7, 'seven'), 5),
 (2, -32768, -2147483648, -9223372036854775808, 'NaN', 'NaN', 'NaN', 'Infinity',
  false, 'infinity', '-infinity', 'infinity', '00:00:00', '-1 mons', 'null', '[]', '\x', '00000000-0000-0000-0000-000000000000',
  '', '', '', 'sad', '{}', '{}', ROW(NULL, NULL), 1),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- Bodies of random-looking hex (6.4 KB, which compresses to more than 2 KB): stored out of line (TOAST).
INSERT INTO docs SELECT g, 'doc ' || g, (SELECT string_agg(md5(g::text || '-' || k), '') FROM generate_series(1, 200) k), 1
  FROM generate_series(1, 150) g;
INSERT INTO scratch SELECT g, 'v' || g FROM generate_series(1, 10) g;
INSERT INTO events SELECT 'e' || g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', g FROM generate_series(1, 30) g;
"#;

fn setup(pg: &PgServer) {
    pg.script(SCHEMA_SQL);
    pg.script(ROWS_SQL);
}

async fn sync(pg: &PgServer, files: &Path, change: impl FnOnce(&mut HostOptions)) -> DebugOutcome {
    let mut options = HostOptions::new(pg.configuration(), files);
    change(&mut options);
    host::sync(connector(), options)
        .await
        .expect("the sync starts")
}

async fn schema(pg: &PgServer) -> Schema {
    connector()
        .schema(&pg.configuration())
        .await
        .expect("schema")
}

/// Asserts the warehouse equals the database for `tables` (destination, SQL source).
async fn assert_equal(pg: &PgServer, files: &Path, tables: &[(&str, &str)], what: &str) {
    let schema = schema(pg).await;
    let diff = compare(files, &schema, &pg.truth(Some(&schema), tables)).expect("compare");
    assert!(diff.is_empty(), "{what}: {diff}");
    assert!(diff.compared > 0, "{what}: nothing compared");
}

fn state_lsn(files: &Path) -> Option<String> {
    let text = std::fs::read_to_string(files.join("state.json")).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state["lsn"].as_str().map(str::to_owned)
}

/// The tables with a primary key (the comparison matches rows by key).
const ALL: &[(&str, &str)] = &[
    ("every_type", "public.every_type"),
    ("docs", "public.docs"),
    ("scratch", "public.scratch"),
];

/// The keyless `events` table: its live warehouse rows, as a sorted list of canonical values, equal
/// the database's (a multiset: `_fivetran_id` stands in for the key).
async fn assert_events_equal(pg: &PgServer, files: &Path, what: &str) {
    use fivetran_source::compliance::canon;
    use fivetran_source::debug::warehouse::{LocalWarehouse, TableName, WarehouseOptions};
    let schema = schema(pg).await;
    let def = schema.table(None, "events").unwrap();
    let canonical = |row: &std::collections::BTreeMap<String, serde_json::Value>| -> String {
        def.columns
            .iter()
            .map(|c| canon(c.ty, row.get(&c.name).unwrap_or(&serde_json::Value::Null)))
            .collect::<Vec<_>>()
            .join("|")
    };
    let truth = pg.truth(Some(&schema), &[("events", "public.events")]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_then_changes_between_syncs_land_exactly() {
    let Some(pg) = PgServer::start() else { return };
    setup(&pg);
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&pg, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "first sync: {:?}", first.failure);
    assert_equal(&pg, dir.path(), ALL, "first sync").await;
    assert_events_equal(&pg, dir.path(), "first sync").await;
    // A numeric NaN and infinite dates have no Fivetran form: NULL and one warning per column.
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.starts_with("every_type.n:") && w.contains("\"NaN\"")),
        "warnings: {:?}",
        first.warnings
    );
    let schema = schema(&pg).await;
    let def = schema.table(None, "every_type").unwrap();
    let ty = |c: &str| def.columns.iter().find(|x| x.name == c).unwrap().ty;
    use fivetran_source::sdk::ColumnType as T;
    assert_eq!(
        [ty("s"), ty("i"), ty("b"), ty("r"), ty("d"), ty("flag")],
        [T::Short, T::Int, T::Long, T::Float, T::Double, T::Boolean]
    );
    assert_eq!(
        ty("n"),
        T::Decimal {
            precision: 12,
            scale: 3
        }
    );
    assert_eq!(
        [ty("day"), ty("at"), ty("atz"), ty("j"), ty("jb"), ty("bin")],
        [
            T::NaiveDate,
            T::NaiveDateTime,
            T::UtcDateTime,
            T::Json,
            T::Json,
            T::Binary
        ]
    );
    assert_eq!(
        [
            ty("u"),
            ty("txt"),
            ty("m"),
            ty("nu"),
            ty("t"),
            ty("ints"),
            ty("p"),
            ty("dom")
        ],
        [
            T::String,
            T::String,
            T::String,
            T::String,
            T::String,
            T::Json,
            T::Json,
            T::Int
        ]
    );
    assert!(def
        .columns
        .iter()
        .filter(|c| c.primary_key)
        .map(|c| c.name.as_str())
        .eq(["id"]));

    pg.script(
        r#"
INSERT INTO every_type (id, txt, ints) VALUES (10, 'new', '{{1,2},{3,4}}');
INSERT INTO every_type SELECT 11, s, i, b, 2.5, nu, r, d, flag, day, at, atz, t, iv, j, jb, bin, u, txt, vc, ch, m, ints, texts, p, dom FROM every_type WHERE id = 1;
UPDATE every_type SET txt = 'changed', n = 1.5 WHERE id = 1;
DELETE FROM every_type WHERE id = 3;
UPDATE docs SET revision = revision + 1 WHERE id <= 20;
UPDATE docs SET id = 1000 WHERE id = 150;
DELETE FROM docs WHERE id BETWEEN 30 AND 39;
INSERT INTO docs VALUES (2000, 'late', repeat('x', 100000), 1);
UPDATE events SET amount = -amount WHERE kind = 'e1';
DELETE FROM events WHERE kind = 'e2';
INSERT INTO events VALUES ('after update', now(), 1);
TRUNCATE scratch;
INSERT INTO scratch VALUES (100, 'after truncate');
ALTER TABLE docs ADD COLUMN tags text[];
UPDATE docs SET tags = '{a,b}' WHERE id = 5;
ALTER TABLE every_type ADD COLUMN extra integer DEFAULT 42;
CREATE TABLE later (id integer PRIMARY KEY, name text);
GRANT SELECT ON later TO cdc_user;
INSERT INTO later SELECT g, 'later ' || g FROM generate_series(1, 5) g;
UPDATE later SET name = 'renamed' WHERE id = 2;
"#,
    );
    let second = sync(&pg, dir.path(), |_| {}).await;
    assert!(second.succeeded(), "second sync: {:?}", second.failure);
    let mut all = ALL.to_vec();
    all.push(("later", "public.later"));
    assert_equal(&pg, dir.path(), &all, "after changes").await;
    assert_events_equal(&pg, dir.path(), "after changes").await;

    // A third sync with nothing new changes nothing and keeps the position.
    let before = state_lsn(dir.path()).unwrap();
    let third = sync(&pg, dir.path(), |_| {}).await;
    assert!(third.succeeded(), "third sync: {:?}", third.failure);
    assert_equal(&pg, dir.path(), &all, "idle sync").await;
    assert!(support::lsn(&state_lsn(dir.path()).unwrap()) >= support::lsn(&before));
}

/// The slot's confirmed position never passes the state the sync started from.
fn assert_slot_behind(pg: &PgServer, acknowledged: &str, what: &str) {
    let confirmed = pg.confirmed_flush(SLOT).expect("the slot exists");
    assert!(
        support::lsn(&confirmed) <= support::lsn(acknowledged),
        "{what}: the slot confirmed {confirmed}, past the acknowledged {acknowledged}"
    );
    eprintln!("CDC | {what} | confirmed_flush_lsn {confirmed} <= acknowledged {acknowledged}");
}

/// Regression: with `synchronous_commit = off` (the test clusters' setting), a sync that started
/// right after commits ended without them. It streamed only to the WAL *write* position, which an
/// asynchronous commit may not have reached yet, and counted the server's frequent keepalives as
/// "caught up". A WAL writer that waits 10 s between flushes makes the race certain: the server
/// decodes only flushed WAL, so the sync must flush before it streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_committed_asynchronously_just_before_a_sync_are_in_it() {
    let Some(pg) = PgServer::start_with(&["wal_level=logical", "wal_writer_delay=10000ms"]) else {
        return;
    };
    assert_eq!(
        pg.psql(DATABASE, "SHOW synchronous_commit").trim(),
        "off",
        "the cluster must commit asynchronously for this test to mean anything"
    );
    setup(&pg);
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&pg, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    for round in 0..5 {
        pg.script(&format!(
            "UPDATE docs SET revision = revision + 1 WHERE id <= 20; DELETE FROM docs WHERE id = {}; \
             INSERT INTO docs VALUES ({}, 'round', 'r', 1); INSERT INTO scratch VALUES ({}, 'new');",
            100 + round,
            9000 + round,
            500 + round
        ));
        let next = sync(&pg, dir.path(), |_| {}).await;
        assert!(next.succeeded(), "round {round}: {:?}", next.failure);
        assert_equal(&pg, dir.path(), ALL, &format!("round {round}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_snapshot_and_stream_lose_nothing_and_the_slot_waits_for_acknowledgement() {
    let Some(pg) = PgServer::start() else { return };
    setup(&pg);
    pg.script(
        "INSERT INTO docs SELECT g, 'more ' || g, 'short', 1 FROM generate_series(151, 400) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    // Killed at the third checkpoint: docs is partway through its chunks of 40.
    let killed = sync(&pg, dir.path(), |o| o.stop_after_checkpoints = Some(3)).await;
    assert!(killed.stopped_early, "the sync ended before checkpoint 3");
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(
        state.contains("\"copying\""),
        "not killed mid-snapshot: {state}"
    );
    let acknowledged = state_lsn(dir.path()).unwrap();
    // Changes while the connector is away, some to rows already copied, some to rows not yet.
    pg.script(
        "UPDATE docs SET revision = 7 WHERE id IN (1, 2, 399); DELETE FROM docs WHERE id IN (3, 398); \
         INSERT INTO docs VALUES (5000, 'while away', 'b', 1);",
    );
    let resumed = sync(&pg, dir.path(), |_| {}).await;
    assert!(resumed.succeeded(), "resumed: {:?}", resumed.failure);
    assert_equal(&pg, dir.path(), ALL, "killed in the snapshot, then resumed").await;
    assert_slot_behind(&pg, &acknowledged, "after the resumed snapshot");

    // Many small transactions, then a kill in the middle of streaming them.
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
    pg.script(&script);
    let acknowledged = state_lsn(dir.path()).unwrap();
    let killed = sync(&pg, dir.path(), |o| o.stop_after_checkpoints = Some(2)).await;
    assert!(killed.stopped_early, "the stream ended before checkpoint 2");
    let mid = state_lsn(dir.path()).unwrap();
    assert!(
        support::lsn(&mid) > support::lsn(&acknowledged),
        "no progress checkpointed"
    );
    assert_slot_behind(&pg, &acknowledged, "killed mid-stream");
    let resumed = sync(&pg, dir.path(), |_| {}).await;
    assert!(resumed.succeeded(), "resumed stream: {:?}", resumed.failure);
    assert_equal(&pg, dir.path(), ALL, "killed in the stream, then resumed").await;
    assert_events_equal(&pg, dir.path(), "killed in the stream, then resumed").await;
    // This sync confirmed the position it was handed, and no further.
    assert_slot_behind(&pg, &mid, "after the resumed stream");
    assert_eq!(pg.confirmed_flush(SLOT).unwrap(), mid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_created_beforehand_is_used_and_the_changes_since_replayed() {
    let Some(pg) = PgServer::start() else { return };
    setup(&pg);
    pg.psql(
        DATABASE,
        &format!("SELECT pg_create_logical_replication_slot('{SLOT}', 'pgoutput')"),
    );
    pg.script("UPDATE docs SET revision = 9 WHERE id < 10; DELETE FROM docs WHERE id = 11; INSERT INTO docs VALUES (700, 't', 'b', 1);");
    let dir = tempfile::tempdir().unwrap();
    let outcome = sync(&pg, dir.path(), |_| {}).await;
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert_equal(&pg, dir.path(), ALL, "pre-existing slot").await;
}

async fn setup_failure(pg: &PgServer, config: HashMap<String, String>) -> String {
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
            let _ = pg;
            message
        }
        Err(other) => panic!("not a setup failure: {other}"),
        Ok(outcome) => panic!("synced: {:?}", outcome.failure),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_fail_with_a_message_and_leave_state_alone() {
    let Some(pg) = PgServer::start() else { return };
    setup(&pg);

    let mut config = pg.configuration();
    config.insert("password".into(), "wrong-password".into());
    let message = setup_failure(&pg, config).await;
    assert!(message.contains("password"), "{message}");
    eprintln!("CDC | wrong password | {message}");

    pg.script("CREATE ROLE plain LOGIN PASSWORD 'plain-pw'; GRANT SELECT ON docs TO plain;");
    let mut config = pg.configuration();
    config.insert("user".into(), "plain".into());
    config.insert("password".into(), "plain-pw".into());
    let message = setup_failure(&pg, config.clone()).await;
    assert!(
        message.contains("ALTER ROLE \"plain\" WITH REPLICATION"),
        "{message}"
    );
    eprintln!("CDC | no replication attribute | {message}");
    pg.script("ALTER ROLE plain WITH REPLICATION;");
    let message = setup_failure(&pg, config).await;
    assert!(
        message.contains("GRANT SELECT ON") && message.contains("every_type"),
        "{message}"
    );
    eprintln!("CDC | no SELECT | {message}");

    let mut config = pg.configuration();
    config.insert("tls".into(), "require".into());
    let message = setup_failure(&pg, config).await;
    assert!(
        message.contains("TLS") || message.contains("tls"),
        "{message}"
    );
    eprintln!("CDC | tls require, server without ssl | {message}");

    let mut config = pg.configuration();
    config.insert("tables".into(), "public.docs, public.nope".into());
    let message = setup_failure(&pg, config).await;
    assert!(
        message.contains("public.nope") && message.contains("ALTER PUBLICATION"),
        "{message}"
    );
    eprintln!("CDC | unknown table | {message}");

    let mut config = pg.configuration();
    config.insert("publication".into(), "missing_pub".into());
    let message = setup_failure(&pg, config).await;
    assert!(
        message.contains("CREATE PUBLICATION \"missing_pub\""),
        "{message}"
    );
    eprintln!("CDC | publication the role cannot create | {message}");

    // A dropped slot: the sync stops saying a re-sync is needed, state untouched.
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&pg, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    let state = std::fs::read(dir.path().join("state.json")).unwrap();
    support::retry_while_active(|| {
        pg.try_psql(
            DATABASE,
            &format!("SELECT pg_drop_replication_slot('{SLOT}')"),
        )
    });
    let outcome = sync(&pg, dir.path(), |_| {}).await;
    let failure = outcome.failure.expect("a dropped slot fails the sync");
    assert!(
        failure.contains("no longer exists") && failure.contains("re-sync"),
        "{failure}"
    );
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), state);
    eprintln!("CDC | dropped slot | {failure}");

    // A slot another consumer moved past the state: a gap, so a re-sync is needed, state untouched.
    let dir = tempfile::tempdir().unwrap();
    let first = sync(&pg, dir.path(), |_| {}).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    pg.script("UPDATE docs SET revision = 99 WHERE id = 1;");
    let state = std::fs::read(dir.path().join("state.json")).unwrap();
    // The clusters run with synchronous_commit = off: the slot advances only over flushed WAL, so
    // advance until it passes the state.
    let at = support::lsn(&state_lsn(dir.path()).unwrap());
    for _ in 0..100 {
        support::retry_while_active(|| {
            pg.try_psql(
                DATABASE,
                &format!("SELECT pg_replication_slot_advance('{SLOT}', pg_current_wal_lsn())"),
            )
        });
        if support::lsn(&pg.confirmed_flush(SLOT).unwrap()) > at {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let outcome = sync(&pg, dir.path(), |_| {}).await;
    let failure = outcome.failure.expect("a slot moved on fails the sync");
    assert!(
        failure.contains("moved on") && failure.contains("re-sync"),
        "{failure}"
    );
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), state);
    eprintln!("CDC | slot moved past the state | {failure}");

    let Some(replica) = PgServer::start_with(&["wal_level=replica"]) else {
        return;
    };
    let message = setup_failure(&replica, replica.configuration()).await;
    assert!(
        message.contains("wal_level is 'replica'") && message.contains("ALTER SYSTEM"),
        "{message}"
    );
    eprintln!("CDC | wal_level replica | {message}");
    let _ = PUBLICATION;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_require_and_verify_full_sync_and_a_foreign_ca_is_refused() {
    let Some((pg, tls)) = PgServer::start_tls() else {
        return;
    };
    setup(&pg);
    // require: encrypted, certificate not checked; the snapshot and the stream both go over TLS.
    let dir = tempfile::tempdir().unwrap();
    let mut config = pg.configuration();
    config.insert("tls".into(), "require".into());
    let mut options = HostOptions::new(config.clone(), dir.path());
    options.configuration = config.clone();
    let outcome = host::sync(connector(), options).await.expect("starts");
    assert!(outcome.succeeded(), "require: {:?}", outcome.failure);
    eprintln!("CDC | tls require | synced over TLS (the connector refuses a server that answers the SSLRequest with N)");

    // verify-full against the CA that signed the server's certificate: the next sync streams.
    pg.script("UPDATE docs SET revision = 5 WHERE id = 1;");
    config.insert("tls".into(), "verify-full".into());
    config.insert("ca_certificate".into(), tls.ca_pem.clone());
    let outcome = host::sync(connector(), HostOptions::new(config.clone(), dir.path()))
        .await
        .expect("starts");
    assert!(outcome.succeeded(), "verify-full: {:?}", outcome.failure);
    assert_equal(&pg, dir.path(), ALL, "over TLS").await;

    // verify-full against another CA: refused at the connection test, saying why.
    config.insert("ca_certificate".into(), tls.other_ca_pem.clone());
    let message = setup_failure(&pg, config.clone()).await;
    assert!(
        message.contains("certificate") && message.contains("'ca_certificate'"),
        "{message}"
    );
    eprintln!("CDC | tls verify-full, foreign CA | {message}");
    config.insert("ca_certificate".into(), "not a certificate".into());
    let message = setup_failure(&pg, config).await;
    assert!(message.contains("ca_certificate"), "{message}");
    let _ = tls.key;
}

/// A table whose `updated_at` a trigger moves on every update (`now()`: every row of one transaction
/// shares it, so ties run across many chunks), and a role that may read but not replicate.
const CURSOR_SQL: &str = r#"
CREATE TABLE orders (id integer PRIMARY KEY, amount numeric(10,2), note text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO orders SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 300) g;
CREATE ROLE reader LOGIN PASSWORD 'reader-secret-pw';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
"#;

/// The cursor method's configuration: the read-only role, `orders` by `updated_at`, the keyless
/// `events` by `at`, every other table re-read whole.
fn cursor_configuration(pg: &PgServer) -> HashMap<String, String> {
    let mut config = pg.configuration();
    config.insert("user".into(), "reader".into());
    config.insert("password".into(), "reader-secret-pw".into());
    config.insert("update_method".into(), "cursor".into());
    config.insert(
        "cursor_columns".into(),
        "orders=updated_at, events=at".into(),
    );
    config
}

async fn cursor_sync(
    pg: &PgServer,
    files: &Path,
    config: &HashMap<String, String>,
    stop: Option<u64>,
) -> DebugOutcome {
    sync(pg, files, |o| {
        o.configuration = config.clone();
        o.stop_after_checkpoints = stop;
    })
    .await
}

fn cursor_state(files: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(files.join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cursor_method_syncs_without_replication_and_resumes_mid_read() {
    let Some(pg) = PgServer::start_with(&["wal_level=replica"]) else {
        return;
    };
    setup(&pg);
    pg.script(CURSOR_SQL);
    let tables: Vec<(&str, &str)> = [ALL, &[("orders", "public.orders")]].concat();
    let config = cursor_configuration(&pg);
    let dir = tempfile::tempdir().unwrap();
    let run = |stop: Option<u64>| cursor_sync(&pg, dir.path(), &config, stop);

    let first = run(None).await;
    assert!(first.succeeded(), "first sync: {:?}", first.failure);
    assert_equal(&pg, dir.path(), &tables, "first cursor sync").await;
    assert_events_equal(&pg, dir.path(), "first cursor sync").await;
    let state = cursor_state(dir.path());
    assert!(
        state.get("lsn").is_none(),
        "the cursor method keeps no LSN: {state}"
    );
    assert_eq!(
        state["cursors"]["orders"]["column"], "updated_at",
        "{state}"
    );
    assert!(
        state["cursors"]["orders"]["value"].is_string(),
        "no mark: {state}"
    );
    assert!(state["cursors"].get("docs").is_none(), "{state}");

    // Updates (one transaction: one shared updated_at over 100 rows), inserts, and deletes in a
    // table without a cursor (re-read whole, so its deletes land).
    pg.script(
        "UPDATE orders SET note = 'changed' WHERE id % 3 = 0; \
         INSERT INTO orders SELECT g, g, 'new' FROM generate_series(301, 420) g; \
         DELETE FROM scratch WHERE id < 4; UPDATE every_type SET s = 1 WHERE id = 1; \
         INSERT INTO events VALUES ('late', '2030-01-01 00:00:00+00', 1);",
    );
    // Killed at the 8th checkpoint: docs takes 4, events and every_type one each, orders is in its
    // second chunk of changes.
    let killed = run(Some(8)).await;
    assert!(killed.stopped_early, "the sync ended before checkpoint 8");
    let state = cursor_state(dir.path());
    assert!(
        state["cursors"]["orders"]["after"].is_array(),
        "not killed inside the read of orders: {state}"
    );
    pg.script(
        "UPDATE orders SET amount = 0 WHERE id IN (3, 6, 419); INSERT INTO orders VALUES (900, 9, 'away');",
    );
    let resumed = run(None).await;
    assert!(resumed.succeeded(), "resumed: {:?}", resumed.failure);
    assert_equal(&pg, dir.path(), &tables, "killed mid-read, then resumed").await;
    assert_events_equal(&pg, dir.path(), "killed mid-read, then resumed").await;

    // A new column with a default changes no row's cursor: the table is read again.
    pg.script(
        "ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu'; GRANT SELECT ON orders TO reader;",
    );
    let widened = run(None).await;
    assert!(
        widened.succeeded(),
        "after ADD COLUMN: {:?}",
        widened.failure
    );
    assert_equal(&pg, dir.path(), &tables, "after ADD COLUMN").await;

    // Bad input: each refused by the setup tests with a message, no state written.
    for (pairs, says) in [
        ("orders=changed_at", "has no column 'changed_at'"),
        ("every_type=j", "cannot be a cursor"),
        ("nowhere=at", "table 'public.nowhere'"),
    ] {
        let mut bad = config.clone();
        bad.insert("cursor_columns".into(), pairs.into());
        let message = setup_failure(&pg, bad).await;
        assert!(message.contains(says), "{pairs}: {message}");
        eprintln!("CDC | cursor {pairs} | {message}");
    }
    // A state written by logical replication is refused, and left as it was.
    let away = tempfile::tempdir().unwrap();
    let logical = r#"{"version":1,"lsn":"0/16B3748","tables":{"docs":["id"]}}"#;
    std::fs::write(away.path().join("state.json"), logical).unwrap();
    let switched = cursor_sync(&pg, away.path(), &config, None).await;
    let failure = switched.failure.expect("a method switch must fail");
    assert!(
        failure.contains("update method changed") && failure.contains("re-sync"),
        "{failure}"
    );
    assert_eq!(
        std::fs::read_to_string(away.path().join("state.json")).unwrap(),
        logical
    );
}

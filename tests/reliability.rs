//! The reliability suite (issue 16): the release-shaped binary driven as a user would drive it, for
//! every connector with a bundled simulator (`demo` has none and changes on every sync):
//! random SIGKILLs resumed from disk, 10 % API faults, dead endpoints, a corpus of bad inputs, a
//! secrets scan of everything written, disconnects and slow readers on the gRPC server, concurrent
//! syncs, and the defects of issue 16 that only show from outside the process (signals, the files
//! lock, the logged port).
//!
//! The short form runs with the test command (CI); the long form (more kills, 4× the data):
//! `RELIABILITY_LONG=1 cargo test --release --test reliability -- --nocapture --test-threads 1`.
//! Every section prints `RELIABILITY | section | connector | figures` lines; the README's table
//! comes from them.

#[path = "reliability/support.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use fivetran_source::proto;
use fivetran_source::proto::update_response::Operation;
use fivetran_source::server::Client;
use support::*;

/// The connectors with a bundled simulator.
const CONNECTORS: [&str; 4] = ["virtuous", "ongage", "everyaction", "sa360"];

/// A path fragment of one endpoint per connector that every sync needs.
fn main_endpoint(connector: &str) -> &'static str {
    match connector {
        "virtuous" => "/api/Gift/Query",
        "ongage" => "/api/contact_search",
        "everyaction" => "/v4/changedEntityExportJobs",
        "sa360" => "searchAds360:search",
        other => panic!("no endpoint for {other}"),
    }
}

fn report(section: &str, connector: &str, figures: &str) {
    println!("RELIABILITY | {section} | {connector} | {figures}");
}

/// A simulator with its configuration file and a finished fault-free sync to compare against.
struct Bench {
    connector: &'static str,
    sim: SimProcess,
    dir: tempfile::TempDir,
    configuration: PathBuf,
    reference: PathBuf,
    reference_time: Duration,
    outputs: Vec<String>,
}

impl Bench {
    fn new(connector: &'static str, sim_flags: &[&str]) -> Self {
        let sim = SimProcess::start(connector, sim_flags);
        let dir = tempfile::tempdir().unwrap();
        let configuration = dir.path().join("configuration.json");
        sim.write_configuration(&configuration, &[]);
        let reference = dir.path().join("reference");
        sim.clear_faults();
        let clean = run(debug_command(connector, &configuration, &reference));
        assert!(
            clean.succeeded(),
            "{connector}: the fault-free reference sync failed:\n{}",
            clean.output
        );
        let reference_time = clean.elapsed;
        Self {
            connector,
            sim,
            dir,
            configuration,
            reference,
            reference_time,
            outputs: vec![clean.output],
        }
    }

    fn files(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Asserts that a sync into `files` finally succeeded (`ok`) and that its warehouse equals the
    /// reference; `what` says what it went through.
    fn assert_landed(&self, files: &Path, ok: bool, what: &str) -> Difference {
        assert!(ok, "{}: no sync succeeded {what}", self.connector);
        let diff = difference(&self.reference, files);
        assert!(
            diff.is_empty(),
            "{}: {what}: {}",
            self.connector,
            diff.summary()
        );
        diff
    }

    /// Every output so far and every file written, searched for the configuration's secrets.
    fn secret_occurrences(&self) -> Vec<String> {
        let forms = secret_forms(&self.sim.configuration);
        let mut texts: Vec<(String, Vec<u8>)> = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| (format!("output of run {i}"), o.clone().into_bytes()))
            .collect();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path != self.configuration && !is_corpus_input(&path) {
                    texts.push((
                        path.display().to_string(),
                        std::fs::read(&path).unwrap_or_default(),
                    ));
                }
            }
        }
        let mut found = Vec::new();
        for (what, bytes) in &texts {
            for (form, secret) in &forms {
                if find(bytes, secret.as_bytes()) {
                    found.push(format!("{form} in {what}"));
                }
            }
        }
        found
    }
}

/// Bad-input files hold the secrets on purpose; only what the program writes is searched.
fn is_corpus_input(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("input-"))
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- random kills ----

#[test]
fn random_sigkills_resumed_from_disk_lose_nothing() {
    let kills = if long_form() { 12 } else { 3 };
    for connector in CONNECTORS {
        let mut bench = Bench::new(connector, &[]);
        let mut draw = Draw::new(0x5eed ^ connector.len() as u64);
        let span = bench.reference_time.as_millis().max(50) as u64;
        let (mut mid_sync, mut lost, mut differing, mut extra, mut resumes) = (0, 0, 0, 0, 0);
        for kill in 0..kills {
            let files = bench.files(&format!("killed-{kill}"));
            let at = Duration::from_millis(draw.below(span));
            let (mut child, log, started) =
                spawn(debug_command(connector, &bench.configuration, &files));
            std::thread::sleep(at);
            if child.try_wait().unwrap().is_none() {
                mid_sync += 1;
            }
            child.kill().unwrap(); // SIGKILL
            let killed = finish(child, log, started);
            bench.outputs.push(killed.output);
            let (ok, runs) = sync_until_success(connector, &bench.configuration, &files, 3);
            resumes += runs.len();
            let last = runs.last().map(|r| tail(&r.output)).unwrap_or_default();
            bench.outputs.extend(runs.into_iter().map(|r| r.output));
            let diff =
                bench.assert_landed(&files, ok, &format!("after the kill at {at:?}:\n{last}"));
            lost += diff.lost.len();
            differing += diff.differing.len();
            extra += diff.extra.len();
        }
        let leaks = bench.secret_occurrences();
        report(
            "random kills",
            connector,
            &format!(
                "{kills} SIGKILLs ({mid_sync} mid-sync) over a {span} ms sync, {resumes} resuming runs: {lost} rows lost, {differing} differing, {extra} extra; {} secret occurrences",
                leaks.len()
            ),
        );
        assert!(leaks.is_empty(), "{connector}: secrets leaked: {leaks:?}");
    }
}

// ---- faults ----

#[test]
fn ten_percent_api_faults_land_the_same_warehouse() {
    let syncs = if long_form() { 3 } else { 1 };
    for connector in CONNECTORS {
        let mut bench = Bench::new(connector, &[]);
        let mut attempts = 0;
        for i in 0..syncs {
            bench.sim.clear_log();
            let kinds = [
                (
                    "too_many_requests",
                    json!({"kind": "too_many_requests", "retry_after_seconds": 1}),
                ),
                (
                    "server_error",
                    json!({"kind": "server_error", "status": 500}),
                ),
                (
                    "service_unavailable",
                    json!({"kind": "server_error", "status": 503}),
                ),
                (
                    "timeout",
                    json!({"kind": "timeout", "after_ms": 500, "status": 504}),
                ),
                ("truncated_body", json!({"kind": "truncated_body"})),
                ("cut_connection", json!({"kind": "cut_connection"})),
                ("invalid_json", json!({"kind": "invalid_json"})),
            ];
            // p each so that one of the seven fires on 10 % of requests
            let each = 1.0 - 0.9f64.powf(1.0 / kinds.len() as f64);
            let rules: Vec<Value> = kinds
                .iter()
                .map(|(_, fault)| json!({"when": {"probability": each}, "fault": fault}))
                .collect();
            bench.sim.add_faults(&Value::Array(rules));
            let files = bench.files(&format!("faulted-{i}"));
            let (ok, runs) = sync_until_success(connector, &bench.configuration, &files, 5);
            let tries = runs.len();
            attempts += tries;
            bench.outputs.extend(runs.into_iter().map(|r| r.output));
            let faulted = bench
                .sim
                .log()
                .iter()
                .filter(|r| {
                    r["outcome"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("fault:"))
                })
                .count();
            let requests = bench.sim.log().len();
            bench.sim.clear_faults();
            bench.assert_landed(&files, ok, "in 5 attempts under 10 % faults");
            report(
                "faults 10 %",
                connector,
                &format!(
                    "sync {i}: {faulted} of {requests} requests faulted, succeeded at attempt {tries} ({attempts} runs so far), 0 rows lost/differing/extra"
                ),
            );
        }
        let leaks = bench.secret_occurrences();
        assert!(leaks.is_empty(), "{connector}: secrets leaked: {leaks:?}");
    }
}

#[test]
fn a_dead_endpoint_fails_naming_it_and_the_next_sync_recovers() {
    for connector in CONNECTORS {
        let mut bench = Bench::new(connector, &[]);
        let endpoint = main_endpoint(connector);
        let files = bench.files("dead");
        bench.sim.clear_log();
        bench.sim.add_faults(&json!([
            {"when": {"path_contains": endpoint}, "fault": {"kind": "server_error", "status": 503}}
        ]));
        let dead = run(debug_command(connector, &bench.configuration, &files));
        let sent = bench
            .sim
            .log()
            .iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(endpoint)))
            .count();
        bench.sim.clear_faults();
        assert!(
            !dead.status.success(),
            "{connector}: a dead {endpoint} still succeeded"
        );
        assert!(
            dead.output.lines().any(|l| {
                (l.starts_with("SYNC FAILED") || l.starts_with("error:")) && l.contains(endpoint)
            }),
            "{connector}: the failure does not name {endpoint}:\n{}",
            tail(&dead.output)
        );
        let state_ok = match std::fs::read_to_string(files.join("state.json")) {
            Ok(text) => serde_json::from_str::<Value>(&text).is_ok(),
            Err(_) => true,
        };
        assert!(
            state_ok,
            "{connector}: the state file is not JSON after the failure"
        );
        let (ok, runs) = sync_until_success(connector, &bench.configuration, &files, 2);
        bench.outputs.push(dead.output);
        bench.outputs.extend(runs.into_iter().map(|r| r.output));
        bench.assert_landed(&files, ok, &format!("after {endpoint} came back"));
        report(
            "dead endpoint",
            connector,
            &format!(
                "503 on every {endpoint}: failed naming it after {sent} requests to it in {:.1} s; the next sync landed every row",
                dead.elapsed.as_secs_f64()
            ),
        );
        let leaks = bench.secret_occurrences();
        assert!(leaks.is_empty(), "{connector}: secrets leaked: {leaks:?}");
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

// ---- bad inputs ----

/// One malformed input: what it is, the file contents, and the words the refusal must contain.
struct BadInput {
    what: String,
    bytes: Vec<u8>,
    must_name: Vec<String>,
}

fn bad(what: impl Into<String>, bytes: impl Into<Vec<u8>>, must_name: &[&str]) -> BadInput {
    BadInput {
        what: what.into(),
        bytes: bytes.into(),
        must_name: must_name.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Keys a connector cannot run without (the simulator's configuration minus its URLs).
fn credential_keys(configuration: &serde_json::Map<String, Value>) -> Vec<String> {
    configuration
        .keys()
        .filter(|k| !k.ends_with("_url") && !k.ends_with("_seconds"))
        .cloned()
        .collect()
}

fn configuration_corpus(configuration: &serde_json::Map<String, Value>) -> Vec<BadInput> {
    let with = |key: &str, value: Value| {
        let mut map = configuration.clone();
        map.insert(key.to_owned(), value);
        Value::Object(map).to_string().into_bytes()
    };
    let mut corpus = vec![
        bad("not JSON", "{\"api_key\": ", &[]),
        bad("an empty file", "", &[]),
        bad("a JSON array", "[]", &[]),
        bad("a JSON string", "\"simulator\"", &[]),
        bad(
            "invalid UTF-8",
            b"{\"api_key\": \"\xff\xfe\"}".to_vec(),
            &[],
        ),
        bad(
            "a base_url that is not a URL",
            with("base_url", json!("not a url")),
            &["base_url"],
        ),
        bad(
            "a base_url with a query string",
            with("base_url", json!("http://127.0.0.1:9/api?x=1")),
            &["base_url"],
        ),
    ];
    for key in credential_keys(configuration) {
        corpus.push(bad(
            format!("{key} as a number"),
            with(&key, json!(98765432123456u64)),
            &[&key],
        ));
        corpus.push(bad(
            format!("{key} as a list"),
            with(&key, json!(["a", "b"])),
            &[&key],
        ));
        corpus.push(bad(format!("{key} empty"), with(&key, json!("")), &[&key]));
        let mut without = configuration.clone();
        without.remove(&key);
        corpus.push(bad(
            format!("{key} missing"),
            Value::Object(without).to_string(),
            &[&key],
        ));
    }
    corpus
}

fn state_corpus(reference_state: &Value, other_state: &Value) -> Vec<BadInput> {
    let mut wrong_type = reference_state.clone();
    let mut key = String::new();
    if let Some(map) = wrong_type.as_object_mut() {
        if let Some((k, v)) = map
            .iter_mut()
            .find(|(k, v)| *k != "version" && !v.is_null())
        {
            key = k.clone();
            *v = if v.is_string() {
                json!({"x": 1})
            } else {
                json!("x")
            };
        }
    }
    let mut unknown = reference_state.clone();
    if let Some(map) = unknown.as_object_mut() {
        map.insert("zzz_unknown".into(), json!(1));
    }
    let mut newer = reference_state.clone();
    newer["version"] = json!(99);
    vec![
        bad("state: not JSON", "{\"version\": ", &[]),
        bad("state: a JSON array", "[]", &[]),
        bad(
            "state: invalid UTF-8",
            b"{\"version\": \"\xff\"}".to_vec(),
            &[],
        ),
        bad("state: a newer version", newer.to_string(), &["version"]),
        bad("state: another connector's", other_state.to_string(), &[]),
        bad(
            "state: an unknown key",
            unknown.to_string(),
            &["zzz_unknown"],
        ),
        bad(
            format!("state: {key} of the wrong type"),
            wrong_type.to_string(),
            &[&key],
        ),
    ]
}

#[test]
fn bad_inputs_are_refused_naming_the_file_and_key_and_change_nothing() {
    // Another connector's state for each: the reference state of the next one in the list.
    let mut benches: Vec<Bench> = CONNECTORS.iter().map(|c| Bench::new(c, &[])).collect();
    let states: Vec<Value> = benches
        .iter()
        .map(|b| {
            serde_json::from_str(&std::fs::read_to_string(b.reference.join("state.json")).unwrap())
                .unwrap()
        })
        .collect();
    let mut total = 0;
    let mut refused = 0;
    let mut changed = 0;
    let mut problems = Vec::new();
    for (i, bench) in benches.iter_mut().enumerate() {
        let connector = bench.connector;
        let files = bench.files("guarded");
        copy_files(&bench.reference, &files);
        let before = checksums(&files);
        let other = &states[(i + 1) % states.len()];
        let configurations = configuration_corpus(&bench.sim.configuration);
        let state_inputs = state_corpus(&states[i], other);
        let count = configurations.len() + state_inputs.len() + 3;
        for (n, input) in configurations.iter().chain(&state_inputs).enumerate() {
            let is_state = input.what.starts_with("state:");
            let path = bench.dir.path().join(format!("input-{n}.json"));
            std::fs::write(&path, &input.bytes).unwrap();
            let mut command = if is_state {
                let mut c = debug_command(connector, &bench.configuration, &files);
                c.arg("--state").arg(&path);
                c
            } else {
                debug_command(connector, &path, &files)
            };
            command.env_remove("FIVETRAN_CONFIGURATION");
            let done = run(command);
            let file_named = done.output.contains(&format!("input-{n}.json"));
            let keys_named = input
                .must_name
                .iter()
                .all(|k| done.output.contains(k.as_str()));
            if done.status.success() {
                problems.push(format!("{connector}: {} was accepted", input.what));
            } else if !file_named || !keys_named {
                problems.push(format!(
                    "{connector}: {}: the refusal does not name the file{}: {}",
                    input.what,
                    if input.must_name.is_empty() {
                        String::new()
                    } else {
                        format!(" and {:?}", input.must_name)
                    },
                    tail(&done.output)
                ));
            } else {
                refused += 1;
            }
            if done.output.contains("panicked") {
                problems.push(format!("{connector}: {} panicked", input.what));
            }
            bench.outputs.push(done.output);
        }
        // A missing file, a directory and refused credentials.
        let missing = bench.dir.path().join("input-missing.json");
        let done = run(debug_command(connector, &missing, &files));
        check_refusal(
            &mut problems,
            &mut refused,
            connector,
            "a missing configuration file",
            &done,
            "input-missing.json",
        );
        bench.outputs.push(done.output);
        let folder = bench.dir.path().join("input-folder");
        std::fs::create_dir_all(&folder).unwrap();
        let done = run(debug_command(connector, &folder, &files));
        check_refusal(
            &mut problems,
            &mut refused,
            connector,
            "a directory as configuration",
            &done,
            "input-folder",
        );
        bench.outputs.push(done.output);
        let wrong = bench.dir.path().join("input-wrong-credentials.json");
        let mut config = bench.sim.configuration.clone();
        let key = credential_keys(&config).into_iter().find(|k| {
            ["key", "password", "secret", "token"]
                .iter()
                .any(|s| k.contains(s))
        });
        let wrong_secret = "wrong-secret-4711-do-not-print";
        if let Some(key) = &key {
            config.insert(key.clone(), json!(wrong_secret));
        }
        std::fs::write(&wrong, Value::Object(config).to_string()).unwrap();
        let done = run(debug_command(connector, &wrong, &files));
        check_refusal(
            &mut problems,
            &mut refused,
            connector,
            "refused credentials",
            &done,
            "",
        );
        if done.output.contains(wrong_secret) {
            problems.push(format!("{connector}: a refused secret was printed"));
        }
        bench.outputs.push(done.output);
        // Unknown keys are warned, not refused (Fivetran's form would never send them).
        let typo = bench.dir.path().join("input-typo.json");
        let mut config = bench.sim.configuration.clone();
        config.insert("start_dat".into(), json!("2024-01-01"));
        std::fs::write(&typo, Value::Object(config).to_string()).unwrap();
        let warned = run(debug_command(connector, &typo, &bench.files("typo")));
        if !(warned.succeeded() && warned.output.contains("start_dat")) {
            problems.push(format!(
                "{connector}: an unknown key was not warned about: {}",
                tail(&warned.output)
            ));
        }
        bench.outputs.push(warned.output);

        if checksums(&files) != before {
            changed += 1;
            problems.push(format!("{connector}: files/ changed under bad input"));
        }
        total += count;
        let leaks = bench.secret_occurrences();
        if !leaks.is_empty() {
            problems.push(format!("{connector}: secrets leaked: {leaks:?}"));
        }
        report(
            "bad inputs",
            connector,
            &format!("{count} malformed configurations and states, 1 unknown key warned; {} secret occurrences", leaks.len()),
        );
    }
    report(
        "bad inputs",
        "all",
        &format!("{total} inputs: {refused} refused naming the file and key, {changed} directories changed, {} problems", problems.len()),
    );
    assert!(total >= 40, "the corpus has {total} inputs");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn check_refusal(
    problems: &mut Vec<String>,
    refused: &mut usize,
    connector: &str,
    what: &str,
    done: &Run,
    must_name: &str,
) {
    if done.status.success() {
        problems.push(format!("{connector}: {what} was accepted"));
    } else if !done.output.contains(must_name)
        || !done.output.contains("FAILED") && must_name.is_empty()
    {
        problems.push(format!(
            "{connector}: {what}: the refusal does not name '{must_name}': {}",
            tail(&done.output)
        ));
    } else {
        *refused += 1;
    }
}

// ---- the gRPC server: disconnects, slow readers, concurrent Updates ----

fn request(configuration: &serde_json::Map<String, Value>) -> proto::UpdateRequest {
    let configuration: HashMap<String, String> = configuration
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    proto::UpdateRequest {
        configuration,
        selection: None,
        state_json: Some("{}".into()),
    }
}

async fn client(port: u16) -> Client {
    for _ in 0..100 {
        if let Ok(c) = Client::connect(format!("http://127.0.0.1:{port}")).await {
            return c.max_decoding_message_size(128 << 20);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to the server on port {port}");
}

/// Starts a full `Update` against `sim`'s API.
async fn update_stream(
    client: &mut Client,
    sim: &SimProcess,
) -> tonic::Streaming<proto::UpdateResponse> {
    client
        .update(request(&sim.configuration))
        .await
        .unwrap()
        .into_inner()
}

/// Reads a whole Update stream: records, checkpoints, the final status.
async fn drain(
    client: &mut Client,
    request: proto::UpdateRequest,
    pause: Duration,
) -> (u64, Option<String>, Option<tonic::Status>) {
    let mut stream = client.update(request).await.unwrap().into_inner();
    let (mut records, mut state) = (0u64, None);
    loop {
        match stream.message().await {
            Ok(Some(m)) => {
                match m.operation {
                    Some(Operation::StructuredRecords(r)) => {
                        records += r.structured_records.len() as u64
                    }
                    Some(Operation::Checkpoint(c)) => state = Some(c.state_json),
                    _ => {}
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            Ok(None) => return (records, state, None),
            Err(status) => return (records, state, Some(status)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_update_stops_calling_the_api_and_a_slow_reader_keeps_memory_bounded() {
    for connector in CONNECTORS {
        let flags: &[&str] = if connector == "virtuous" {
            &["--latency-ms", "5", "--gifts", "20000"]
        } else {
            &["--latency-ms", "5"]
        };
        let sim = SimProcess::start(connector, flags);
        let server = ServerProcess::start(connector, &[]);
        let mut c = client(server.port).await;
        // cancel after the first records
        let mut stream = update_stream(&mut c, &sim).await;
        let mut seen = 0;
        while seen < 3 {
            match stream.message().await {
                Ok(Some(_)) => seen += 1,
                _ => break,
            }
        }
        let at_cancel = sim.log();
        drop(stream);
        let t0 = at_cancel
            .iter()
            .filter_map(|r| r["started_ms"].as_u64())
            .max()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = sim.log();
        let last = after
            .iter()
            .filter_map(|r| r["started_ms"].as_u64())
            .max()
            .unwrap_or(t0);
        let late = after
            .iter()
            .filter(|r| r["started_ms"].as_u64().is_some_and(|s| s > t0 + 1000))
            .count();
        let after_cancel = after
            .iter()
            .filter(|r| r["started_ms"].as_u64().is_some_and(|s| s > t0))
            .count();
        assert_eq!(
            late, 0,
            "{connector}: {late} API requests began more than 1 s after the client cancelled"
        );

        // a fast reader and a slow one, on one server
        sim.clear_log();
        let fast_server = ServerProcess::start(connector, &[]);
        let mut fast = client(fast_server.port).await;
        let (fast_records, _, status) =
            drain(&mut fast, request(&sim.configuration), Duration::ZERO).await;
        assert!(status.is_none(), "{connector}: {status:?}");
        let fast_rss = peak_rss_kib(fast_server.child.id()).unwrap_or(0);
        let slow_server = ServerProcess::start(connector, &[]);
        let mut slow = client(slow_server.port).await;
        let (slow_records, _, status) = drain(
            &mut slow,
            request(&sim.configuration),
            Duration::from_millis(10),
        )
        .await;
        assert!(status.is_none(), "{connector}: {status:?}");
        let slow_rss = peak_rss_kib(slow_server.child.id()).unwrap_or(0);
        assert_eq!(
            fast_records, slow_records,
            "{connector}: the slow reader got other records"
        );
        report(
            "disconnect and backpressure",
            connector,
            &format!(
                "{after_cancel} API requests began after the cancel (the last {} ms after it); peak RSS {:.1} MiB reading at full speed, {:.1} MiB reading one message per 10 ms ({slow_records} records)",
                last.saturating_sub(t0),
                fast_rss as f64 / 1024.0,
                slow_rss as f64 / 1024.0
            ),
        );
        assert!(
            slow_rss <= fast_rss + 32 * 1024,
            "{connector}: a slow reader grew the server to {slow_rss} KiB (fast: {fast_rss} KiB)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_updates_at_once_on_one_server_each_get_the_whole_sync() {
    for connector in CONNECTORS {
        let sim = SimProcess::start(connector, &[]);
        let server = ServerProcess::start(connector, &[]);
        let mut a = client(server.port).await;
        let mut b = a.clone();
        let (one, two) = tokio::join!(
            drain(&mut a, request(&sim.configuration), Duration::ZERO),
            drain(&mut b, request(&sim.configuration), Duration::ZERO)
        );
        assert!(
            one.2.is_none() && two.2.is_none(),
            "{connector}: {:?} {:?}",
            one.2,
            two.2
        );
        assert_eq!(
            one.0, two.0,
            "{connector}: concurrent Updates saw different record counts"
        );
        assert_eq!(
            one.1, two.1,
            "{connector}: concurrent Updates ended in different states"
        );
        report(
            "concurrency",
            connector,
            &format!(
                "two Updates at once on one server: {} records each, equal final states",
                one.0
            ),
        );
    }
}

// ---- defects found from outside the process ----

/// Defect 12: the loser of two `debug` runs in one directory said "the warehouse stopped applying
/// records"; now it refuses before writing, naming the other run, and the winner lands every row.
#[test]
fn defect_12_two_debug_runs_in_one_directory_never_interleave() {
    let bench = Bench::new("virtuous", SLOW_VIRTUOUS);
    let files = bench.files("shared");
    let (mut first, log, started) = spawn(debug_command("virtuous", &bench.configuration, &files));
    let pid = first.id();
    wait_for_checkpoint(&files, &mut first);
    let second = run(debug_command("virtuous", &bench.configuration, &files));
    let first_running = first.try_wait().unwrap().is_none();
    let first = finish(first, log, started);
    assert!(
        first_running,
        "the first run ended before the second started; make the sync longer"
    );
    assert!(first.succeeded(), "{}", tail(&first.output));
    assert!(
        !second.status.success(),
        "both runs wrote one warehouse:\n{}",
        second.output
    );
    assert!(
        second.output.contains(&pid.to_string()) && second.output.contains("in use"),
        "the refusal does not name the other run: {}",
        tail(&second.output)
    );
    bench.assert_landed(&files, true, "by the run holding the directory");
    report("concurrency", "virtuous", "two debug runs in one directory: the second refused naming the first's pid; the warehouse equals an uninterrupted sync");
}

/// A Virtuous simulator slow enough that a sync takes seconds.
const SLOW_VIRTUOUS: &[&str] = &["--gifts", "4000", "--latency-ms", "20"];

/// Waits until `files` holds a state (a first checkpoint) while `child` runs.
fn wait_for_checkpoint(files: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !files.join("state.json").exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before its first checkpoint"
        );
        assert!(Instant::now() < deadline, "no checkpoint within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Defect 11: `debug` stopped by SIGTERM printed nothing; now it stops at a checkpoint, says so, and
/// the next run resumes to the same warehouse.
#[test]
fn defect_11_debug_stopped_by_a_signal_says_so_and_resumes() {
    let bench = Bench::new("virtuous", SLOW_VIRTUOUS);
    let files = bench.files("interrupted");
    let (mut child, log, started) = spawn(debug_command("virtuous", &bench.configuration, &files));
    wait_for_checkpoint(&files, &mut child);
    signal(child.id(), "TERM");
    let signalled = Instant::now();
    let stopped = finish(child, log, started);
    let stop_time = signalled.elapsed();
    assert!(!stopped.status.success());
    assert!(
        stopped.output.contains("SYNC FAILED: interrupted"),
        "{}",
        tail(&stopped.output)
    );
    let (ok, _) = sync_until_success("virtuous", &bench.configuration, &files, 2);
    bench.assert_landed(&files, ok, "after the interrupted run");
    report(
        "signals",
        "virtuous",
        &format!("debug stopped by SIGTERM in {} ms, printed SYNC FAILED: interrupted, resumed to an equal warehouse", stop_time.as_millis()),
    );
}

/// Defect 10: SIGTERM during an Update waited for the whole sync; now the stream ends at the next
/// checkpoint within the grace, and a second signal exits at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_10_shutdown_stops_a_running_update_within_the_grace() {
    let sim = SimProcess::start("virtuous", &["--latency-ms", "20"]);
    let mut server = ServerProcess::start("virtuous", &["--shutdown-grace", "5"]);
    let mut c = client(server.port).await;
    let mut stream = update_stream(&mut c, &sim).await;
    for _ in 0..3 {
        stream.message().await.unwrap();
    }
    signal(server.child.id(), "TERM");
    let signalled = Instant::now();
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    let stream_end = signalled.elapsed();
    let status = server.child.wait().unwrap();
    let exit = signalled.elapsed();
    let end = end.expect("an interrupted sync ends with a status, not as if complete");
    assert_eq!(end.code(), tonic::Code::Unavailable, "{end:?}");
    assert!(status.success(), "the server exited with {status}");
    assert!(exit < Duration::from_secs(5 + 5), "exit took {exit:?}");
    report(
        "signals",
        "virtuous",
        &format!(
            "serve: SIGTERM mid-Update ended the stream (UNAVAILABLE) in {} ms and the process in {} ms (grace 5 s)",
            stream_end.as_millis(),
            exit.as_millis()
        ),
    );

    // two signals: out at once, though the next checkpoint is far away
    let sim = SimProcess::start("virtuous", &["--latency-ms", "1500"]);
    let mut server = ServerProcess::start("virtuous", &["--shutdown-grace", "60"]);
    let mut c = client(server.port).await;
    let mut stream = update_stream(&mut c, &sim).await;
    stream.message().await.unwrap();
    signal(server.child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server stopped before the second signal"
    );
    let second = Instant::now();
    signal(server.child.id(), "TERM");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    report(
        "signals",
        "virtuous",
        &format!(
            "serve: a second SIGTERM exited (130) in {} ms",
            second.elapsed().as_millis()
        ),
    );
}

/// Defect 14: `--port 0` bound a free port but logged `port=0`.
#[test]
fn defect_14_port_zero_logs_the_port_actually_bound() {
    let server = ServerProcess::start("virtuous", &[]);
    assert_ne!(server.port, 0, "{}", server.listening_line);
    std::net::TcpStream::connect(("127.0.0.1", server.port))
        .unwrap_or_else(|e| panic!("nothing listens on the logged port {}: {e}", server.port));
}

/// Defect 13: messages that did not name the file or the key: a connector-validated value, a state
/// of a newer version, a state field of the wrong type, a control character in a secret, a byte
/// order mark, and OS errors printed twice.
#[test]
fn defect_13_every_refusal_names_the_file_and_the_key() {
    let bench = Bench::new("virtuous", &[]);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(bench.reference.join("state.json")).unwrap())
            .unwrap();
    let version = state["version"].clone();
    let dir = bench.dir.path();
    let files = bench.files("guarded");
    let with = |key: &str, value: &str| {
        let mut map = bench.sim.configuration.clone();
        map.insert(key.to_owned(), json!(value));
        Value::Object(map).to_string()
    };
    let refusals: Vec<(&str, String, bool, Vec<String>)> = vec![
        (
            "parallelism",
            with("parallelism", "0"),
            false,
            vec!["parallelism".into()],
        ),
        (
            "start_date",
            with("start_date", "2024-13-45"),
            false,
            vec!["start_date".into()],
        ),
        (
            "control character",
            with("api_key", "abc\u{7}def"),
            false,
            vec!["api_key".into()],
        ),
        (
            "newer state",
            json!({"version": 99}).to_string(),
            true,
            vec!["99".into(), format!("{version}")],
        ),
        (
            "state type",
            json!({"version": version, "gifts": "x"}).to_string(),
            true,
            vec!["gifts".into()],
        ),
    ];
    for (what, text, is_state, words) in refusals {
        let path = dir.join(format!("input-{}.json", what.replace(' ', "-")));
        std::fs::write(&path, text).unwrap();
        let mut command = if is_state {
            let mut c = debug_command("virtuous", &bench.configuration, &files);
            c.arg("--state").arg(&path);
            c
        } else {
            debug_command("virtuous", &path, &files)
        };
        command.env_remove("FIVETRAN_CONFIGURATION");
        let done = run(command);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(!done.status.success(), "{what} was accepted");
        for word in words.iter().map(String::as_str).chain([name]) {
            assert!(
                done.output.contains(word),
                "{what}: the refusal lacks '{word}':\n{}",
                tail(&done.output)
            );
        }
        assert!(
            !done.output.contains("abc\u{7}def"),
            "{what}: the secret was echoed"
        );
    }
    // a byte order mark is not an error
    let bom = dir.join("input-bom.json");
    std::fs::write(&bom, format!("\u{feff}{}", with("parallelism", "2"))).unwrap();
    let done = run(debug_command("virtuous", &bom, &bench.files("bom")));
    assert!(done.succeeded(), "{}", tail(&done.output));
    // an OS error once
    let done = run(debug_command("virtuous", dir, &bench.files("os")));
    let error = done
        .output
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("directory"), "{}", tail(&done.output));
    assert_eq!(error.matches("os error").count(), 1, "{error}");
}

/// Issue 16's must-show: the poison knob from the command line lands the record in `sync_errors`
/// and every other gift in `gifts`.
#[test]
fn a_poison_record_set_from_the_command_line_lands_in_sync_errors_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let configuration = dir.path().join("configuration.json");
    std::fs::write(
        &configuration,
        r#"{"api_key": "simulator-key", "base_url": "simulator"}"#,
    )
    .unwrap();
    let sized = |command: &mut std::process::Command| {
        command.args(["--sim", "contacts=100", "--sim", "gifts=300"]);
    };
    let clean_files = dir.path().join("clean");
    let mut clean = debug_command("virtuous", &configuration, &clean_files);
    sized(&mut clean);
    let clean = run(clean);
    assert!(clean.succeeded(), "{}", tail(&clean.output));
    let rows = warehouse_rows(&clean_files);
    let gifts = &rows["tester.gifts"];
    let poison: u64 = gifts
        .keys()
        .nth(gifts.len() / 2)
        .unwrap()
        .trim_matches('\'')
        .parse()
        .unwrap();

    let files = dir.path().join("poisoned");
    let mut poisoned = debug_command("virtuous", &configuration, &files);
    sized(&mut poisoned);
    poisoned.args(["--sim", &format!("poison=gift:{poison}")]);
    let poisoned = run(poisoned);
    assert!(poisoned.succeeded(), "{}", tail(&poisoned.output));
    let diff = difference(&clean_files, &files);
    let landed = warehouse_rows(&files);
    let errors: Vec<&String> = landed["tester.sync_errors"].values().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(diff.differing.is_empty(), "{}", diff.summary());
    // lost: the gift and its own designations, nothing else
    let mut expected: Vec<String> = rows["tester.gift_designations"]
        .iter()
        .filter(|(_, row)| row.contains(&format!("gift_id='{poison}'")))
        .map(|(key, _)| format!("tester.gift_designations {key}"))
        .collect();
    expected.push(format!("tester.gifts '{poison}'"));
    expected.sort();
    let mut lost = diff.lost.clone();
    lost.sort();
    assert_eq!(lost, expected, "{}", diff.summary());
    report(
        "poison",
        "virtuous",
        &format!("--sim poison=gift:{poison}: SYNC SUCCEEDED in {:.1} s, the gift in sync_errors ({}), the other {} gifts and every other designation landed", poisoned.elapsed.as_secs_f64(), errors[0], gifts.len() - 1),
    );
}

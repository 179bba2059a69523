//! What the reliability suite drives: the real binary (`simulate`, `debug`, `serve`) as processes,
//! the simulators' control API over plain HTTP/1.1, warehouse comparison and file checksums.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_fivetran_source");

/// Whether the long form runs (`RELIABILITY_LONG=1`); CI runs the short one.
pub fn long_form() -> bool {
    std::env::var("RELIABILITY_LONG").is_ok_and(|v| v != "0" && !v.is_empty())
}

/// A small deterministic generator (xorshift), seeded per run.
pub struct Draw(u64);

impl Draw {
    /// A generator from `seed` (never zero inside).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The settings each connector's simulator runs with here: small data, the clock running (a rate
/// limit's window only resets as simulated time passes).
pub fn small_settings(connector: &str) -> Value {
    let out = Command::new(BIN)
        .args(["simulate", connector, "--print-settings"])
        .output()
        .expect("run simulate --print-settings");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut settings: Value = serde_json::from_slice(&out.stdout).expect("settings are JSON");
    let scale = if long_form() { 4 } else { 1 };
    let set = |settings: &mut Value, pointer: &str, value: Value| {
        *settings
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{connector} settings lack {pointer}")) = value;
    };
    match connector {
        "virtuous" => {
            set(&mut settings, "/contacts/initial", json!(150 * scale));
            set(&mut settings, "/gifts/initial", json!(450 * scale));
        }
        "ongage" => {
            set(&mut settings, "/lists/0/contacts", json!(300 * scale));
            set(&mut settings, "/lists/1/contacts", json!(500 * scale));
        }
        "everyaction" => {
            for db in ["my_campaign", "my_voters"] {
                set(
                    &mut settings,
                    &format!("/{db}/contacts/initial"),
                    json!(120 * scale),
                );
                set(
                    &mut settings,
                    &format!("/{db}/contributions/initial"),
                    json!(150 * scale),
                );
                set(&mut settings, &format!("/{db}/events/initial"), json!(8));
            }
        }
        "sa360" => {
            set(&mut settings, "/data_start", json!("2025-01-01"));
            set(&mut settings, "/entities/campaigns_per_client", json!(2));
            set(&mut settings, "/entities/ad_groups_per_campaign", json!(2));
            set(&mut settings, "/entities/keywords_per_ad_group", json!(3));
        }
        _ => {}
    }
    settings
}

/// Form fields that make a connector poll its jobs quickly (a user may set them too).
fn fast_polls(connector: &str) -> &'static [(&'static str, &'static str)] {
    match connector {
        "everyaction" => &[("job_poll_seconds", "0.05")],
        "ongage" => &[("search_poll_seconds", "0.05")],
        _ => &[],
    }
}

/// A `simulate NAME` process with its printed configuration; killed on drop.
pub struct SimProcess {
    child: Child,
    /// The configuration `simulate` printed (credentials, `base_url`).
    pub configuration: Map<String, Value>,
    /// `host:port` of the simulator (the control API is on the same server).
    pub address: String,
    _settings: tempfile::NamedTempFile,
}

impl SimProcess {
    /// Starts `connector`'s simulator with [`small_settings`] and `extra` flags.
    pub fn start(connector: &str, extra: &[&str]) -> Self {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(small_settings(connector).to_string().as_bytes())
            .unwrap();
        let mut child = Command::new(BIN)
            .args(["simulate", connector, "--port", "0", "--settings"])
            .arg(file.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn simulate");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut text = String::new();
        let configuration = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "simulate {connector} ended before printing its configuration: {text}"
            );
            text.push_str(&line);
            if let Ok(Value::Object(map)) = serde_json::from_str(&text) {
                break map;
            }
        };
        let mut configuration = configuration;
        // Poll export jobs and searches quickly: the simulator's jobs finish by polls, not time.
        for (key, value) in fast_polls(connector) {
            configuration.insert((*key).to_owned(), json!(value));
        }
        let base = configuration["base_url"].as_str().unwrap().to_owned();
        let address = base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        Self {
            child,
            configuration,
            address,
            _settings: file,
        }
    }

    /// Writes the configuration to `path`, `extra` keys added.
    pub fn write_configuration(&self, path: &Path, extra: &[(&str, &str)]) {
        let mut map = self.configuration.clone();
        for (k, v) in extra {
            map.insert((*k).to_owned(), json!(v));
        }
        std::fs::write(path, Value::Object(map).to_string()).unwrap();
    }

    /// Installs fault rules (the control API's JSON).
    pub fn add_faults(&self, rules: &Value) {
        let (status, body) = http(&self.address, "POST", "/__sim/faults", Some(rules));
        assert!(status < 300, "adding faults: {status} {body}");
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        http(&self.address, "DELETE", "/__sim/faults", None);
    }

    /// The request log, oldest first.
    pub fn log(&self) -> Vec<Value> {
        let (_, body) = http(&self.address, "GET", "/__sim/log", None);
        serde_json::from_str(&body).unwrap_or_default()
    }

    /// Empties the request log.
    pub fn clear_log(&self) {
        http(&self.address, "DELETE", "/__sim/log", None);
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange with `Connection: close`: the status and the body.
pub fn http(address: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the simulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// What one `debug` run did.
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it printed, stdout then stderr.
    pub output: String,
    /// How long it took.
    pub elapsed: Duration,
}

impl Run {
    /// Whether it printed `SYNC SUCCEEDED` and exited 0.
    pub fn succeeded(&self) -> bool {
        self.status.success() && self.output.contains("SYNC SUCCEEDED")
    }
}

/// A `debug` command for `connector` with `configuration`, writing into `files`.
pub fn debug_command(connector: &str, configuration: &Path, files: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["debug", "--connector", connector, "--configuration"])
        .arg(configuration)
        .arg("--files")
        .arg(files)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// Runs `command` to the end.
pub fn run(mut command: Command) -> Run {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run the binary");
    Run {
        status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
        elapsed: started.elapsed(),
    }
}

/// Starts `command` with its output collected into a temporary file (read with [`finish`]).
pub fn spawn(mut command: Command) -> (Child, tempfile::NamedTempFile, Instant) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = command
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("spawn the binary");
    (child, log, Instant::now())
}

/// Waits for a process from [`spawn`] and returns what it did.
pub fn finish(mut child: Child, log: tempfile::NamedTempFile, started: Instant) -> Run {
    let status = child.wait().unwrap();
    Run {
        status,
        output: std::fs::read_to_string(log.path()).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// Sends `signal` (e.g. `TERM`) to `pid` through the shell's `kill`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {pid}"))
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A sync that Fivetran would retry: up to `attempts` runs until one succeeds; every run's output.
pub fn sync_until_success(
    connector: &str,
    configuration: &Path,
    files: &Path,
    attempts: usize,
) -> (bool, Vec<Run>) {
    let mut runs = Vec::new();
    for _ in 0..attempts {
        let done = run(debug_command(connector, configuration, files));
        let ok = done.succeeded();
        runs.push(done);
        if ok {
            return (true, runs);
        }
    }
    (false, runs)
}

/// How a warehouse differs from the reference, by primary key.
#[derive(Debug, Default)]
pub struct Difference {
    /// Rows of the reference missing here.
    pub lost: Vec<String>,
    /// Rows with the same key and other values.
    pub differing: Vec<String>,
    /// Rows here the reference lacks.
    pub extra: Vec<String>,
}

impl Difference {
    /// Whether the two warehouses hold the same rows.
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty() && self.differing.is_empty() && self.extra.is_empty()
    }

    /// `lost/differing/extra` counts with the first few of each.
    pub fn summary(&self) -> String {
        let few = |rows: &[String]| rows.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        format!(
            "{} lost [{}], {} differing [{}], {} extra [{}]",
            self.lost.len(),
            few(&self.lost),
            self.differing.len(),
            few(&self.differing),
            self.extra.len(),
            few(&self.extra)
        )
    }
}

type TableRows = BTreeMap<String, String>;

/// Every row of every table of `files/warehouse.db`, keyed `table|primary key`, all columns but
/// `_fivetran_synced` as text.
pub fn warehouse_rows(files: &Path) -> HashMap<String, TableRows> {
    let db = rusqlite::Connection::open_with_flags(
        files.join("warehouse.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the warehouse");
    let tables: Vec<String> = {
        let mut q = db
            .prepare("select name from sqlite_master where type = 'table' and name like '%.%'")
            .unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let mut all = HashMap::new();
    for table in tables {
        let mut info = db
            .prepare(&format!("pragma table_info(\"{table}\")"))
            .unwrap();
        let columns: Vec<(String, i64)> = info
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))
            .unwrap()
            .map(Result::unwrap)
            .filter(|(name, _)| name != "_fivetran_synced")
            .collect();
        let mut keys: Vec<usize> = (0..columns.len()).filter(|i| columns[*i].1 > 0).collect();
        if keys.is_empty() {
            keys = (0..columns.len()).collect();
        }
        let list = columns
            .iter()
            .map(|(c, _)| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = db
            .prepare(&format!("select {list} from \"{table}\""))
            .unwrap();
        let mut rows = TableRows::new();
        let mut r = q.query([]).unwrap();
        while let Some(row) = r.next().unwrap() {
            let values: Vec<String> = (0..columns.len())
                .map(|i| row.get::<_, String>(i).unwrap_or_default())
                .collect();
            let key = keys
                .iter()
                .map(|i| values[*i].clone())
                .collect::<Vec<_>>()
                .join(",");
            let text = columns
                .iter()
                .zip(&values)
                .map(|((c, _), v)| format!("{c}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            rows.insert(key, text);
        }
        all.insert(table, rows);
    }
    all
}

/// How `files` differs from `reference`.
pub fn difference(reference: &Path, files: &Path) -> Difference {
    let want = warehouse_rows(reference);
    let got = warehouse_rows(files);
    let empty = TableRows::new();
    let mut diff = Difference::default();
    let mut tables: Vec<&String> = want.keys().chain(got.keys()).collect();
    tables.sort();
    tables.dedup();
    for table in tables {
        let w = want.get(table).unwrap_or(&empty);
        let g = got.get(table).unwrap_or(&empty);
        for (key, row) in w {
            match g.get(key) {
                None => diff.lost.push(format!("{table} {key}")),
                Some(other) if other != row => diff
                    .differing
                    .push(format!("{table} {key}: {row} != {other}")),
                Some(_) => {}
            }
        }
        for key in g.keys().filter(|k| !w.contains_key(*k)) {
            diff.extra.push(format!("{table} {key}"));
        }
    }
    diff
}

/// A checksum of every file under `dir` but the lock file, by relative path.
pub fn checksums(dir: &Path) -> BTreeMap<PathBuf, u64> {
    use std::hash::{Hash, Hasher};
    let mut sums = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != ".lock") {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).unwrap_or_default().hash(&mut h);
                sums.insert(path.strip_prefix(dir).unwrap().to_path_buf(), h.finish());
            }
        }
    }
    sums
}

/// Copies the files of `from` (a finished sync's `files/`) into a new directory `to`.
pub fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name != ".lock" && entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(name)).unwrap();
        }
    }
}

/// The peak resident memory of `pid` so far, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A `serve` process on a free port, with the port it logged; killed on drop.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// The port it reported listening on.
    pub port: u16,
    /// Its first log line.
    pub listening_line: String,
}

impl ServerProcess {
    /// Starts `serve --port 0 --connector NAME` plus `extra`.
    pub fn start(connector: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0", "--connector", connector])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let port = line
            .split("port=")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Self {
            child,
            port,
            listening_line: line,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The values of `configuration` that are secrets, in every form they could leak in: plain, base64
/// (alone and as Basic auth with each other value as user), URL-encoded.
pub fn secret_forms(configuration: &Map<String, Value>) -> Vec<(String, String)> {
    let secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["key", "password", "secret", "token"]
            .iter()
            .any(|s| key.contains(s))
    };
    let b64 = |s: &str| fivetran_source::debug::warehouse::base64(s.as_bytes());
    let mut forms = Vec::new();
    for (key, value) in configuration {
        let Some(value) = value
            .as_str()
            .filter(|v| v.len() >= 6 && secret(key) && !key.ends_with("_url"))
        else {
            continue;
        };
        forms.push((format!("{key} (plain)"), value.to_owned()));
        forms.push((format!("{key} (base64)"), b64(value)));
        let encoded: String = value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        if encoded != value {
            forms.push((format!("{key} (url-encoded)"), encoded));
        }
        for user in configuration.values().filter_map(Value::as_str) {
            if user != value {
                forms.push((
                    format!("{key} (basic auth)"),
                    b64(&format!("{user}:{value}")),
                ));
            }
        }
    }
    forms
}

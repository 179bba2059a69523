//! Throwaway database servers for the CDC tests: each test gets its own PostgreSQL cluster (`initdb` +
//! `pg_ctl`) on a temporary directory and a free port, with `wal_level = logical` and password
//! (SCRAM-SHA-256) authentication over TCP, so "wrong password" is a real refusal. The machine's own
//! servers (5432, 3306) are never touched. The server stops when the handle is dropped.
//!
//! Binaries are found on PATH or under `/usr/lib/postgresql/*/bin`. Missing binaries are a loud skip
//! (`eprintln`), or a failure when `CI=true`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The superuser's password in every throwaway cluster.
pub const SUPERUSER_PASSWORD: &str = "super-secret-pw";
/// The connector's role and password.
pub const CDC_USER: &str = "cdc_user";
/// Its password.
pub const CDC_PASSWORD: &str = "cdc-secret-pw";
/// The database the tests sync.
pub const DATABASE: &str = "app";

fn find_binary(name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// Skips (or fails under CI) when `what` is missing.
fn missing(what: &str) -> Option<PgServer> {
    let message = format!("CDC TEST SKIPPED: {what} not found (install the PostgreSQL server package, e.g. apt-get install postgresql)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}; CI=true requires it");
    }
    eprintln!("{message}");
    None
}

/// Why the PostgreSQL tests cannot run here, if they cannot.
pub fn postgres_unavailable() -> Option<String> {
    ["initdb", "pg_ctl", "psql"]
        .iter()
        .find(|b| find_binary(b).is_none())
        .map(|b| format!("{b} not found"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A running throwaway PostgreSQL cluster.
pub struct PgServer {
    dir: tempfile::TempDir,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    pg_ctl: PathBuf,
    psql: PathBuf,
    as_postgres: bool,
    /// Files outside the directory that go with the server (TLS key and certificate).
    cleanup: Vec<PathBuf>,
}

impl PgServer {
    /// A cluster with `wal_level = logical`, database [`DATABASE`] and role [`CDC_USER`] (LOGIN
    /// REPLICATION); `None` when the binaries are missing (outside CI).
    pub fn start() -> Option<Self> {
        Self::start_with(&["wal_level=logical"])
    }

    /// A cluster with the given `-c` settings.
    pub fn start_with(settings: &[&str]) -> Option<Self> {
        let Some(initdb) = find_binary("initdb") else {
            return missing("initdb");
        };
        let Some(pg_ctl) = find_binary("pg_ctl") else {
            return missing("pg_ctl");
        };
        let Some(psql) = find_binary("psql") else {
            return missing("psql");
        };
        let dir = tempfile::Builder::new()
            .prefix("cdc-pg-")
            .tempdir()
            .expect("a temporary directory");
        // initdb refuses to run as root: run the server as the postgres user then.
        let as_postgres = is_root();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let server = Self {
            port: free_port(),
            pg_ctl,
            psql,
            as_postgres,
            dir,
            cleanup: Vec::new(),
        };
        let data = server.data_dir();
        let out = server
            .command(&initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut options = format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB -c max_wal_senders=10 -c max_replication_slots=10 -c wal_sender_timeout=60s",
            server.port,
            server.dir.path().display()
        );
        for s in settings {
            options.push_str(" -c ");
            options.push_str(s);
        }
        let out = server
            .command(&server.pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(server.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default()
        );
        server.psql("postgres", &format!("CREATE DATABASE {DATABASE}"));
        server.psql(
            DATABASE,
            &format!(
                "CREATE ROLE {CDC_USER} LOGIN REPLICATION PASSWORD '{CDC_PASSWORD}'; \
                 GRANT ALL ON SCHEMA public TO {CDC_USER}; \
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {CDC_USER};"
            ),
        );
        Some(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Runs `sql` as the superuser in `database` (through the cluster's socket) and returns the
    /// output (`-At`: unaligned, tuples only). Panics on an SQL error.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = self.try_psql(database, sql);
        match out {
            Ok(text) => text,
            Err(e) => panic!("psql failed on `{sql}`: {e}"),
        }
    }

    /// [`PgServer::psql`], returning the error text instead of panicking.
    pub fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(&self.psql)
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-At", "-c", sql])
            .env("PGTZ", "UTC")
            .env("PGOPTIONS", "-c extra_float_digits=3")
            .output()
            .expect("psql runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The connector's configuration for [`DATABASE`] as [`CDC_USER`].
    pub fn configuration(&self) -> HashMap<String, String> {
        [
            ("host", "127.0.0.1".to_owned()),
            ("port", self.port.to_string()),
            ("database", DATABASE.to_owned()),
            ("user", CDC_USER.to_owned()),
            ("password", CDC_PASSWORD.to_owned()),
            ("tls", "disable".to_owned()),
            ("chunk_rows", "40".to_owned()),
            ("max_stream_seconds", "60".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The slot's `confirmed_flush_lsn` as text, if the slot exists.
    pub fn confirmed_flush(&self, slot: &str) -> Option<String> {
        let out = self.psql(
            DATABASE,
            &format!(
                "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'"
            ),
        );
        (!out.is_empty()).then_some(out)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for file in &self.cleanup {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// An LSN's text (`X/Y`) as a number, for comparisons.
pub fn lsn(text: &str) -> u64 {
    let (hi, lo) = text.split_once('/').expect("an LSN");
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

impl PgServer {
    /// Runs a script of statements, each in its own transaction (psql's autocommit), as the
    /// superuser in [`DATABASE`].
    pub fn script(&self, sql: &str) {
        let file = self.dir.path().join("script.sql");
        std::fs::write(&file, sql).unwrap();
        let out = Command::new(&self.psql)
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                DATABASE,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-f"])
            .arg(&file)
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What the database holds in `tables` (destination name, SQL source such as `public.items`), as the compliance comparison takes it: each row as
    /// PostgreSQL's own `row_to_json`, with the documented landings applied by declared type (bytea as
    /// base64, a float NaN as the NULL SQLite keeps, ±Infinity as `inf`, a numeric NaN or an infinite
    /// date as NULL).
    pub fn truth(
        &self,
        schema: Option<&fivetran_source::sdk::Schema>,
        tables: &[(&str, &str)],
    ) -> fivetran_source::compliance::Truth {
        use fivetran_source::sdk::ColumnType;
        use serde_json::Value as Json;
        let mut truth = fivetran_source::compliance::Truth::new();
        for &(table, source) in tables {
            let def = schema.map(|s| {
                s.table(None, table)
                    .unwrap_or_else(|| panic!("table {table} is not in the schema"))
            });
            let text = self.psql(
                DATABASE,
                &format!("SELECT coalesce(json_agg(row_to_json(truth_row)), '[]') FROM {source} truth_row"),
            );
            let rows: Vec<serde_json::Map<String, Json>> = serde_json::from_str(&text).unwrap();
            let rows = rows
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|(column, value)| {
                            let ty = def
                                .and_then(|d| d.columns.iter().find(|c| c.name == column))
                                .map(|c| c.ty)
                                .unwrap_or(ColumnType::String);
                            let value = match (ty, value) {
                                (ColumnType::Binary, Json::String(s)) => Json::String(
                                    fivetran_source::debug::warehouse::base64(&hex(&s[2..])),
                                ),
                                (ColumnType::Float | ColumnType::Double, Json::String(s)) => {
                                    match s.as_str() {
                                        "NaN" => Json::Null,
                                        "Infinity" => Json::String("inf".into()),
                                        "-Infinity" => Json::String("-inf".into()),
                                        _ => Json::String(s),
                                    }
                                }
                                (ColumnType::Decimal { .. }, Json::String(s)) if s == "NaN" => {
                                    Json::Null
                                }
                                (
                                    ColumnType::NaiveDate
                                    | ColumnType::NaiveDateTime
                                    | ColumnType::UtcDateTime,
                                    Json::String(s),
                                ) if s.contains("infinity") => Json::Null,
                                (_, v) => v,
                            };
                            (column, value)
                        })
                        .collect()
                })
                .collect();
            truth.insert(table.to_owned(), rows);
        }
        truth
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs `f` until it stops failing because a replication slot is still active (the walsender of a
/// sync that just ended takes a moment to exit); panics after 10 s or on any other error.
pub fn retry_while_active(f: impl Fn() -> Result<String, String>) -> String {
    for _ in 0..100 {
        match f() {
            Ok(out) => return out,
            Err(e) if e.contains("is active") => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the slot stayed active for 10 s")
}

impl PgServer {
    /// Runs `sql` through psql with its output thrown away; returns the bytes it wrote (counted, not
    /// kept), for the benchmark's `COPY ... TO STDOUT`.
    pub fn psql_count_bytes(&self, sql: &str) -> u64 {
        let mut child = Command::new(&self.psql)
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                DATABASE,
            ])
            .args(["-X", "-q", "-At", "-c", sql])
            .stdout(Stdio::piped())
            .spawn()
            .expect("psql runs");
        let mut stdout = child.stdout.take().unwrap();
        let bytes = std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
        assert!(child.wait().unwrap().success(), "psql failed on `{sql}`");
        bytes
    }
}

/// PEM files for a TLS test: a CA, a server certificate it signed for 127.0.0.1, and another CA.
pub struct TlsFiles {
    /// The server's certificate file.
    pub cert: PathBuf,
    /// Its key file (owned by the server's user, mode 0600).
    pub key: PathBuf,
    /// The CA that signed it, PEM text.
    pub ca_pem: String,
    /// A CA that did not, PEM text.
    pub other_ca_pem: String,
}

/// Makes [`TlsFiles`] in `dir` with the `openssl` command; `None` (a loud skip) without it.
pub fn tls_files(dir: &Path) -> Option<TlsFiles> {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output();
        match out {
            Ok(o) if o.status.success() => true,
            Ok(o) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
            Err(_) => false,
        }
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=cdc test ca",
        ],
    ]
    .concat();
    if !openssl(&ca) {
        eprintln!("CDC TEST SKIPPED: openssl not found (needed to make test certificates)");
        return None;
    }
    let other = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
            "-days",
            "2",
            "-subj",
            "/CN=other ca",
        ],
    ]
    .concat();
    openssl(&other);
    let csr = [
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat();
    openssl(&csr);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Some(TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        ca_pem: std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
        other_ca_pem: std::fs::read_to_string(dir.join("other.crt")).unwrap(),
    })
}

impl PgServer {
    /// A cluster with `ssl = on` and the certificate of `tls_files` (made inside its directory).
    pub fn start_tls() -> Option<(Self, TlsFiles)> {
        let certs = tempfile::Builder::new()
            .prefix("cdc-tls-")
            .tempdir()
            .unwrap();
        let files = tls_files(certs.path())?;
        // The server reads its key only if its own user owns it with no access for others.
        let key = std::env::temp_dir().join(format!(
            "cdc-key-{}-{}.pem",
            std::process::id(),
            free_port()
        ));
        std::fs::copy(&files.key, &key).unwrap();
        let cert = key.with_extension("crt");
        std::fs::copy(&files.cert, &cert).unwrap();
        if is_root() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&key)
                .arg(&cert)
                .status()
                .unwrap();
        }
        Command::new("chmod").arg("600").arg(&key).status().unwrap();
        let started = Self::start_with(&[
            "wal_level=logical",
            "ssl=on",
            &format!("ssl_cert_file={}", cert.display()),
            &format!("ssl_key_file={}", key.display()),
        ]);
        let Some(mut server) = started else {
            let _ = std::fs::remove_file(&key);
            let _ = std::fs::remove_file(&cert);
            return None;
        };
        server.cleanup = vec![key.clone(), cert.clone()];
        let files = TlsFiles { cert, key, ..files };
        Some((server, files))
    }
}

// ---------------------------------------------------------------------------------------------
// MariaDB: a throwaway server (`mariadb-install-db` + `mariadbd`) on a temporary directory, its own
// socket and a free TCP port, with the binlog on in ROW format, and a real user with a password.

/// `name` on PATH or under the usual MariaDB/MySQL install paths.
fn find_mariadb_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/mysql/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A MariaDB table with a column of every type the connector maps (tests/mysql.rs and the compliance
/// subject), and three rows: extremes, zero dates and empty values, and NULLs.
pub const MARIADB_EVERY_TYPE_SQL: &str = r#"
CREATE TABLE every_type (
    id bigint PRIMARY KEY,
    flag tinyint(1), ti tinyint, tu tinyint unsigned, s smallint, su smallint unsigned,
    mi mediumint, mu mediumint unsigned, i int, iu int unsigned, b bigint, bu bigint unsigned,
    n decimal(12,3), f float, d double, day date, at datetime(6), ts timestamp(6) NULL DEFAULT NULL,
    t time(3), y year, j json, bin varbinary(16), bl blob, ch char(3), vc varchar(20), txt text,
    e enum('sad','ok','happy'), st set('a','b','c'), b1 bit(1), b12 bit(12)
);
INSERT INTO every_type VALUES
 (1, 1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 123456789.123, 1.5, 2.25,
  '2024-02-29', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.500000', '-838:59:59.000', 2024,
  '{"b": [1, 2], "a": null}', X'00FF10', X'DEADBEEF', 'ab', 'varchar', 'tab\tnewline\nquote'' "dq" ü',
  'happy', 'a,c', b'1', b'101010101010'),
 (2, 0, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, -0.5, -2.5, 1e300,
  '0000-00-00', '0000-00-00 00:00:00', NULL, '00:00:00.000', 0, '[]', X'', X'', '', '', '',
  'sad', '', b'0', b'0'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

/// The MariaDB server binaries the tests need.
const MARIADB_BINARIES: [&str; 3] = ["mariadb-install-db", "mariadbd", "mariadb"];

/// Why the MariaDB tests cannot run here, if they cannot.
pub fn mariadb_unavailable() -> Option<String> {
    MARIADB_BINARIES
        .iter()
        .find(|b| find_mariadb_binary(b).is_none())
        .map(|b| format!("{b} not found"))
}

fn mariadb_missing(what: &str) -> Option<MariaServer> {
    let message = format!("CDC TEST SKIPPED: {what} not found (install the MariaDB server package, e.g. apt-get install mariadb-server)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}; CI=true requires it");
    }
    eprintln!("{message}");
    None
}

/// A running throwaway MariaDB server; killed and removed when dropped.
pub struct MariaServer {
    dir: tempfile::TempDir,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    client: PathBuf,
    child: std::process::Child,
}

impl MariaServer {
    /// A server with the binlog on (`--log-bin --binlog-format=ROW --server-id=1`), database
    /// [`DATABASE`] and user [`CDC_USER`] (REPLICATION SLAVE, REPLICATION CLIENT, SELECT on it);
    /// `None` when the binaries are missing (outside CI).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// A server with extra `mariadbd` options.
    pub fn start_with(options: &[&str]) -> Option<Self> {
        let mut found = Vec::new();
        for b in MARIADB_BINARIES {
            match find_mariadb_binary(b) {
                Some(p) => found.push(p),
                None => return mariadb_missing(b),
            }
        }
        let (install, server, client) = (found[0].clone(), found[1].clone(), found[2].clone());
        let dir = tempfile::Builder::new()
            .prefix("cdc-maria-")
            .tempdir()
            .expect("a temporary directory");
        let data = dir.path().join("data");
        let root = is_root();
        let mut c = Command::new(&install);
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            // Passed on to the bootstrap server: its temporary tables must not meet other servers'
            // in /tmp (a server removes what it takes for its own leftovers there).
            .arg(format!("--tmpdir={}", dir.path().display()));
        if root {
            c.arg("--user=root");
        }
        let out = c.output().expect("mariadb-install-db runs");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut c = Command::new(&server);
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg(format!("--log-bin={}", data.join("mysql-bin").display()))
            // Its own temporary directory: servers running side by side clash in /tmp.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args([
                "--bind-address=127.0.0.1",
                "--binlog-format=ROW",
                "--server-id=1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0",
                "--performance-schema=OFF",
            ])
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            c.arg("--user=root");
        }
        let child = c.spawn().expect("mariadbd starts");
        let server = Self {
            dir,
            port,
            client,
            child,
        };
        let mut ready = false;
        for _ in 0..300 {
            if server.try_sql("mysql", "SELECT 1").is_ok() {
                ready = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(
            ready,
            "mariadbd did not start: {}",
            std::fs::read_to_string(server.dir.path().join("error.log")).unwrap_or_default()
        );
        server.sql(
            "mysql",
            &format!(
                "CREATE DATABASE {DATABASE}; \
                 CREATE USER '{CDC_USER}'@'%' IDENTIFIED BY '{CDC_PASSWORD}'; \
                 GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{CDC_USER}'@'%'; \
                 GRANT SELECT ON {DATABASE}.* TO '{CDC_USER}'@'%';"
            ),
        );
        Some(server)
    }

    /// Runs `sql` as root through the socket in `database` (`-N -B --raw`: tab-separated, no
    /// headers) with the session in UTC; panics on an SQL error.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        match self.try_sql(database, sql) {
            Ok(out) => out,
            Err(e) => panic!("mariadb failed on `{sql}`: {e}"),
        }
    }

    /// [`MariaServer::sql`], returning the error text instead of panicking.
    pub fn try_sql(&self, database: &str, sql: &str) -> Result<String, String> {
        let mut command = Command::new(&self.client);
        command
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .args(["-u", "root", "-N", "-B", "--raw", "-D", database])
            .arg("--init-command=SET time_zone = '+00:00'");
        // A long script (a benchmark's millions of updates) goes through stdin: an argument that
        // long is refused by the kernel (E2BIG).
        let out = if sql.len() <= 64 * 1024 {
            command.arg("-e").arg(sql).output()
        } else {
            use std::io::Write;
            command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = command.spawn().expect("mariadb starts");
            let mut stdin = child.stdin.take().expect("piped stdin");
            let script = sql.to_owned();
            let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
            let out = child.wait_with_output();
            writer
                .join()
                .expect("the script writer")
                .expect("the script is written");
            out
        }
        .expect("mariadb runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs a script in [`DATABASE`] (each statement its own transaction, autocommit).
    pub fn script(&self, sql: &str) {
        self.sql(DATABASE, sql);
    }

    /// The connector's configuration for [`DATABASE`] as [`CDC_USER`].
    pub fn configuration(&self) -> HashMap<String, String> {
        [
            ("host", "127.0.0.1".to_owned()),
            ("port", self.port.to_string()),
            ("databases", DATABASE.to_owned()),
            ("user", CDC_USER.to_owned()),
            ("password", CDC_PASSWORD.to_owned()),
            ("tls", "disable".to_owned()),
            ("server_id", "4242".to_owned()),
            ("chunk_rows", "40".to_owned()),
            ("max_stream_seconds", "60".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// What the database holds in `tables` (destination name = table name in [`DATABASE`]), as the
    /// compliance comparison takes it: each row as MariaDB's own `JSON_OBJECT`, with the documented
    /// landings applied in SQL by each column's type in `information_schema` (binary as base64 of its
    /// bytes, zero dates as NULL, timestamps in UTC, decimals and unsigned bigints as exact text).
    pub fn truth(&self, tables: &[&str]) -> fivetran_source::compliance::Truth {
        use serde_json::Value as Json;
        let mut truth = fivetran_source::compliance::Truth::new();
        for &table in tables {
            let columns = self.sql(
                DATABASE,
                &format!(
                    "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = '{DATABASE}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
                ),
            );
            let zero = |c: &str| {
                format!("(`{c}` IS NULL OR YEAR(`{c}`) = 0 OR MONTH(`{c}`) = 0 OR DAYOFMONTH(`{c}`) = 0)")
            };
            let mut binary = Vec::new();
            let fields = columns
                .lines()
                .map(|line| {
                    let mut parts = line.split('\t');
                    let n = parts.next().unwrap().to_owned();
                    let data_type = parts.next().unwrap_or_default();
                    let column_type = parts.next().unwrap_or_default();
                    let e = match data_type {
                        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob"
                        | "longblob" => {
                            binary.push(n.clone());
                            format!("HEX(CAST(`{n}` AS BINARY))")
                        }
                        "bit" if column_type != "bit(1)" => {
                            binary.push(n.clone());
                            format!("HEX(CAST(`{n}` AS BINARY))")
                        }
                        "bigint" if column_type.contains("unsigned") => {
                            format!("CAST(`{n}` AS CHAR)")
                        }
                        // `+ 0`: MariaDB's JSON_OBJECT writes a YEAR 0 as `0000`, not a JSON number.
                        "bit" | "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
                        | "year" => {
                            format!("`{n}` + 0")
                        }
                        "float" | "double" => format!("`{n}`"),
                        "date" | "datetime" => {
                            format!("IF({}, NULL, CAST(`{n}` AS CHAR))", zero(&n))
                        }
                        "timestamp" => format!(
                            "IF({}, NULL, CONCAT(DATE_FORMAT(`{n}`, '%Y-%m-%dT%H:%i:%s.%f'), 'Z'))",
                            zero(&n)
                        ),
                        _ => format!("CAST(`{n}` AS CHAR)"),
                    };
                    format!("'{n}', {e}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let text = self.sql(
                DATABASE,
                &format!("SELECT JSON_OBJECT({fields}) FROM `{table}`"),
            );
            let rows = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let row: serde_json::Map<String, Json> =
                        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                    row.into_iter()
                        .map(|(column, value)| {
                            let value = match value {
                                Json::String(s) if binary.contains(&column) => Json::String(
                                    fivetran_source::debug::warehouse::base64(&hex(&s)),
                                ),
                                v => v,
                            };
                            (column, value)
                        })
                        .collect()
                })
                .collect();
            truth.insert(table.to_owned(), rows);
        }
        truth
    }

    /// Runs `sql` through the `mariadb` client (`--quick`: rows streamed, not buffered) with its output
    /// thrown away; returns the bytes it wrote (counted, not kept), for the benchmark's plain read.
    pub fn sql_count_bytes(&self, sql: &str) -> u64 {
        let mut child = Command::new(&self.client)
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .args([
                "-u", "root", "-N", "-B", "--raw", "--quick", "-D", DATABASE, "-e", sql,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("mariadb runs");
        let mut stdout = child.stdout.take().unwrap();
        let bytes = std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
        assert!(child.wait().unwrap().success(), "mariadb failed on `{sql}`");
        bytes
    }

    /// The binlog files the server has, oldest first.
    pub fn binlog_files(&self) -> Vec<String> {
        self.sql("mysql", "SHOW BINARY LOGS")
            .lines()
            .filter_map(|l| l.split('\t').next().map(str::to_owned))
            .collect()
    }
}

impl Drop for MariaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

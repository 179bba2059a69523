//! The replication connection, spoken directly over TCP (protocol 3.0, `replication=database`):
//! startup and password authentication (SCRAM-SHA-256, MD5 or cleartext, through `postgres-protocol`),
//! simple queries for the replication commands, then the CopyBoth stream of `XLogData` and keepalives
//! with standby status updates going back. The released `tokio-postgres` has no replication mode,
//! and polling `pg_logical_slot_get_changes` through SQL would re-decode the WAL on every call.
//!
//! Memory: one message at a time (the read buffer holds at most one message plus what one read
//! brought), messages above [`MAX_MESSAGE_BYTES`] are refused.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::{PgError, ServerError};
use super::tls::Transport;
use super::types::SESSION_OPTIONS;

/// The largest backend message accepted (a row with big TOASTed values travels in one).
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;
/// How often the standby status goes back to the server (the server's `wal_sender_timeout` is 60 s).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// A WAL position. Text form `X/Y` (hex), as PostgreSQL prints it; that is how state keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

impl FromStr for Lsn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not an LSN (like 0/16B3748)");
        let (hi, lo) = s.split_once('/').ok_or_else(bad)?;
        let hi = u64::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u64::from_str_radix(lo, 16).map_err(|_| bad())?;
        if hi > u64::from(u32::MAX) || lo > u64::from(u32::MAX) {
            return Err(bad());
        }
        Ok(Lsn((hi << 32) | lo))
    }
}

impl serde::Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database.
    pub database: String,
    /// Role.
    pub user: String,
    /// Password (never logged).
    pub password: crate::sdk::Secret,
    /// Transport encryption.
    pub tls: super::config::TlsMode,
}

struct Message {
    tag: u8,
    body: Bytes,
}

/// A logged-in replication connection.
pub struct ReplicationClient {
    stream: Box<dyn Transport>,
    buf: BytesMut,
    out: BytesMut,
}

fn protocol(what: impl Into<String>) -> PgError {
    PgError::Protocol(what.into())
}

fn cstr(body: &mut Bytes) -> Result<String, PgError> {
    let end = body
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| protocol("unterminated string"))?;
    let text = String::from_utf8_lossy(&body[..end]).into_owned();
    body.advance(end + 1);
    Ok(text)
}

fn server_error(mut body: Bytes) -> ServerError {
    let mut error = ServerError {
        code: String::new(),
        message: String::new(),
        detail: None,
    };
    while body.has_remaining() {
        let field = body.get_u8();
        if field == 0 {
            break;
        }
        let Ok(value) = cstr(&mut body) else { break };
        match field {
            b'C' => error.code = value,
            b'M' => error.message = value,
            b'D' | b'H' if error.detail.is_none() => error.detail = Some(value),
            _ => {}
        }
    }
    error
}

/// The values of a `DataRow` as texts; `None` if it is cut short.
fn data_row(body: &mut Bytes) -> Option<Vec<Option<String>>> {
    if body.remaining() < 2 {
        return None;
    }
    let n = body.get_i16();
    let mut row = Vec::with_capacity(n.clamp(0, 1600) as usize);
    for _ in 0..n {
        if body.remaining() < 4 {
            return None;
        }
        let len = body.get_i32();
        if len < 0 {
            row.push(None);
        } else {
            if body.remaining() < len as usize {
                return None;
            }
            let value = body.split_to(len as usize);
            row.push(Some(String::from_utf8_lossy(&value).into_owned()));
        }
    }
    Some(row)
}

impl ReplicationClient {
    /// Connects, authenticates and waits until the server is ready for replication commands.
    pub async fn connect(params: &ConnectParams) -> Result<Self, PgError> {
        let addr = format!("{}:{}", params.host, params.port);
        let stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(&addr))
            .await
            .map_err(|_| PgError::Connect {
                addr: addr.clone(),
                source: std::io::ErrorKind::TimedOut.into(),
            })?
            .map_err(|source| PgError::Connect {
                addr: addr.clone(),
                source,
            })?;
        stream.set_nodelay(true).ok();
        let stream: Box<dyn Transport> = match super::tls::client_config(&params.tls)? {
            None => Box::new(stream),
            Some(tls) => super::tls::upgrade(stream, tls, &params.host).await?,
        };
        let mut client = Self {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::with_capacity(1024),
        };
        frontend::startup_message(
            [
                ("user", params.user.as_str()),
                ("database", params.database.as_str()),
                ("replication", "database"),
                ("application_name", "fivetran_source"),
                ("client_encoding", "UTF8"),
                ("options", SESSION_OPTIONS),
            ],
            &mut client.out,
        )
        .map_err(|e| protocol(e.to_string()))?;
        client.flush().await?;
        client.authenticate(params).await?;
        loop {
            let m = client.read().await?;
            match m.tag {
                b'Z' => return Ok(client),
                b'E' => {
                    return Err(PgError::Server {
                        context: format!("cannot log in to {addr} for replication"),
                        error: server_error(m.body),
                    })
                }
                _ => {} // ParameterStatus, BackendKeyData, NoticeResponse
            }
        }
    }

    async fn authenticate(&mut self, params: &ConnectParams) -> Result<(), PgError> {
        let password = params.password.expose().as_bytes();
        let mut scram: Option<ScramSha256> = None;
        loop {
            let m = self.read().await?;
            let mut body = m.body;
            match m.tag {
                b'E' => {
                    return Err(PgError::Server {
                        context: format!("cannot log in as '{}' for replication", params.user),
                        error: server_error(body),
                    })
                }
                b'R' => {}
                other => {
                    return Err(protocol(format!(
                        "unexpected message '{}' during login",
                        other as char
                    )))
                }
            }
            if body.remaining() < 4 {
                return Err(protocol("short authentication message"));
            }
            match body.get_i32() {
                0 => return Ok(()),
                3 => frontend::password_message(password, &mut self.out)
                    .map_err(|e| protocol(e.to_string()))?,
                5 => {
                    if body.remaining() < 4 {
                        return Err(protocol("short MD5 salt"));
                    }
                    let mut salt = [0u8; 4];
                    body.copy_to_slice(&mut salt);
                    let hash = postgres_protocol::authentication::md5_hash(
                        params.user.as_bytes(),
                        password,
                        salt,
                    );
                    frontend::password_message(hash.as_bytes(), &mut self.out)
                        .map_err(|e| protocol(e.to_string()))?;
                }
                10 => {
                    let mut mechanisms = Vec::new();
                    while body.has_remaining() && body[0] != 0 {
                        mechanisms.push(cstr(&mut body)?);
                    }
                    if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                        return Err(protocol(format!(
                            "the server offers only {mechanisms:?}; SCRAM-SHA-256 is supported"
                        )));
                    }
                    let s = ScramSha256::new(password, ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.out)
                        .map_err(|e| protocol(e.to_string()))?;
                    scram = Some(s);
                }
                11 => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| protocol("SASL continue before start"))?;
                    s.update(&body)
                        .map_err(|e| protocol(format!("SCRAM: {e}")))?;
                    frontend::sasl_response(s.message(), &mut self.out)
                        .map_err(|e| protocol(e.to_string()))?;
                }
                12 => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| protocol("SASL final before start"))?;
                    s.finish(&body)
                        .map_err(|e| protocol(format!("SCRAM: {e}")))?;
                    continue;
                }
                other => {
                    return Err(protocol(format!(
                        "authentication method {other} is not supported; use scram-sha-256 or md5"
                    )))
                }
            }
            self.flush().await?;
        }
    }

    async fn flush(&mut self) -> Result<(), PgError> {
        let out = self.out.split();
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| protocol(format!("write failed: {e}")))
    }

    /// One backend message. Cancel-safe: a partial message stays in the buffer.
    async fn read(&mut self) -> Result<Message, PgError> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if !(4..=MAX_MESSAGE_BYTES).contains(&len) {
                    return Err(protocol(format!("a message of {len} bytes")));
                }
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    self.buf.advance(5);
                    let body = self.buf.split_to(len - 4).freeze();
                    return Ok(Message { tag, body });
                }
                self.buf.reserve(len + 1 - self.buf.len());
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| protocol(format!("read failed: {e}")))?;
            if n == 0 {
                return Err(protocol("the server closed the connection"));
            }
        }
    }

    /// Runs one replication command (simple query protocol) and returns its rows as texts.
    pub async fn command(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, PgError> {
        frontend::query(sql, &mut self.out).map_err(|e| protocol(e.to_string()))?;
        self.flush().await?;
        let mut rows = Vec::new();
        let mut failure = None;
        loop {
            let m = self.read().await?;
            let mut body = m.body;
            match m.tag {
                b'D' => {
                    rows.push(data_row(&mut body).ok_or_else(|| protocol("a malformed DataRow"))?)
                }
                b'E' => failure = Some(server_error(body)),
                b'Z' => break,
                _ => {} // RowDescription, CommandComplete, notices
            }
        }
        match failure {
            Some(error) => Err(PgError::Server {
                context: format!(
                    "replication command `{}`",
                    sql.split(' ').take(2).collect::<Vec<_>>().join(" ")
                ),
                error,
            }),
            None => Ok(rows),
        }
    }

    /// `CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT`: the slot's consistent point and
    /// the exported snapshot's name. The snapshot stays importable while this connection runs no other
    /// command, so import it before using the connection again.
    pub async fn create_slot(&mut self, slot: &str) -> Result<(Lsn, String), PgError> {
        let rows = self
            .command(&format!(
                "CREATE_REPLICATION_SLOT \"{slot}\" LOGICAL pgoutput EXPORT_SNAPSHOT"
            ))
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| protocol("no reply to CREATE_REPLICATION_SLOT"))?;
        let lsn = row
            .get(1)
            .cloned()
            .flatten()
            .ok_or_else(|| protocol("no consistent point"))?
            .parse()
            .map_err(protocol)?;
        let snapshot = row
            .get(2)
            .cloned()
            .flatten()
            .ok_or_else(|| protocol("no exported snapshot"))?;
        Ok((lsn, snapshot))
    }

    /// `START_REPLICATION SLOT ... LOGICAL <lsn>` with pgoutput protocol 1 on `publication`; the first
    /// status update confirms `acknowledged` (a position Fivetran handed back).
    pub async fn start(
        mut self,
        slot: &str,
        from: Lsn,
        publication: &str,
        acknowledged: Lsn,
    ) -> Result<ReplicationStream, PgError> {
        let sql = format!(
            "START_REPLICATION SLOT \"{slot}\" LOGICAL {from} (proto_version '1', publication_names '\"{publication}\"')"
        );
        frontend::query(&sql, &mut self.out).map_err(|e| protocol(e.to_string()))?;
        self.flush().await?;
        loop {
            let m = self.read().await?;
            match m.tag {
                b'W' => break,
                b'E' => {
                    return Err(PgError::Server {
                        context: format!("cannot stream replication slot '{slot}'"),
                        error: server_error(m.body),
                    })
                }
                _ => {}
            }
        }
        let mut stream = ReplicationStream {
            client: self,
            acknowledged,
            next_status: Instant::now(),
        };
        stream.send_status(false).await?;
        Ok(stream)
    }
}

/// What the replication stream delivers.
#[derive(Debug)]
pub enum StreamEvent {
    /// One pgoutput message at `start`.
    Data {
        /// The WAL position of this message.
        start: Lsn,
        /// The message.
        data: Bytes,
    },
    /// A status update went out (about every [`STATUS_INTERVAL`]): a moment to check deadlines.
    Tick,
    /// The server's position: everything before `wal_end` has been sent.
    Keepalive {
        /// The sender's position.
        wal_end: Lsn,
    },
}

/// A started replication stream.
pub struct ReplicationStream {
    client: ReplicationClient,
    acknowledged: Lsn,
    next_status: Instant,
}

/// Microseconds since 2000-01-01, PostgreSQL's epoch.
fn pg_now() -> i64 {
    const PG_EPOCH_UNIX_SECONDS: i64 = 946_684_800;
    chrono::Utc::now().timestamp_micros() - PG_EPOCH_UNIX_SECONDS * 1_000_000
}

impl ReplicationStream {
    /// Standby status update: written, flushed and applied all equal the acknowledged position, so
    /// the slot never moves past what Fivetran confirmed.
    async fn send_status(&mut self, reply: bool) -> Result<(), PgError> {
        let lsn = self.acknowledged.0 as i64;
        let mut payload = BytesMut::with_capacity(34);
        payload.put_u8(b'r');
        payload.put_i64(lsn);
        payload.put_i64(lsn);
        payload.put_i64(lsn);
        payload.put_i64(pg_now());
        payload.put_u8(u8::from(reply));
        let out = &mut self.client.out;
        out.put_u8(b'd');
        out.put_i32(4 + payload.len() as i32);
        out.extend_from_slice(&payload);
        self.client.flush().await?;
        self.next_status = Instant::now() + STATUS_INTERVAL;
        Ok(())
    }

    /// The next event, sending status updates meanwhile. Not cancel-safe (a status update may be
    /// half written): do not race it against a timer, use [`StreamEvent::Tick`].
    pub async fn next(&mut self) -> Result<StreamEvent, PgError> {
        loop {
            let read = tokio::time::timeout_at(self.next_status, self.client.read()).await;
            let Ok(m) = read else {
                self.send_status(false).await?;
                return Ok(StreamEvent::Tick);
            };
            let m = m?;
            let mut body = m.body;
            match m.tag {
                b'd' if body.has_remaining() => match body.get_u8() {
                    b'w' if body.remaining() >= 24 => {
                        let start = Lsn(body.get_u64());
                        body.advance(16); // the server's WAL end and send time
                        return Ok(StreamEvent::Data { start, data: body });
                    }
                    b'k' if body.remaining() >= 17 => {
                        let wal_end = Lsn(body.get_u64());
                        body.advance(8);
                        if body.get_u8() == 1 {
                            self.send_status(false).await?;
                        }
                        return Ok(StreamEvent::Keepalive { wal_end });
                    }
                    other => {
                        return Err(protocol(format!(
                            "unexpected copy message '{}'",
                            other as char
                        )))
                    }
                },
                b'E' => {
                    return Err(PgError::Server {
                        context: "replication stream".to_owned(),
                        error: server_error(body),
                    })
                }
                b'c' => return Err(protocol("the server ended the stream")),
                _ => {} // notices
            }
        }
    }

    /// Ends the connection (the slot stays where the last status put it).
    pub async fn close(mut self) {
        frontend::terminate(&mut self.client.out);
        let _ = self.client.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_rows_decode_and_short_ones_are_refused() {
        let mut body = Bytes::from_static(b"\x00\x02\x00\x00\x00\x02ab\xff\xff\xff\xff");
        assert_eq!(data_row(&mut body), Some(vec![Some("ab".into()), None]));
        let mut short = Bytes::from_static(b"\x00\x01\x00\x00\x00\x05ab");
        assert_eq!(data_row(&mut short), None);
    }

    #[test]
    fn lsn_text_round_trips() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn.0, 0x16_B374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>().unwrap(), Lsn(0));
        assert!("16B374D848".parse::<Lsn>().is_err());
        assert!("1/G".parse::<Lsn>().is_err());
        assert_eq!(serde_json::to_string(&lsn).unwrap(), "\"16/B374D848\"");
    }
}

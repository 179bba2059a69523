//! Logs: one JSON object per line on stdout, in the form Fivetran's partner SDK reads:
//! `{"level": "INFO|WARNING|SEVERE", "message": "...", "message-origin": "sdk_connector"}`.
//!
//! Structured fields of a `tracing` event are appended to the message as `key=value`. Interactive
//! commands (`debug`, `simulate`) log human-readable lines to stderr instead, keeping stdout for output.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Where logs go and in which form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// Fivetran JSON lines on stdout (the server).
    FivetranJson,
    /// Human-readable lines on stderr (interactive commands).
    Human,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default filter (`info`, with the HTTP/2 and
/// gRPC stacks at `warn`).
pub fn init(mode: LogMode) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,h2=warn,hyper=warn,tonic=warn,tower=warn,reqwest=warn,rustls=warn")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match mode {
        LogMode::FivetranJson => builder
            .event_format(FivetranJson)
            .with_writer(std::io::stdout)
            .try_init(),
        LogMode::Human => builder
            .with_target(false)
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

/// Fivetran's level names: only INFO, WARNING and SEVERE are accepted.
pub fn fivetran_level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "SEVERE",
        Level::WARN => "WARNING",
        _ => "INFO",
    }
}

/// The `tracing` event formatter producing Fivetran's JSON lines.
pub struct FivetranJson;

impl<S, N> FormatEvent<S, N> for FivetranJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let line = serde_json::json!({
            "level": fivetran_level(event.metadata().level()),
            "message": visitor.finish(),
            "message-origin": "sdk_connector",
        });
        writeln!(writer, "{line}")
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_fivetran_json() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(FivetranJson)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(records = 5, "sync \"done\"");
            tracing::warn!("careful");
            tracing::error!("boom");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "sync \"done\" records=5");
        assert_eq!(lines[0]["message-origin"], "sdk_connector");
        assert_eq!(lines[1]["level"], "WARNING");
        assert_eq!(lines[2]["level"], "SEVERE");
    }
}

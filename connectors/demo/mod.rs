//! `demo`: a synthetic connector with no HTTP, for conformance tests, benchmarks and trying the SDK.
//!
//! Each sync emits `record_count` new `items` (every Fivetran data type), updates the newest item of
//! the previous sync, deletes the oldest live item, appends one `events` row (a table without a primary
//! key), and checkpoints every `checkpoint_every` items. `fail_after` makes the sync fail after that
//! many items (to exercise the error path). Deterministic: item `i` always has the same values.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::sdk::Error;
use crate::sdk::{
    key_row, ColumnType, ConfigError, Configuration, Connector, Emitter, Field, Form,
    FromConfiguration, Row, Schema, TableDef, Value,
};

/// The demo connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct Demo;

/// Demo configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// New items per sync.
    pub record_count: u64,
    /// Items between checkpoints.
    pub checkpoint_every: u64,
    /// Fail after this many items, if set.
    pub fail_after: Option<u64>,
    /// `full` (every type, 15 columns) or `narrow` (4 fixed-width columns: measures the SDK path alone).
    pub narrow: bool,
}

impl FromConfiguration for DemoConfig {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        let fail_after = match c.optional("fail_after") {
            None => None,
            Some(_) => Some(c.parse_or("fail_after", 0u64)?),
        };
        Ok(Self {
            record_count: c.int_in_range("record_count", 1000, 0, 100_000_000)?,
            checkpoint_every: c.int_in_range("checkpoint_every", 10_000, 1, 100_000_000)?,
            fail_after,
            narrow: match c.optional("shape") {
                None | Some("full") => false,
                Some("narrow") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        field: "shape".into(),
                        reason: format!("'{other}' is not 'full' or 'narrow'"),
                    })
                }
            },
        })
    }
}

/// Demo state, version 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoState {
    /// Next item id to create.
    #[serde(default)]
    pub next_id: u64,
    /// Oldest item id not yet deleted.
    #[serde(default)]
    pub oldest_live: u64,
    /// Syncs completed.
    #[serde(default)]
    pub syncs: u64,
}

impl crate::sdk::ConnectorState for DemoState {
    const VERSION: u32 = 1;
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default() // 2024-01-01T00:00:00Z
}

/// Item `id` with one column of every type (pure, deterministic).
pub fn item(id: u64, revision: u64) -> Row {
    let i = id as i64;
    let created = epoch() + Duration::seconds(i * 61);
    Row::with_capacity(15)
        .with("id", i)
        .with("name", format!("item-{id}"))
        .with("active", !id.is_multiple_of(3))
        .with("short_code", (id % 1000) as i16)
        .with("quantity", (id % 100_000) as i32)
        .with(
            "price",
            Value::Decimal(format!("{}.{:02}", id % 1000, id % 100)),
        )
        .with("ratio", (id % 7) as f32 / 8.0)
        .with("score", id as f64 / 3.0)
        .with(
            "day",
            NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default() + Duration::days(i % 365),
        )
        .with("local_time", created.naive_utc())
        .with("created_at", created)
        .with("payload", Value::Binary(id.to_le_bytes().to_vec()))
        .with("doc", Value::Xml(format!("<item id=\"{id}\"/>")))
        .with(
            "meta",
            Value::Json(format!(r#"{{"rev":{revision},"tags":["a","b"]}}"#)),
        )
        .with("revision", revision as i64)
}

/// A narrow item: four fixed-width columns and no allocation beyond the row itself.
pub fn narrow_item(id: u64) -> Row {
    Row::with_capacity(4)
        .with("id", id as i64)
        .with("active", !id.is_multiple_of(3))
        .with("score", id as f64 / 3.0)
        .with("created_at", epoch() + Duration::seconds(id as i64 * 61))
}

#[async_trait]
impl Connector for Demo {
    type Config = DemoConfig;
    type State = DemoState;

    fn form(&self) -> Form {
        Form::new()
            .field(
                Field::text("record_count", "Records per sync")
                    .optional()
                    .default_value("1000"),
            )
            .field(
                Field::text("checkpoint_every", "Records between checkpoints")
                    .optional()
                    .default_value("10000"),
            )
            .field(Field::dropdown("shape", "Row shape", &["full", "narrow"]).optional())
            .field(
                Field::text("fail_after", "Fail after this many records (testing)")
                    .optional()
                    .description("leave empty for a normal sync"),
            )
            .test("configuration", "Check the configuration")
    }

    async fn test(&self, _name: &str, _config: &DemoConfig) -> Result<(), Error> {
        Ok(()) // parsing the configuration is the whole test
    }

    async fn schema(&self, _config: &DemoConfig) -> Result<Schema, Error> {
        use ColumnType as T;
        Ok(Schema::new(vec![
            TableDef::new("items")
                .key("id", T::Long)
                .column("name", T::String)
                .column("active", T::Boolean)
                .column("short_code", T::Short)
                .column("quantity", T::Int)
                .column(
                    "price",
                    T::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                )
                .column("ratio", T::Float)
                .column("score", T::Double)
                .column("day", T::NaiveDate)
                .column("local_time", T::NaiveDateTime)
                .column("created_at", T::UtcDateTime)
                .column("payload", T::Binary)
                .column("doc", T::Xml)
                .column("meta", T::Json)
                .column("revision", T::Long),
            TableDef::new("events")
                .column("sync", T::Long)
                .column("message", T::String),
        ]))
    }

    async fn update(
        &self,
        config: &DemoConfig,
        mut state: DemoState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        if state.next_id > 0 && out.is_selected("items") {
            let newest = state.next_id - 1;
            out.update(
                "items",
                &key_row("id", newest as i64).with("revision", state.syncs as i64),
            )
            .await?;
            if state.oldest_live < state.next_id {
                out.delete("items", &key_row("id", state.oldest_live as i64))
                    .await?;
                state.oldest_live += 1;
            }
        }
        let end = state.next_id + config.record_count;
        let mut emitted = 0u64;
        while state.next_id < end && out.is_selected("items") && !out.table_full("items") {
            if config.fail_after == Some(emitted) {
                return Err(Error::Connector(format!(
                    "demo failure requested after {emitted} records (fail_after)"
                )));
            }
            let row = if config.narrow {
                narrow_item(state.next_id)
            } else {
                item(state.next_id, state.syncs)
            };
            out.upsert("items", &row).await?;
            state.next_id += 1;
            emitted += 1;
            if emitted.is_multiple_of(config.checkpoint_every) {
                out.checkpoint(&state).await?;
            }
        }
        if out.is_selected("events") {
            let event = Row::new()
                .with("sync", state.syncs as i64)
                .with("message", format!("emitted {emitted} items"));
            out.upsert("events", &event).await?;
        }
        state.syncs += 1;
        out.checkpoint(&state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::{EmitterOptions, Selection};

    // Regression: `shape = narrow` once still emitted full rows, so the benchmark measured the wrong thing.
    #[tokio::test]
    async fn narrow_shape_emits_narrow_rows() {
        let map = [
            ("shape".to_string(), "narrow".to_string()),
            ("record_count".to_string(), "3".to_string()),
        ]
        .into_iter()
        .collect();
        let config = DemoConfig::from_configuration(&Configuration::new(&map)).unwrap();
        assert!(config.narrow);
        let schema = Demo.schema(&config).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut out = Emitter::new(tx, &schema, &Selection::all(), EmitterOptions::default());
        Demo.update(&config, DemoState::default(), &mut out)
            .await
            .unwrap();
        drop(out);
        let mut columns = None;
        while let Some(Ok(msg)) = rx.recv().await {
            use prost::Message;
            let decoded =
                crate::proto::UpdateResponse::decode(msg.encode_to_vec().as_slice()).unwrap();
            if let Some(crate::proto::update_response::Operation::StructuredRecords(r)) =
                decoded.operation
            {
                let first = r
                    .structured_records
                    .iter()
                    .find(|r| r.table_name == "items")
                    .unwrap();
                columns = Some(first.data.len());
                break;
            }
        }
        assert_eq!(columns, Some(narrow_item(0).len()));
    }
}

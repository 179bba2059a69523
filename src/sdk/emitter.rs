//! The emitter: the only way a connector's rows reach the wire.
//!
//! A connector pushes operations (upsert, update, delete, truncate, checkpoint, warning); the emitter owns
//! - **batching**: records are encoded once into a `structured_records` message of at most
//!   [`MAX_BATCH_RECORDS`] records and about [`MAX_BATCH_BYTES`] bytes (Fivetran SDK limits; a single
//!   larger record travels alone);
//! - **backpressure**: messages go through a bounded queue of [`QUEUE_CAPACITY`] messages, so a connector
//!   can never run ahead of unsent data by more than that, and memory does not grow with table size;
//! - **the checkpoint barrier**: a checkpoint first flushes the pending batch into the same FIFO queue, so
//!   every record emitted before it is on the wire before it;
//! - **selection**: rows for unselected tables are dropped and unselected columns stripped (key columns
//!   are always kept); connectors ask [`Emitter::is_selected`] to avoid fetching at all;
//! - **unreadable values**: the sync's [`Issues`], reported as one warning per column.

use std::collections::HashMap;

use tokio::sync::mpsc;

use crate::proto;
use crate::sdk::selection::{Selection, TableSelection};
use crate::sdk::state::{serialize_state, ConnectorState};
use crate::sdk::table::Issues;
use crate::sdk::wire::{self, RecordBatch, UpdateResponse};
use crate::sdk::Error;
use crate::sdk::{Row, Schema, Value};

/// At most this many records per `structured_records` message.
pub const MAX_BATCH_RECORDS: usize = 100;
/// A batch is sent once it reaches about this many bytes.
pub const MAX_BATCH_BYTES: usize = 100_000;
/// Messages buffered between the connector and the gRPC stream.
pub const QUEUE_CAPACITY: usize = 16;

/// The sending half of an `Update` stream.
pub type Outbox = mpsc::Sender<Result<UpdateResponse, tonic::Status>>;

/// Per-run knobs of an emitter.
#[derive(Debug, Clone, Default)]
pub struct EmitterOptions {
    /// Stop asking for more rows of a table after this many (see [`Emitter::table_full`]).
    pub record_limit_per_table: Option<u64>,
    /// Once cancelled, the next checkpoint ends the sync with [`Error::ShuttingDown`] (after the
    /// checkpoint is on the wire, so nothing it covers is lost).
    pub stop: Option<tokio_util::sync::CancellationToken>,
    /// The form of each record's cells: typed `data` (the default) or compact `row_data`.
    pub cells: wire::CellEncoding,
}

struct TableSlot {
    name: String,
    prefix: Vec<u8>,
    selection: TableSelection,
    keys: Vec<String>,
    all_columns: bool,
    emitted: u64,
}

/// Counters of what an emitter sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitterStats {
    /// Records sent (all operation types).
    pub records: u64,
    /// `structured_records` messages sent.
    pub batches: u64,
    /// Checkpoints sent.
    pub checkpoints: u64,
    /// Records dropped because their table is not selected.
    pub dropped_unselected: u64,
}

/// Pushes a connector's operations onto an `Update` stream. See the module docs for its guarantees.
pub struct Emitter {
    out: Outbox,
    slots: Vec<TableSlot>,
    by_name: HashMap<String, usize>,
    batch: bytes::BytesMut,
    batch_count: usize,
    lens: Vec<usize>,
    /// The rendered cells of the record being encoded ([`wire::CellEncoding::Compact`] only).
    cells: Vec<u8>,
    last_slot: std::cell::Cell<usize>,
    options: EmitterOptions,
    stats: EmitterStats,
    issues: Issues,
}

impl Emitter {
    /// An emitter for the tables of `schema`, honouring `selection`, sending into `out`.
    pub fn new(
        out: Outbox,
        schema: &Schema,
        selection: &Selection,
        options: EmitterOptions,
    ) -> Self {
        let mut slots = Vec::with_capacity(schema.tables.len());
        let mut by_name = HashMap::new();
        for (i, t) in schema.tables.iter().enumerate() {
            let selection = selection.table(t.schema.as_deref(), &t.name);
            slots.push(TableSlot {
                name: t.name.clone(),
                prefix: wire::encode_table_prefix(t.schema.as_deref(), &t.name),
                all_columns: selection.all_columns(),
                selection,
                keys: t.primary_key().map(str::to_owned).collect(),
                emitted: 0,
            });
            by_name.entry(t.name.clone()).or_insert(i);
        }
        Self {
            out,
            slots,
            by_name,
            batch: bytes::BytesMut::with_capacity(MAX_BATCH_BYTES + 4096),
            batch_count: 0,
            lens: Vec::with_capacity(32),
            cells: Vec::new(),
            last_slot: std::cell::Cell::new(0),
            options,
            stats: EmitterStats::default(),
            issues: Issues::default(),
        }
    }

    /// The slot of `table`; a one-entry cache skips hashing for the common run of rows of one table.
    fn find(&self, table: &str) -> Option<usize> {
        let last = self.last_slot.get();
        if self.slots.get(last).is_some_and(|s| s.name == table) {
            return Some(last);
        }
        let found = self.by_name.get(table).copied()?;
        self.last_slot.set(found);
        Some(found)
    }

    fn slot(&self, table: &str) -> Result<usize, Error> {
        self.find(table)
            .ok_or_else(|| Error::UndeclaredTable(table.to_owned()))
    }

    /// Whether `table` is selected: a connector skips fetching tables that are not.
    /// An undeclared table is reported as not selected.
    pub fn is_selected(&self, table: &str) -> bool {
        self.find(table)
            .is_some_and(|i| self.slots[i].selection.included)
    }

    /// Whether `column` of `table` is selected (key columns always are), so a connector can skip
    /// expensive fields (e.g. a "full" endpoint) nobody asked for.
    pub fn is_column_selected(&self, table: &str, column: &str) -> bool {
        self.find(table).is_some_and(|i| {
            let slot = &self.slots[i];
            slot.keys.iter().any(|k| k == column) || slot.selection.column_selected(column)
        })
    }

    /// Whether `table` reached the per-table record limit of a `debug --limit` run. Connectors check this
    /// between pages and stop that table at the next consistent checkpoint; it is always `false` in
    /// production.
    pub fn table_full(&self, table: &str) -> bool {
        match (self.options.record_limit_per_table, self.find(table)) {
            (Some(limit), Some(i)) => self.slots[i].emitted >= limit,
            _ => false,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> EmitterStats {
        self.stats
    }

    /// This sync's unreadable values (the kit's malformed-value policy): table specs count into it,
    /// [`Emitter::report_issues`] turns it into warnings.
    pub fn issues(&mut self) -> &mut Issues {
        &mut self.issues
    }

    /// Sends one warning (and logs it) for each column with unreadable values not reported yet in
    /// this sync. The server calls it when a sync ends; connectors may call it sooner (after a list, an
    /// entity).
    pub async fn report_issues(&mut self) -> Result<(), Error> {
        for warning in self.issues.take_warnings() {
            tracing::warn!("{warning}");
            self.warning(&warning).await?;
        }
        Ok(())
    }

    /// Upserts `row` (all columns; absent ones become NULL at the destination).
    pub async fn upsert(&mut self, table: &str, row: &Row) -> Result<(), Error> {
        let i = self.slot(table)?;
        self.record(i, proto::RecordType::Upsert, row).await
    }

    /// Updates only the columns present in `row` (which must include the key).
    pub async fn update(&mut self, table: &str, row: &Row) -> Result<(), Error> {
        let i = self.slot(table)?;
        self.record(i, proto::RecordType::Update, row).await
    }

    /// Soft-deletes the row whose key columns are in `keys`.
    pub async fn delete(&mut self, table: &str, keys: &Row) -> Result<(), Error> {
        let i = self.slot(table)?;
        self.record(i, proto::RecordType::Delete, keys).await
    }

    /// Truncates `table`: rows synced before now are soft-deleted (send before the table's upserts).
    pub async fn truncate(&mut self, table: &str) -> Result<(), Error> {
        let i = self.slot(table)?;
        self.record(i, proto::RecordType::Truncate, &Row::new())
            .await
    }

    async fn record(&mut self, i: usize, op: proto::RecordType, row: &Row) -> Result<(), Error> {
        let slot = &mut self.slots[i];
        if !slot.selection.included {
            self.stats.dropped_unselected += 1;
            return Ok(());
        }
        let before = self.batch.len();
        let columns = row.columns();
        let (sel, keys) = (&slot.selection, &slot.keys);
        let all = slot.all_columns;
        let keep = |n: &str| all || keys.iter().any(|k| k == n) || sel.column_selected(n);
        match self.options.cells {
            wire::CellEncoding::Typed if all => wire::encode_record(
                &mut self.batch,
                &mut self.lens,
                &slot.prefix,
                op,
                columns,
                |_| true,
            ),
            wire::CellEncoding::Typed => wire::encode_record(
                &mut self.batch,
                &mut self.lens,
                &slot.prefix,
                op,
                columns,
                keep,
            ),
            wire::CellEncoding::Compact => wire::encode_record_compact(
                &mut self.batch,
                &mut self.cells,
                &mut self.lens,
                &slot.prefix,
                op,
                columns,
                keep,
            ),
        }
        slot.emitted += 1;
        self.batch_count += 1;
        self.stats.records += 1;
        // Keep batches near the byte limit: a record that overflows a non-empty batch starts the next one.
        if self.batch.len() > MAX_BATCH_BYTES && self.batch_count > 1 {
            let overflow = self.batch.split_off(before);
            self.batch_count -= 1;
            self.flush().await?;
            self.batch = overflow;
            self.batch_count = 1;
        }
        if self.batch_count >= MAX_BATCH_RECORDS || self.batch.len() >= MAX_BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends the pending batch, if any.
    pub async fn flush(&mut self) -> Result<(), Error> {
        if self.batch_count == 0 {
            return Ok(());
        }
        // Hand the bytes over without copying; once tonic has encoded and dropped earlier batches,
        // `reserve` reclaims their allocation instead of touching fresh pages.
        let batch = RecordBatch::new(self.batch.split().freeze(), self.batch_count);
        self.batch.reserve(MAX_BATCH_BYTES + 4096);
        self.batch_count = 0;
        self.stats.batches += 1;
        self.send(UpdateResponse::Records(batch)).await
    }

    /// Checkpoints `state`: everything emitted so far goes on the wire first, then the state. Fivetran
    /// commits the data and stores the state together, so a later failure resumes from here.
    pub async fn checkpoint<S: ConnectorState>(&mut self, state: &S) -> Result<(), Error> {
        let state_json = serialize_state(state)?;
        self.flush().await?;
        self.stats.checkpoints += 1;
        self.send(UpdateResponse::Checkpoint(proto::Checkpoint { state_json }))
            .await?;
        if self.options.stop.as_ref().is_some_and(|s| s.is_cancelled()) {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    /// Sends a warning shown on the Fivetran dashboard; the sync continues.
    pub async fn warning(&mut self, message: &str) -> Result<(), Error> {
        self.flush().await?;
        let message = serde_json::json!({ "message": message }).to_string();
        self.send(UpdateResponse::Warning(proto::Warning { message }))
            .await
    }

    async fn send(&mut self, msg: UpdateResponse) -> Result<(), Error> {
        self.out.send(Ok(msg)).await.map_err(|_| Error::Cancelled)
    }
}

/// A `Task` message in the JSON form Fivetran's 2.13.1 SDK sends: `{"message", "trace"}`.
pub fn task_message(message: &str, trace: &str) -> UpdateResponse {
    let message = serde_json::json!({ "message": message, "trace": trace }).to_string();
    UpdateResponse::Task(proto::Task { message })
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field(
                "tables",
                &self.slots.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("stats", &self.stats)
            .finish()
    }
}

/// Convenience for tests and connectors: a row with one key column.
pub fn key_row(column: &'static str, value: impl Into<Value>) -> Row {
    Row::new().with(column, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::{ColumnType, TableDef};
    use prost::Message;

    fn schema() -> Schema {
        Schema::new(vec![
            TableDef::new("t")
                .key("id", ColumnType::Long)
                .column("v", ColumnType::String),
            TableDef::new("off").key("id", ColumnType::Long),
        ])
    }

    fn state(json: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(json).unwrap()
    }

    fn decode(msg: UpdateResponse) -> proto::update_response::Operation {
        proto::UpdateResponse::decode(msg.encode_to_vec().as_slice())
            .unwrap()
            .operation
            .unwrap()
    }

    async fn drain(
        mut rx: mpsc::Receiver<Result<UpdateResponse, tonic::Status>>,
    ) -> Vec<proto::update_response::Operation> {
        let mut out = Vec::new();
        while let Some(m) = rx.recv().await {
            out.push(decode(m.unwrap()));
        }
        out
    }

    #[tokio::test]
    async fn batches_hold_at_most_100_records_and_checkpoints_follow_their_records() {
        let (tx, rx) = mpsc::channel(1024);
        let mut e = Emitter::new(tx, &schema(), &Selection::all(), EmitterOptions::default());
        for i in 0..250i64 {
            e.upsert("t", &Row::new().with("id", i).with("v", "x"))
                .await
                .unwrap();
        }
        e.checkpoint(&state(r#"{"c": 250}"#)).await.unwrap();
        e.delete("t", &key_row("id", 1i64)).await.unwrap();
        e.checkpoint(&state(r#"{"c": 251}"#)).await.unwrap();
        drop(e);
        let ops = drain(rx).await;
        use proto::update_response::Operation as O;
        let shape: Vec<String> = ops
            .iter()
            .map(|o| match o {
                O::StructuredRecords(r) => format!("r{}", r.structured_records.len()),
                O::Checkpoint(c) => format!("c{}", c.state_json),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                "r100",
                "r100",
                "r50",
                "c{\"version\":1,\"c\":250}",
                "r1",
                "c{\"version\":1,\"c\":251}"
            ]
        );
    }

    #[tokio::test]
    async fn big_records_keep_batches_near_the_byte_limit() {
        let (tx, rx) = mpsc::channel(1024);
        let mut e = Emitter::new(tx, &schema(), &Selection::all(), EmitterOptions::default());
        let big = "x".repeat(30_000);
        for i in 0..7i64 {
            e.upsert("t", &Row::new().with("id", i).with("v", big.as_str()))
                .await
                .unwrap();
        }
        e.flush().await.unwrap();
        drop(e);
        let sizes: Vec<usize> = drain(rx)
            .await
            .into_iter()
            .map(|o| match o {
                proto::update_response::Operation::StructuredRecords(r) => {
                    assert!(
                        r.encoded_len() <= MAX_BATCH_BYTES + 100,
                        "batch too big: {}",
                        r.encoded_len()
                    );
                    r.structured_records.len()
                }
                _ => panic!("unexpected"),
            })
            .collect();
        assert_eq!(sizes, vec![3, 3, 1]);
    }

    #[tokio::test]
    async fn unselected_tables_and_columns_are_not_sent_but_keys_are() {
        let selection = Selection::from_proto(Some(proto::Selection {
            selection: Some(proto::selection::Selection::WithoutSchema(
                proto::TablesWithNoSchema {
                    tables: vec![proto::TableSelection {
                        included: true,
                        table_name: "t".into(),
                        columns: [("v".to_string(), false), ("id".to_string(), false)].into(),
                        include_new_columns: true,
                    }],
                    include_new_tables: false,
                },
            )),
        }));
        let (tx, rx) = mpsc::channel(16);
        let mut e = Emitter::new(tx, &schema(), &selection, EmitterOptions::default());
        assert!(e.is_selected("t") && !e.is_selected("off"));
        assert!(!e.is_column_selected("t", "v") && e.is_column_selected("t", "id"));
        e.upsert(
            "t",
            &Row::new()
                .with("id", 1i64)
                .with("v", "secret")
                .with("w", 2i64),
        )
        .await
        .unwrap();
        e.upsert("off", &key_row("id", 1i64)).await.unwrap();
        e.flush().await.unwrap();
        assert_eq!(e.stats().dropped_unselected, 1);
        drop(e);
        let ops = drain(rx).await;
        let proto::update_response::Operation::StructuredRecords(r) = &ops[0] else {
            panic!()
        };
        assert_eq!(r.structured_records.len(), 1);
        let mut cols: Vec<_> = r.structured_records[0].data.keys().cloned().collect();
        cols.sort();
        assert_eq!(cols, vec!["id", "w"]);
    }

    #[tokio::test]
    async fn undeclared_table_is_an_error() {
        let (tx, _rx) = mpsc::channel(16);
        let mut e = Emitter::new(tx, &schema(), &Selection::all(), EmitterOptions::default());
        assert!(
            matches!(e.upsert("nope", &Row::new()).await, Err(Error::UndeclaredTable(t)) if t == "nope")
        );
    }

    #[tokio::test]
    async fn a_gone_client_cancels_the_connector() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut e = Emitter::new(tx, &schema(), &Selection::all(), EmitterOptions::default());
        assert!(matches!(
            e.checkpoint(&state("{}")).await,
            Err(Error::Cancelled)
        ));
    }

    #[tokio::test]
    async fn the_queue_bounds_how_far_a_connector_runs_ahead() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut e = Emitter::new(tx, &schema(), &Selection::all(), EmitterOptions::default());
        let producer = tokio::spawn(async move {
            for i in 0..1000i64 {
                e.upsert("t", &key_row("id", i)).await.unwrap();
            }
            e
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Two full batches are queued and the producer is blocked on the third.
        assert!(!producer.is_finished());
        let mut n = 0;
        while let Ok(Some(_)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await
        {
            n += 1;
        }
        let e = producer.await.unwrap();
        assert_eq!(n, 10);
        assert_eq!(e.stats().records, 1000);
    }

    #[tokio::test]
    async fn record_limit_marks_a_table_full() {
        let (tx, _rx) = mpsc::channel(64);
        let opts = EmitterOptions {
            record_limit_per_table: Some(3),
            ..Default::default()
        };
        let mut e = Emitter::new(tx, &schema(), &Selection::all(), opts);
        for i in 0..3i64 {
            assert!(!e.table_full("t"));
            e.upsert("t", &key_row("id", i)).await.unwrap();
        }
        assert!(e.table_full("t"));
        assert!(!e.table_full("off"));
    }
}

//! One Virtuous sync: per entity, a *pass* over its records by id ascending through the toolkit's
//! [`IdPager`] (adaptive take 1000 → … → 1, `parallelism` pages in flight), emitting rows and then
//! checkpointing the pager's cursor after every page.
//!
//! Passes:
//! - **full**: every record (since the configured start date). It starts by truncating the entity's
//!   tables, so rows the pass does not send again end soft-deleted: this is how deleted gifts and
//!   removed children disappear. Projects and campaigns (small reference tables) take a full pass every
//!   sync; contacts and gifts on their first sync, and gifts again whenever deletions are detected.
//! - **modified**: records whose `Last Modified Date` is on or after the last pass's watermark minus
//!   [`MODIFIED_OVERLAP`], still paged by id so the cursor is exact. The watermark is the source's own
//!   newest `modifiedDateTimeUtc`, read when a pass starts (never the wall clock): anything modified while
//!   a pass runs is newer than it, so the next pass fetches it.
//!
//! Errored ranges (records that fail even at take 1) go to `sync_errors` and to state. A modified pass
//! first retries them on their own ([`IdPager::retry_only`]), since its date filter would not cover
//! them; a full pass rescans everything and finds them afresh. A range that succeeds has its
//! `sync_errors` row deleted; one that still fails is written again.
//!
//! Gift deletions: at the start of each pass the gift *census* is taken (newest gift id and how many
//! gifts exist up to it). Ids only grow, so fewer gifts up to that id on a later sync means some were
//! deleted: that sync re-imports gifts with a full pass. Limits: a gift created and deleted between two
//! census readings, or a deletion hidden by a gift that moved into the start-date window at the same
//! time, is only caught by a later re-import. Contacts are archived, not deleted (`is_archived`).
//!
//! Children (contact individuals and methods, gift designations) are upserted with their parent; one
//! removed from a parent that still exists cannot be named (only current children are sent, and their
//! old ids are not kept anywhere), so it stays until the next full pass of that entity soft-deletes it.

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::HttpError;
use crate::sdk::json::Record;
use crate::sdk::table::read;
use crate::sdk::{Emitter, Error};
use crate::sync::{ErroredRange, IdPager, IdPagerConfig, Page, PageRequest, PagerItem};

use super::api::{Filter, Sort, VirtuousApi};
use super::config::Config;
use super::models::{self, Entity, Shape, SYNC_ERRORS};

/// Reference tables are read whole before they are replaced; past this many records that is refused.
pub const REFERENCE_CAP: usize = 100_000;

/// How far before the last watermark a modified pass starts, for changes committed late with an older
/// timestamp.
pub const MODIFIED_OVERLAP: TimeDelta = TimeDelta::hours(1);

/// The connector's state: one [`EntityState`] per entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtuousState {
    /// Campaigns.
    #[serde(default)]
    pub campaigns: EntityState,
    /// Projects.
    #[serde(default)]
    pub projects: EntityState,
    /// Contacts and their individuals and methods.
    #[serde(default)]
    pub contacts: EntityState,
    /// Gifts and their designations.
    #[serde(default)]
    pub gifts: EntityState,
}

impl crate::sdk::ConnectorState for VirtuousState {
    const VERSION: u32 = 1;
}

impl VirtuousState {
    /// The state of `entity`.
    pub fn entity(&self, entity: Entity) -> &EntityState {
        match entity {
            Entity::Campaign => &self.campaigns,
            Entity::Project => &self.projects,
            Entity::Contact => &self.contacts,
            Entity::Gift => &self.gifts,
        }
    }

    /// The state of `entity`, mutably.
    pub fn entity_mut(&mut self, entity: Entity) -> &mut EntityState {
        match entity {
            Entity::Campaign => &mut self.campaigns,
            Entity::Project => &mut self.projects,
            Entity::Contact => &mut self.contacts,
            Entity::Gift => &mut self.gifts,
        }
    }
}

/// Where one entity stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityState {
    /// The pass a sync stopped inside of, resumed by the next sync.
    #[serde(default)]
    pub pass: Option<Pass>,
    /// The watermark of the last completed pass; `None` until one completes (the next pass is full).
    #[serde(default)]
    pub modified_since: Option<DateTime<Utc>>,
    /// The gift census of the last completed pass.
    #[serde(default)]
    pub census: Option<Census>,
    /// Ranges that failed even one record at a time, retried by the next modified pass.
    #[serde(default)]
    pub errored: Vec<ErroredRange<u64>>,
}

/// A pass in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pass {
    /// Full or modified.
    pub kind: PassKind,
    /// Every record up to this id was emitted or reported (`None`: none yet).
    #[serde(default)]
    pub cursor: Option<u64>,
    /// The pass's `Last Modified Date` lower bound, if any.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// The source's newest `modifiedDateTimeUtc` when the pass started: the next pass's bound.
    #[serde(default)]
    pub watermark: Option<DateTime<Utc>>,
    /// The gift census taken when the pass started.
    #[serde(default)]
    pub census: Option<Census>,
}

/// The kind of a pass (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    /// Every record, after truncating the entity's tables.
    Full,
    /// Records modified since the last watermark.
    Modified,
}

/// How many gifts existed up to an id: fewer later means deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Census {
    /// The newest id when counted.
    pub max_id: u64,
    /// Records with an id at most `max_id`.
    pub count: u64,
}

/// Runs one sync from `state`, emitting rows and checkpoints into `out`.
pub async fn run(
    api: &VirtuousApi,
    config: &Config,
    mut state: VirtuousState,
    out: &mut Emitter,
) -> Result<(), Error> {
    for entity in Entity::ALL {
        let tables = models::tables_of(entity);
        if !tables.iter().any(|t| out.is_selected(t.name())) {
            tracing::info!(entity = entity.table(), "not selected; skipped");
            continue;
        }
        let mut run = EntityRun {
            api,
            config,
            entity,
            shape: shape_for(entity, out),
        };
        if entity.is_reference() {
            run.refresh_reference(&mut state, out).await?;
        } else {
            run.sync(&mut state, out).await?;
        }
        out.report_issues().await?;
    }
    out.checkpoint(&state).await
}

/// The Full endpoint only when a child table or a Full-only column is selected.
fn shape_for(entity: Entity, out: &Emitter) -> Shape {
    let tables = models::tables_of(entity);
    let [parent, children @ ..] = tables.as_slice() else {
        return Shape::Full;
    };
    let needs_full = !entity.has_short_shape()
        || children.iter().any(|c| out.is_selected(c.name()))
        || parent
            .group_columns(models::FULL_ONLY)
            .any(|c| out.is_column_selected(parent.name(), c));
    if needs_full {
        Shape::Full
    } else {
        Shape::Short
    }
}

/// One entity's part of a sync.
struct EntityRun<'a> {
    api: &'a VirtuousApi,
    config: &'a Config,
    entity: Entity,
    shape: Shape,
}

impl EntityRun<'_> {
    async fn sync(&mut self, state: &mut VirtuousState, out: &mut Emitter) -> Result<(), Error> {
        let resumed = state.entity(self.entity).pass.clone();
        let pass = match resumed {
            Some(pass) => pass,
            None => {
                let pass = self.plan(state.entity(self.entity)).await?;
                self.begin(pass.clone(), state, out).await?;
                pass
            }
        };
        tracing::info!(entity = self.entity.table(), shape = ?self.shape, ?pass, "pass");
        let retry_first = pass.kind == PassKind::Modified
            && pass.cursor.is_none()
            && !self.errored(state).is_empty();
        if retry_first {
            self.retry_errored(state, out).await?;
        }
        if !self.scan(&pass, state, out).await? {
            tracing::info!(
                entity = self.entity.table(),
                "record limit reached; the pass resumes next sync"
            );
            return Ok(());
        }
        let entity_state = state.entity_mut(self.entity);
        if let Some(done) = entity_state.pass.take() {
            entity_state.modified_since = done.watermark.or(entity_state.modified_since);
            entity_state.census = done.census.or(entity_state.census);
        }
        out.checkpoint(state).await
    }

    fn errored<'s>(&self, state: &'s VirtuousState) -> &'s [ErroredRange<u64>] {
        &state.entity(self.entity).errored
    }

    /// Chooses the next pass and reads its watermark and census from the source. The (up to) three
    /// queries are independent, so they go out together: the first page waits for one round trip,
    /// not three. All of them are answered before any page of the pass is asked for, which is what
    /// makes the watermark and census hold for the whole pass.
    async fn plan(&self, current: &EntityState) -> Result<Pass, Error> {
        let incremental = !self.entity.is_reference();
        let deleted = async {
            match (current.modified_since, current.census) {
                (Some(_), Some(census)) if incremental => self.deleted_since(census).await,
                _ => Ok(false),
            }
        };
        let watermark = async {
            if incremental {
                self.watermark().await
            } else {
                Ok(None)
            }
        };
        let census = async {
            if self.entity.is_deletable() {
                self.census().await
            } else {
                Ok(None)
            }
        };
        let (deleted, watermark, census) = tokio::try_join!(deleted, watermark, census)?;
        let kind = match current.modified_since {
            Some(_) if incremental && !deleted => PassKind::Modified,
            _ => PassKind::Full,
        };
        let start = self.config.start_date;
        let since = match (kind, current.modified_since) {
            (PassKind::Modified, Some(last)) => {
                let bound = last - MODIFIED_OVERLAP;
                Some(start.map_or(bound, |s| s.max(bound)))
            }
            _ => start,
        };
        Ok(Pass {
            kind,
            cursor: None,
            since,
            watermark,
            census,
        })
    }

    /// Records in the configured window (all, without a start date).
    fn window(&self) -> Filter {
        Filter {
            modified_since: self.config.start_date,
            ..Filter::default()
        }
    }

    /// The source's newest `modifiedDateTimeUtc` (archived records included).
    async fn watermark(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let (newest, _) = self
            .api
            .first(self.entity, &Filter::default(), Sort::ModifiedDescending)
            .await?;
        Ok(newest
            .as_ref()
            .and_then(|r| r.get("modifiedDateTimeUtc"))
            .and_then(Value::as_str)
            .and_then(read::parse_utc))
    }

    /// The newest id in the window and how many records have an id up to it.
    async fn census(&self) -> Result<Option<Census>, Error> {
        let (newest, count) = self
            .api
            .first(self.entity, &self.window(), Sort::IdDescending)
            .await?;
        Ok(newest
            .and_then(|r| self.entity.record_id(&r))
            .map(|max_id| Census { max_id, count }))
    }

    /// Whether fewer records exist up to the census's id than it counted: ids only grow, so some
    /// were deleted.
    async fn deleted_since(&self, census: Census) -> Result<bool, Error> {
        let up_to_census = Filter {
            max_id: Some(census.max_id),
            ..self.window()
        };
        let (_, count) = self
            .api
            .first(self.entity, &up_to_census, Sort::IdDescending)
            .await?;
        let deleted = count < census.count;
        if deleted {
            tracing::info!(
                entity = self.entity.table(),
                before = census.count,
                now = count,
                "records were deleted at the source; re-importing to soft-delete them"
            );
        }
        Ok(deleted)
    }

    /// Records the new pass; a full pass first truncates the entity's tables and forgets its errors.
    async fn begin(
        &self,
        pass: Pass,
        state: &mut VirtuousState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let entity_state = state.entity_mut(self.entity);
        if pass.kind == PassKind::Full {
            for table in models::tables_of(self.entity) {
                out.truncate(table.name()).await?;
            }
            for range in entity_state.errored.drain(..) {
                out.delete(SYNC_ERRORS, &models::error_key(self.entity, &range))
                    .await?;
            }
        }
        entity_state.pass = Some(pass);
        out.checkpoint(state).await
    }

    /// Retries the stored errored ranges; the ones still failing replace them.
    async fn retry_errored(
        &mut self,
        state: &mut VirtuousState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let ranges = self.errored(state).to_vec();
        for range in &ranges {
            out.delete(SYNC_ERRORS, &models::error_key(self.entity, range))
                .await?;
        }
        let mut pager = IdPager::retry_only(
            ranges,
            self.fetch(self.window()),
            id_of(self.entity),
            self.pager_config(),
            self.api.http().clock().clone(),
        );
        let mut still_failing = Vec::new();
        while let Some(item) = pager.next().await? {
            match item {
                PagerItem::Records { records, .. } => self.emit(&records, out).await?,
                PagerItem::Errored(range) => {
                    out.upsert(SYNC_ERRORS, &models::error_row(self.entity, &range))
                        .await?;
                    still_failing.push(range);
                }
            }
        }
        state.entity_mut(self.entity).errored = still_failing;
        out.checkpoint(state).await
    }

    /// Runs the pass from its cursor; `false` when it stopped early at the record limit.
    async fn scan(
        &mut self,
        pass: &Pass,
        state: &mut VirtuousState,
        out: &mut Emitter,
    ) -> Result<bool, Error> {
        let filter = Filter {
            modified_since: pass.since,
            ..Filter::default()
        };
        let mut pager = IdPager::new(
            pass.cursor,
            self.fetch(filter),
            id_of(self.entity),
            self.pager_config(),
            self.api.http().clock().clone(),
        );
        while let Some(item) = pager.next().await? {
            match item {
                PagerItem::Records {
                    records,
                    checkpoint,
                } => {
                    self.emit(&records, out).await?;
                    if let Some(pass) = state.entity_mut(self.entity).pass.as_mut() {
                        pass.cursor = checkpoint.or(pass.cursor);
                    }
                    out.checkpoint(state).await?;
                    if self.limit_reached(out) {
                        return Ok(false);
                    }
                }
                PagerItem::Errored(range) => {
                    // The cursor moves only with the records that follow the range.
                    out.upsert(SYNC_ERRORS, &models::error_row(self.entity, &range))
                        .await?;
                    state.entity_mut(self.entity).errored.push(range);
                    out.checkpoint(state).await?;
                }
            }
        }
        Ok(true)
    }

    async fn emit(&mut self, records: &[Record], out: &mut Emitter) -> Result<(), Error> {
        for record in records {
            for (table, row) in models::rows(self.entity, record.view(), self.shape, out.issues()) {
                out.upsert(table, &row).await?;
            }
        }
        Ok(())
    }

    /// Whether a `--limit` run filled one of the entity's selected tables.
    fn limit_reached(&self, out: &Emitter) -> bool {
        models::tables_of(self.entity)
            .iter()
            .any(|t| out.is_selected(t.name()) && out.table_full(t.name()))
    }

    /// A reference table (projects, campaigns) in full: every record is read first, and only a read
    /// that met no fault truncates the table, so a failing page never soft-deletes rows it could not
    /// replace. Ranges that failed even one record at a time go to `sync_errors` as in any pass.
    async fn refresh_reference(
        &mut self,
        state: &mut VirtuousState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let mut pager = IdPager::new(
            None,
            self.fetch(self.window()),
            id_of(self.entity),
            self.pager_config(),
            self.api.http().clock().clone(),
        );
        let (mut records, mut errored) = (Vec::new(), Vec::new());
        while let Some(item) = pager.next().await? {
            match item {
                PagerItem::Records { records: page, .. } => {
                    records.extend(page);
                    if records.len() > REFERENCE_CAP {
                        return Err(Error::Connector(format!(
                            "virtuous {} has more than {REFERENCE_CAP} records, more than a reference table is read in one go",
                            self.entity.table()
                        )));
                    }
                }
                PagerItem::Errored(range) => errored.push(range),
            }
        }
        let entity_state = state.entity_mut(self.entity);
        for range in entity_state.errored.drain(..) {
            out.delete(SYNC_ERRORS, &models::error_key(self.entity, &range))
                .await?;
        }
        if errored.is_empty() {
            for table in models::tables_of(self.entity) {
                out.truncate(table.name()).await?;
            }
        } else {
            let message = format!(
                "virtuous {}: {} ranges of records could not be read (see sync_errors); rows missing from this sync are kept, not deleted",
                self.entity.table(),
                errored.len()
            );
            tracing::warn!("{message}");
            out.warning(&message).await?;
        }
        self.emit(&records, out).await?;
        for range in &errored {
            out.upsert(SYNC_ERRORS, &models::error_row(self.entity, range))
                .await?;
        }
        let entity_state = state.entity_mut(self.entity);
        entity_state.errored = errored;
        entity_state.pass = None;
        out.checkpoint(state).await
    }

    /// `parallelism` pages in flight; one for the small reference tables, whose extra pages would come
    /// back empty and still cost budget.
    fn pager_config(&self) -> IdPagerConfig {
        let in_flight = if self.entity.is_reference() {
            1
        } else {
            self.config.parallelism
        };
        IdPagerConfig {
            in_flight,
            ..IdPagerConfig::default()
        }
    }

    /// The pager's fetch function: `filter` plus the page's id cursor.
    fn fetch(
        &self,
        filter: Filter,
    ) -> impl Fn(PageRequest<u64>) -> BoxFuture<'static, Result<Page<Record>, HttpError>>
           + Send
           + Sync
           + 'static {
        let (api, entity, shape) = (self.api.clone(), self.entity, self.shape);
        move |request: PageRequest<u64>| {
            let api = api.clone();
            let filter = Filter {
                after_id: request.cursor,
                ..filter.clone()
            };
            Box::pin(async move {
                api.page(entity, shape, &filter, request.skip, request.take)
                    .await
            })
        }
    }
}

fn id_of(entity: Entity) -> impl Fn(&Record) -> Option<u64> {
    move |record| entity.record_id(record.view())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};

    /// Version 1 as written by this connector: must keep parsing, byte for byte.
    const GOLDEN_V1: &str = r#"{"version":1,"campaigns":{"pass":null,"modified_since":null,"census":null,"errored":[]},"projects":{"pass":{"kind":"full","cursor":130,"since":null,"watermark":null,"census":null},"modified_since":null,"census":null,"errored":[]},"contacts":{"pass":null,"modified_since":"2024-12-31T23:59:59.500Z","census":null,"errored":[]},"gifts":{"pass":{"kind":"modified","cursor":500300,"since":"2024-12-31T22:00:00Z","watermark":"2025-01-02T00:00:00Z","census":{"max_id":500400,"count":120}},"modified_since":"2024-12-31T23:00:00Z","census":{"max_id":500360,"count":119},"errored":[{"after":500120,"before":500126,"positions":1,"request":"records with id > 500120, skip 0, take 1","error":"status 500","at":"2025-01-01T12:00:00Z"}]}}"#;

    #[test]
    fn golden_state_v1_keeps_parsing() {
        let state: VirtuousState = parse_state(Some(GOLDEN_V1)).unwrap();
        let gifts = &state.gifts;
        let pass = gifts.pass.as_ref().unwrap();
        assert_eq!(
            (pass.kind, pass.cursor),
            (PassKind::Modified, Some(500_300))
        );
        assert_eq!(
            pass.census,
            Some(Census {
                max_id: 500_400,
                count: 120
            })
        );
        assert_eq!(gifts.errored[0].before, Some(500_126));
        assert_eq!(
            state.contacts.modified_since.unwrap().to_rfc3339(),
            "2024-12-31T23:59:59.500+00:00"
        );
        assert_eq!(serialize_state(&state).unwrap(), GOLDEN_V1);
    }

    #[test]
    fn empty_and_partial_states_are_fresh_defaults() {
        assert_eq!(
            parse_state::<VirtuousState>(Some("{}")).unwrap(),
            VirtuousState::default()
        );
        let partial: VirtuousState = parse_state(Some(r#"{"version":1,"gifts":{}}"#)).unwrap();
        assert_eq!(partial.gifts, EntityState::default());
        let typo = parse_state::<VirtuousState>(Some(r#"{"version":1,"gift":{}}"#)).unwrap_err();
        assert!(typo.to_string().contains("gift"), "{typo}");
    }
}

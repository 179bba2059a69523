//! The ID cursor pager (the Virtuous pattern): records ordered by id ascending, fetched as
//! `id > cursor` with `skip`/`take`, several consecutive pages in flight, yielded strictly in id order.
//!
//! Guarantees, for any pattern of failures:
//! - every record is yielded exactly once, in id order, or lies inside a reported [`ErroredRange`];
//! - the checkpoint carried by each batch never passes a record that was neither yielded nor reported;
//! - no page whose records were already yielded is requested again.
//!
//! How:
//! - A batch launches up to `in_flight` pages under one cursor. Page 0 has `skip = 0`; page `i > 0` has
//!   `skip = i*(take - 1)`, so its first record must be the previous page's last one. If it is not, a
//!   record was deleted (or inserted) under the cursor while the batch ran, which shifts later pages: the
//!   rest of the batch is dropped and refetched from the low-water mark instead of losing a record.
//! - A page that fails (transient after retries, too large, undecodable) is refetched from the low-water
//!   mark with the next smaller take (default 1000 → 500 → 250 → 50 → 10 → 1); the take climbs back one
//!   rung after `recover_after` successful pages. The reduced take belongs to this pager only.
//! - A record that fails even at take 1 is skipped by probing `skip = 1, 2, …` under the same cursor;
//!   the unknown record is reported as the open range between the last good id before it and the first
//!   good id after it. Those ranges can be passed back on the next sync to be retried first.
//! - A page is the last one when it holds fewer records than the take *requested* for it.
//!
//! Page-number pagination must never be shrunk this way: a smaller page size changes which records every
//! later page number covers, so records would be skipped or repeated. The id cursor makes shrinking safe
//! because each batch restarts at a known id.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::task::AbortOnDropHandle;

use super::page::Page;
use crate::http::{HttpError, SharedClock, Turn, TurnQueue};

/// What the pager asks the fetch function for: records with `id > cursor` (all when `None`), skipping
/// `skip` of them and returning at most `take`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<I> {
    /// Exclusive lower bound on ids.
    pub cursor: Option<I>,
    /// Records to skip after the cursor.
    pub skip: u64,
    /// Page size.
    pub take: u32,
}

impl<I: fmt::Debug> fmt::Display for PageRequest<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cursor {
            Some(c) => write!(f, "records with id > {c:?}")?,
            None => write!(f, "records from the first id")?,
        }
        write!(f, ", skip {}, take {}", self.skip, self.take)
    }
}

/// Tuning of an [`IdPager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPagerConfig {
    /// Pages in flight per batch (default 8).
    pub in_flight: usize,
    /// Take sizes from largest to smallest (default 1000, 500, 250, 50, 10, 1). Normalised to strictly
    /// descending and ending with 1, because only take 1 can isolate a single failing record.
    pub takes: Vec<u32>,
    /// Successful pages at a reduced take before climbing one rung back up (default 20).
    pub recover_after: u32,
    /// Requests this pager may send in total before failing, a guard against a runaway loop.
    pub max_requests: u64,
    /// Consecutive failing positions at take 1 before giving up (default 100).
    pub max_consecutive_errored: u32,
    /// Pages past the next one to be handed out whose bodies may be decoded early (default 1). The
    /// other pages in flight wait as bytes ([`crate::http::Turn`]), which bounds the parsed documents
    /// held at once to `decode_ahead + 2` (with the one the caller is emitting) however many pages
    /// are in flight.
    pub decode_ahead: usize,
}

impl Default for IdPagerConfig {
    fn default() -> Self {
        Self {
            in_flight: 8,
            takes: vec![1000, 500, 250, 50, 10, 1],
            recover_after: 20,
            max_requests: 10_000_000,
            max_consecutive_errored: 100,
            decode_ahead: 1,
        }
    }
}

impl IdPagerConfig {
    fn normalised(mut self) -> Self {
        self.takes.retain(|t| *t > 0);
        self.takes.sort_unstable_by(|a, b| b.cmp(a));
        self.takes.dedup();
        if self.takes.last() != Some(&1) {
            self.takes.push(1);
        }
        self.in_flight = self.in_flight.max(1);
        self.recover_after = self.recover_after.max(1);
        self
    }
}

/// Records the pager could not fetch even one at a time: they lie strictly between `after` and `before`
/// (their own ids are unknown). Store it in the connector's errors table and pass it back to
/// [`IdPager::retry_first`] on the next sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErroredRange<I> {
    /// The last good id before the failing records (`None`: from the start).
    pub after: Option<I>,
    /// The first good id after them (`None`: they are the last records).
    pub before: Option<I>,
    /// How many positions failed in a row.
    pub positions: u32,
    /// The request that failed at take 1.
    pub request: String,
    /// The error it failed with.
    pub error: String,
    /// When it was given up on.
    pub at: DateTime<Utc>,
}

/// What the pager hands the caller, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum PagerItem<I, R = Value> {
    /// Records to emit. After emitting them the caller may checkpoint `checkpoint` (`None`: nothing to save
    /// yet). Records recovered from retried ranges carry the unchanged main cursor.
    Records {
        /// Records in ascending id order.
        records: Vec<R>,
        /// The cursor that is safe to save once these records are emitted.
        checkpoint: Option<I>,
    },
    /// Records that failed at take 1; write them to the errors table.
    Errored(ErroredRange<I>),
}

/// Why the pager stopped.
#[derive(Debug, thiserror::Error)]
pub enum PagerError {
    /// A permanent error (credentials, bad request): shrinking cannot help.
    #[error("fetching {request} failed: {source}")]
    Fetch {
        /// The page request.
        request: String,
        /// The HTTP error.
        #[source]
        source: Box<HttpError>,
    },
    /// The id extractor found no id in a record.
    #[error("record {index} of {request} has no id")]
    MissingId {
        /// The page request.
        request: String,
        /// Index of the record in the page.
        index: usize,
    },
    /// The API broke the ordering contract; continuing could loop or lose records.
    #[error("{request} returned ids out of order: {detail}")]
    OutOfOrder {
        /// The page request.
        request: String,
        /// Which ids.
        detail: String,
    },
    /// Too many failing positions in a row after the cursor.
    #[error(
        "{count} records in a row after id {after} failed even one at a time; the api may be down"
    )]
    TooManyErrored {
        /// The cursor they follow, e.g. "id 42" or "the first record".
        after: String,
        /// How many failed.
        count: u32,
    },
    /// The request guard tripped.
    #[error("the pager sent its maximum of {max} requests without finishing")]
    MaxRequests {
        /// The configured maximum.
        max: u64,
    },
    /// A fetch task panicked or was cancelled.
    #[error("a page fetch task ended abnormally: {0}")]
    Task(String),
    /// The API handed out a position it had given before, or too many pages.
    #[error(transparent)]
    Stalled(#[from] super::guards::StallError),
}

impl From<PagerError> for crate::sdk::Error {
    fn from(e: PagerError) -> Self {
        match &e {
            PagerError::Fetch { source, .. } => source.to_sdk(e.to_string()),
            _ => crate::sdk::Error::Unavailable(e.to_string()),
        }
    }
}

/// The pieces every scan shares.
struct Shared<F, X> {
    fetch: Arc<F>,
    id_of: X,
    config: IdPagerConfig,
    clock: SharedClock,
}

/// One page request in flight.
struct InFlight<I, R> {
    request: PageRequest<I>,
    handle: AbortOnDropHandle<Result<Page<R>, HttpError>>,
}

/// One ascending scan from a cursor, optionally stopping before an id (for retried ranges).
struct Scan<I, R> {
    low_water: Option<I>,
    stop_before: Option<I>,
    rung: usize,
    successes: u32,
    batch: VecDeque<InFlight<I, R>>,
    pending: VecDeque<PagerItem<I, R>>,
    done: bool,
    /// The batch's pages decode in the order they are taken.
    turns: TurnQueue,
}

/// The ID cursor pager. See the module documentation for its guarantees.
///
/// Type parameters: `I` the id type, `F` the fetch function, `X` the id extractor, `R` the record type
/// (`serde_json::Value`, or a page's [`crate::sdk::json::Record`]).
pub struct IdPager<I, F, X, R = Value> {
    shared: Shared<F, X>,
    retries: VecDeque<Scan<I, R>>,
    main: Scan<I, R>,
    requests: u64,
}

impl<I, F, X, R> fmt::Debug for IdPager<I, F, X, R>
where
    I: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdPager")
            .field("checkpoint", &self.main.low_water)
            .field("take", &self.shared.config.takes[self.main.rung])
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl<I, F, Fut, X, R> IdPager<I, F, X, R>
where
    R: Send + 'static,
    I: Ord + Clone + fmt::Debug + Send + Sync + 'static,
    F: Fn(PageRequest<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Page<R>, HttpError>> + Send + 'static,
    X: Fn(&R) -> Option<I>,
{
    /// A pager starting after `cursor` (`None`: from the first record). `fetch` must return records with
    /// `id > cursor` in ascending id order; `id_of` extracts a record's id.
    pub fn new(
        cursor: Option<I>,
        fetch: F,
        id_of: X,
        config: IdPagerConfig,
        clock: SharedClock,
    ) -> Self {
        let config = config.normalised();
        let ahead = config.decode_ahead;
        Self {
            shared: Shared {
                fetch: Arc::new(fetch),
                id_of,
                config,
                clock,
            },
            retries: VecDeque::new(),
            main: Scan::new(cursor, None, 0, ahead),
            requests: 0,
        }
    }

    /// Retries previously errored ranges before the main scan. Ranges still failing are reported again as
    /// [`PagerItem::Errored`], so the caller may replace its stored list with this sync's reports. A range
    /// with no upper bound is dropped: the main scan, which starts at or below it, covers it anyway.
    pub fn retry_first(mut self, ranges: impl IntoIterator<Item = ErroredRange<I>>) -> Self {
        let smallest = self.shared.config.takes.len() - 1;
        let ahead = self.shared.config.decode_ahead;
        for range in ranges {
            if range.before.is_some() {
                self.retries
                    .push_back(Scan::new(range.after, range.before, smallest, ahead));
            }
        }
        self
    }

    /// A pager that only retries `ranges` and has no main scan, for a sync whose main query is
    /// different (e.g. "modified since") and so cannot cover them. An open range (`before: None`) is
    /// scanned to the last record. Records carry `checkpoint: None`: there is no main cursor to save.
    pub fn retry_only(
        ranges: impl IntoIterator<Item = ErroredRange<I>>,
        fetch: F,
        id_of: X,
        config: IdPagerConfig,
        clock: SharedClock,
    ) -> Self {
        let mut pager = Self::new(None, fetch, id_of, config, clock);
        let smallest = pager.shared.config.takes.len() - 1;
        let ahead = pager.shared.config.decode_ahead;
        pager.retries = ranges
            .into_iter()
            .map(|range| Scan::new(range.after, range.before, smallest, ahead))
            .collect();
        pager.main.done = true;
        pager
    }

    /// The cursor safe to checkpoint now: every record at or below it was yielded or reported.
    pub fn checkpoint(&self) -> Option<&I> {
        self.main.low_water.as_ref()
    }

    /// The take the main scan uses next.
    pub fn current_take(&self) -> u32 {
        self.shared.config.takes[self.main.rung]
    }

    /// The next item, `Ok(None)` when every record was yielded or reported.
    pub async fn next(&mut self) -> Result<Option<PagerItem<I, R>>, PagerError> {
        while let Some(scan) = self.retries.front_mut() {
            match scan.next(&self.shared, &mut self.requests).await? {
                Some(PagerItem::Records { records, .. }) => {
                    return Ok(Some(PagerItem::Records {
                        records,
                        checkpoint: self.main.low_water.clone(),
                    }))
                }
                Some(item) => return Ok(Some(item)),
                None => {
                    self.retries.pop_front();
                }
            }
        }
        self.main.next(&self.shared, &mut self.requests).await
    }
}

impl<I, R> Scan<I, R>
where
    R: Send + 'static,
    I: Ord + Clone + fmt::Debug + Send + Sync + 'static,
{
    fn new(low_water: Option<I>, stop_before: Option<I>, rung: usize, ahead: usize) -> Self {
        Self {
            low_water,
            stop_before,
            rung,
            successes: 0,
            batch: VecDeque::new(),
            pending: VecDeque::new(),
            done: false,
            turns: TurnQueue::new(ahead),
        }
    }

    async fn next<F, Fut, X>(
        &mut self,
        shared: &Shared<F, X>,
        requests: &mut u64,
    ) -> Result<Option<PagerItem<I, R>>, PagerError>
    where
        F: Fn(PageRequest<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Page<R>, HttpError>> + Send + 'static,
        X: Fn(&R) -> Option<I>,
    {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            if self.done {
                return Ok(None);
            }
            if self.batch.is_empty() {
                self.launch_batch(shared, requests)?;
            }
            let Some(slot) = self.batch.pop_front() else {
                continue;
            };
            self.turns.take();
            let result = slot
                .handle
                .await
                .map_err(|e| PagerError::Task(e.to_string()))?;
            match result {
                Ok(page) => self.accept(shared, requests, &slot.request, page)?,
                Err(e) if e.is_permanent() => {
                    return Err(PagerError::Fetch {
                        request: slot.request.to_string(),
                        source: Box::new(e),
                    })
                }
                Err(e) => self.on_failure(shared, requests, slot.request, e).await?,
            }
        }
    }

    fn launch_batch<F, Fut, X>(
        &mut self,
        shared: &Shared<F, X>,
        requests: &mut u64,
    ) -> Result<(), PagerError>
    where
        F: Fn(PageRequest<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Page<R>, HttpError>> + Send + 'static,
    {
        let take = shared.config.takes[self.rung];
        // With take 1 an overlapping page would hold only the overlap record, so fetch one page at a time.
        let pages = if take <= 1 {
            1
        } else {
            shared.config.in_flight
        };
        for i in 0..pages as u64 {
            // Each page starts at the previous page's last record: pages step by `take - 1`.
            let skip = i * (u64::from(take) - 1);
            let request = PageRequest {
                cursor: self.low_water.clone(),
                skip,
                take,
            };
            let turn = self.turns.turn(i);
            let handle = spawn_fetch(shared, requests, request.clone(), Some(turn))?;
            self.batch.push_back(InFlight { request, handle });
        }
        Ok(())
    }

    fn accept<F, Fut, X>(
        &mut self,
        shared: &Shared<F, X>,
        requests: &mut u64,
        request: &PageRequest<I>,
        page: Page<R>,
    ) -> Result<(), PagerError>
    where
        F: Fn(PageRequest<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Page<R>, HttpError>> + Send + 'static,
        X: Fn(&R) -> Option<I>,
    {
        let ids = ids_of(shared, request, &page.records)?;
        let short = page.records.len() < request.take as usize;
        let mut records = page.records;
        let mut ids = ids.as_slice();
        if request.skip > 0 {
            // An overlap page: its first record must be the last one already yielded.
            if ids.first() != self.low_water.as_ref() {
                tracing::info!(
                    request = %request,
                    "records shifted under the cursor during the batch (deleted or inserted); refetching from the last yielded id"
                );
                self.batch.clear();
                return Ok(());
            }
            records.remove(0);
            ids = &ids[1..];
        } else if let (Some(first), Some(low)) = (ids.first(), &self.low_water) {
            if first <= low {
                return Err(PagerError::OutOfOrder {
                    request: request.to_string(),
                    detail: format!("{first:?} is not above the cursor"),
                });
            }
        }
        if short {
            self.finish();
        }
        if let Some(stop) = &self.stop_before {
            let keep = ids.partition_point(|id| id < stop);
            if keep < ids.len() {
                records.truncate(keep);
                ids = &ids[..keep];
                self.finish();
            }
        }
        if let Some(last) = ids.last() {
            self.low_water = Some(last.clone());
            self.pending.push_back(PagerItem::Records {
                records,
                checkpoint: self.low_water.clone(),
            });
        }
        self.successes += 1;
        if self.rung > 0 && self.successes >= shared.config.recover_after {
            self.rung -= 1;
            self.successes = 0;
        }
        if self.batch.is_empty() && !self.done {
            // Start the next batch now so it overlaps with the caller emitting this one.
            self.launch_batch(shared, requests)?;
        }
        Ok(())
    }

    async fn on_failure<F, Fut, X>(
        &mut self,
        shared: &Shared<F, X>,
        requests: &mut u64,
        request: PageRequest<I>,
        error: HttpError,
    ) -> Result<(), PagerError>
    where
        F: Fn(PageRequest<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Page<R>, HttpError>> + Send + 'static,
        X: Fn(&R) -> Option<I>,
    {
        // Later pages of the batch depend on this one's range: drop them, nothing of them was yielded.
        self.batch.clear();
        self.successes = 0;
        if self.rung + 1 < shared.config.takes.len() {
            self.rung += 1;
            tracing::info!(
                request = %request,
                error = %error,
                take = shared.config.takes[self.rung],
                "page failed; refetching the same range with a smaller take"
            );
            return Ok(());
        }
        // Take 1 at skip 0 failed: the record right after the cursor cannot be fetched. Probe past it.
        let max = shared.config.max_consecutive_errored.max(1);
        for positions in 1..=max {
            let probe = PageRequest {
                cursor: self.low_water.clone(),
                skip: u64::from(positions),
                take: 1,
            };
            let result = spawn_fetch(shared, requests, probe.clone(), None)?
                .await
                .map_err(|e| PagerError::Task(e.to_string()))?;
            let page = match result {
                Ok(page) => page,
                Err(e) if e.is_permanent() => {
                    return Err(PagerError::Fetch {
                        request: probe.to_string(),
                        source: Box::new(e),
                    })
                }
                Err(_) => continue,
            };
            let ids = ids_of(shared, &probe, &page.records)?;
            if let (Some(first), Some(low)) = (ids.first(), &self.low_water) {
                if first <= low {
                    return Err(PagerError::OutOfOrder {
                        request: probe.to_string(),
                        detail: format!("{first:?} is not above the cursor"),
                    });
                }
            }
            let next_good = ids.first().cloned();
            tracing::warn!(request = %request, error = %error, positions, "records failed even one at a time; reporting them as errored");
            self.pending.push_back(PagerItem::Errored(ErroredRange {
                after: self.low_water.clone(),
                before: next_good.clone(),
                positions,
                request: request.to_string(),
                error: error.to_string(),
                at: shared.clock.now_utc(),
            }));
            match next_good {
                Some(id) if self.stop_before.as_ref().is_none_or(|stop| &id < stop) => {
                    self.low_water = Some(id);
                    self.pending.push_back(PagerItem::Records {
                        records: page.records,
                        checkpoint: self.low_water.clone(),
                    });
                }
                _ => self.finish(),
            }
            return Ok(());
        }
        Err(PagerError::TooManyErrored {
            after: self
                .low_water
                .as_ref()
                .map_or_else(|| "the first record".to_owned(), |id| format!("id {id:?}")),
            count: max,
        })
    }

    fn finish(&mut self) {
        self.done = true;
        self.batch.clear();
    }
}

fn spawn_fetch<I, F, Fut, X, R: Send + 'static>(
    shared: &Shared<F, X>,
    requests: &mut u64,
    request: PageRequest<I>,
    turn: Option<Turn>,
) -> Result<AbortOnDropHandle<Result<Page<R>, HttpError>>, PagerError>
where
    I: Send + 'static,
    F: Fn(PageRequest<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Page<R>, HttpError>> + Send + 'static,
{
    if *requests >= shared.config.max_requests {
        return Err(PagerError::MaxRequests {
            max: shared.config.max_requests,
        });
    }
    *requests += 1;
    let fetch = Arc::clone(&shared.fetch);
    // Spawned so pages download while the caller is still emitting earlier ones; with a turn, a page
    // that arrives early waits as bytes.
    Ok(AbortOnDropHandle::new(tokio::spawn(async move {
        match turn {
            Some(turn) => turn.scope(fetch(request)).await,
            None => fetch(request).await,
        }
    })))
}

fn ids_of<I, F, X, R>(
    shared: &Shared<F, X>,
    request: &PageRequest<I>,
    records: &[R],
) -> Result<Vec<I>, PagerError>
where
    I: Ord + fmt::Debug,
    X: Fn(&R) -> Option<I>,
{
    let mut ids = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let id = (shared.id_of)(record).ok_or_else(|| PagerError::MissingId {
            request: request_text(request),
            index,
        })?;
        if let Some(prev) = ids.last() {
            if &id <= prev {
                return Err(PagerError::OutOfOrder {
                    request: request_text(request),
                    detail: format!("{id:?} follows {prev:?}"),
                });
            }
        }
        ids.push(id);
    }
    Ok(ids)
}

fn request_text<I: fmt::Debug>(request: &PageRequest<I>) -> String {
    request.to_string()
}

#[cfg(test)]
#[path = "id_pager_tests.rs"]
mod tests;

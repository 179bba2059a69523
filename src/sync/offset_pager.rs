//! The offset pager: `offset`/`limit`, `$skip`/`$top`, `_skip`/`_limit`, and page numbers (`page`,
//! `pagina`), one page at a time.
//!
//! Guarantees, for any pattern of failures:
//! - every record is yielded exactly once, in the API's order, or its position is reported in an
//!   [`ErroredRange`] (`after` is the failing position, `before` the one after it: a half-open range of
//!   positions, since an offset API names no ids);
//! - the checkpoint carried by each batch is the offset of the next record to fetch, so it never passes a
//!   record that was neither yielded nor reported.
//!
//! How:
//! - A page that fails (transient after the client's retries, too large, unreadable) is fetched again
//!   at the same offset with the next smaller limit; the limit climbs back one rung after
//!   `recover_after` successful pages. A position that fails even at limit 1 is reported and stepped
//!   over; too many in a row fail the pager (the API is down, not one record poisoned). A failure at or
//!   past the API's last reported total is the end, not a record.
//! - A page shorter than its limit is the last one. The [`Envelope`](super::Envelope) has already
//!   refused a short page that its own total contradicts, so a cut or emptied page never ends a pass.
//! - Page numbers: an API that pages by number can still shrink, as long as every smaller size divides
//!   the larger ones and the offset stays a multiple of the size in use (pages `2p` and `2p+1` of 50
//!   are page `p` of 100). The ladder is trimmed to such sizes and a size is used only where it aligns.
//! - `max_offset`: APIs that refuse to skip past a limit (Close's `_skip`) stop the pager there;
//!   [`OffsetPager::capped`] tells the caller to restart its query from where it got (e.g. a newer
//!   date filter) with offset 0.

use std::future::Future;

use serde_json::Value;

use super::id_pager::{ErroredRange, PagerError, PagerItem};
use super::page::Page;
use crate::http::{HttpError, SharedClock};

/// What the pager asks the fetch function for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRequest {
    /// Records to skip (`offset`, `$skip`, `_skip`).
    pub offset: u64,
    /// Records to return (`limit`, `$top`, `_limit`).
    pub limit: u32,
    /// The page number, for APIs that page by number (`offset / limit` plus the first page's number);
    /// equal to `offset / limit` in offset mode.
    pub page: u64,
}

impl std::fmt::Display for OffsetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records from offset {}, limit {}",
            self.offset, self.limit
        )
    }
}

/// How positions are addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// By record offset.
    Offset,
    /// By page number, the first page being `first` (0 or 1).
    Pages {
        /// The number of the first page.
        first: u64,
    },
}

/// Tuning of an [`OffsetPager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetPagerConfig {
    /// Page sizes from largest (the endpoint's documented maximum) to smallest. Normalised to strictly
    /// descending and ending with 1; with page numbers, sizes that do not divide the larger ones are
    /// dropped.
    pub limits: Vec<u32>,
    /// Offsets or page numbers.
    pub numbering: Numbering,
    /// Successful pages at a reduced size before climbing one rung back up (default 20).
    pub recover_after: u32,
    /// Requests this pager may send in total before failing, a guard against a runaway loop.
    pub max_requests: u64,
    /// Positions in a row that fail even one at a time before giving up (default 10).
    pub max_consecutive_errored: u32,
    /// The largest offset the API accepts, if it caps it.
    pub max_offset: Option<u64>,
}

impl Default for OffsetPagerConfig {
    fn default() -> Self {
        Self {
            limits: vec![100, 50, 10, 1],
            numbering: Numbering::Offset,
            recover_after: 20,
            max_requests: 10_000_000,
            max_consecutive_errored: 10,
            max_offset: None,
        }
    }
}

impl OffsetPagerConfig {
    /// The ladder `max, max/2, …` of sizes for an endpoint whose maximum page size is `max`.
    pub fn with_max(max: u32) -> Self {
        let mut limits = vec![max.max(1)];
        while let Some(&last) = limits.last() {
            if last <= 1 {
                break;
            }
            limits.push(if last > 10 { last / 2 } else { 1 });
        }
        Self {
            limits,
            ..Self::default()
        }
    }

    fn normalised(mut self) -> Self {
        self.limits.retain(|l| *l > 0);
        self.limits.sort_unstable_by(|a, b| b.cmp(a));
        self.limits.dedup();
        if self.limits.last() != Some(&1) {
            self.limits.push(1);
        }
        if let Numbering::Pages { .. } = self.numbering {
            let mut kept: Vec<u32> = Vec::new();
            for l in self.limits {
                if kept.last().is_none_or(|prev| prev % l == 0) {
                    kept.push(l);
                }
            }
            self.limits = kept;
        }
        self.recover_after = self.recover_after.max(1);
        self.max_consecutive_errored = self.max_consecutive_errored.max(1);
        self
    }
}

/// The offset pager; see the module documentation.
pub struct OffsetPager<F> {
    fetch: F,
    config: OffsetPagerConfig,
    clock: SharedClock,
    offset: u64,
    rung: usize,
    successes: u32,
    errored_in_a_row: u32,
    requests: u64,
    /// The API's total as of the last page that reported one.
    total: Option<u64>,
    done: bool,
    capped: bool,
}

impl<F> std::fmt::Debug for OffsetPager<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetPager")
            .field("offset", &self.offset)
            .field("limit", &self.config.limits[self.rung])
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl<F, Fut> OffsetPager<F>
where
    F: Fn(OffsetRequest) -> Fut,
    Fut: Future<Output = Result<Page, HttpError>>,
{
    /// A pager starting at `offset` (0, or a checkpoint). `fetch` returns the records at
    /// `[offset, offset + limit)` in a stable order.
    pub fn new(offset: u64, fetch: F, config: OffsetPagerConfig, clock: SharedClock) -> Self {
        Self {
            fetch,
            config: config.normalised(),
            clock,
            offset,
            rung: 0,
            successes: 0,
            errored_in_a_row: 0,
            requests: 0,
            total: None,
            done: false,
            capped: false,
        }
    }

    /// The offset of the next record to fetch: safe to checkpoint after everything yielded so far.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// Whether the pager stopped at the API's `max_offset` with records left: the caller restarts its
    /// query past the records it has.
    pub fn capped(&self) -> bool {
        self.capped
    }

    /// The next batch of records (checkpoint: the offset after them) or errored position; `None` at the
    /// end.
    pub async fn next(&mut self) -> Result<Option<PagerItem<u64>>, PagerError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.config.max_offset.is_some_and(|max| self.offset >= max) {
                self.capped = true;
                self.done = true;
                return Ok(None);
            }
            let request = self.request();
            if self.requests >= self.config.max_requests {
                return Err(PagerError::MaxRequests {
                    max: self.config.max_requests,
                });
            }
            self.requests += 1;
            match (self.fetch)(request).await {
                Ok(page) => {
                    self.total = page.total.or(self.total);
                    return Ok(self.accept(request, page.records));
                }
                Err(e) if e.is_permanent() => {
                    return Err(PagerError::Fetch {
                        request: request.to_string(),
                        source: Box::new(e),
                    })
                }
                Err(e) => {
                    self.successes = 0;
                    if self.rung + 1 < self.config.limits.len() {
                        self.rung += 1;
                        tracing::info!(%request, error = %e, limit = self.config.limits[self.rung], "page failed; fetching it again with a smaller limit");
                        continue;
                    }
                    if self.total.is_some_and(|total| request.offset >= total) {
                        // Past the API's own count there is no record to report, only the end.
                        self.done = true;
                        return Ok(None);
                    }
                    return self.errored(request, &e).map(Some);
                }
            }
        }
    }

    /// The request at the current offset, with the largest size of the current rung or below that
    /// aligns with it (page numbers only).
    fn request(&mut self) -> OffsetRequest {
        if let Numbering::Pages { .. } = self.config.numbering {
            while !self
                .offset
                .is_multiple_of(u64::from(self.config.limits[self.rung]))
            {
                self.rung += 1;
            }
        }
        let limit = self.config.limits[self.rung];
        let first = match self.config.numbering {
            Numbering::Offset => 0,
            Numbering::Pages { first } => first,
        };
        OffsetRequest {
            offset: self.offset,
            limit,
            page: self.offset / u64::from(limit) + first,
        }
    }

    fn accept(&mut self, request: OffsetRequest, records: Vec<Value>) -> Option<PagerItem<u64>> {
        self.errored_in_a_row = 0;
        let got = records.len() as u64;
        if got < u64::from(request.limit) {
            self.done = true;
        }
        if got == 0 {
            return None;
        }
        self.offset += got;
        self.successes += 1;
        if self.rung > 0 && self.successes >= self.config.recover_after {
            self.rung -= 1;
            self.successes = 0;
        }
        Some(PagerItem::Records {
            records,
            checkpoint: Some(self.offset),
        })
    }

    fn errored(
        &mut self,
        request: OffsetRequest,
        error: &HttpError,
    ) -> Result<PagerItem<u64>, PagerError> {
        self.errored_in_a_row += 1;
        if self.errored_in_a_row > self.config.max_consecutive_errored {
            return Err(PagerError::TooManyErrored {
                after: format!("offset {}", request.offset),
                count: self.errored_in_a_row - 1,
            });
        }
        tracing::warn!(%request, %error, "a record failed even on its own; reporting its position as errored");
        let range = ErroredRange {
            after: Some(request.offset),
            before: Some(request.offset + 1),
            positions: 1,
            request: request.to_string(),
            error: error.to_string(),
            at: self.clock.now_utc(),
        };
        self.offset += 1;
        Ok(PagerItem::Errored(range))
    }
}

#[cfg(test)]
#[path = "offset_pager_tests.rs"]
mod tests;

//! Query executions cached between pages, page and batch assembly, and opaque page tokens.
//!
//! The first page of a query creates an [`Execution`]: the plan, the data snapshot it runs on
//! (later `advance`s do not change a result set mid-paging, as the API caches it), the sorted
//! positions for `ORDER BY`, and the total count when asked. Each page token names a
//! [`Cursor`] — the execution plus where the next page starts — in a bounded registry.
//!
//! A token is 16 bytes in base64url: a masked serial number and a keyed hash of it. A token that
//! does not decode, or whose hash is wrong, is `INVALID_PAGE_TOKEN`; a well-formed token whose
//! cursor is gone (evicted, or older than the TTL) is `EXPIRED_PAGE_TOKEN`. Serial numbers count
//! tokens issued, so the same calls with the same seed yield the same tokens.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::simulator::rng::{self, tag};

use super::dataset::Sa360Data;
use super::metrics::Metrics;
use super::plan::Plan;

/// Cursors kept at most; the oldest are evicted first.
const MAX_CURSORS: usize = 20_000;

/// `summaryRowSetting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SummarySetting {
    None,
    WithResults,
    Only,
}

impl SummarySetting {
    pub(crate) fn parse(text: Option<&str>) -> Option<Self> {
        match text.unwrap_or("NO_SUMMARY_ROW") {
            "NO_SUMMARY_ROW" | "UNSPECIFIED" => Some(SummarySetting::None),
            "SUMMARY_ROW_WITH_RESULTS" => Some(SummarySetting::WithResults),
            "SUMMARY_ROW_ONLY" => Some(SummarySetting::Only),
            _ => None,
        }
    }
}

/// A query's result set, as cached between its pages.
pub(crate) struct Execution {
    pub(crate) data: Arc<Sa360Data>,
    pub(crate) plan: Arc<Plan>,
    /// Positions in ORDER BY order (`None` without ORDER BY).
    sorted: Option<Vec<u64>>,
    /// Ties a page token to its customer and query text.
    pub(crate) binding: u64,
    pub(crate) return_total: bool,
    pub(crate) total: Option<u64>,
    pub(crate) summary: SummarySetting,
}

/// Where the next page of an execution starts.
#[derive(Clone)]
pub(crate) struct Cursor {
    pub(crate) execution: Arc<Execution>,
    /// A row position, or an index into the sorted positions.
    pub(crate) next: u64,
    /// Rows already returned (for LIMIT).
    pub(crate) emitted: u64,
    pub(crate) issued: DateTime<Utc>,
}

/// One page (or stream batch) of rows.
pub(crate) struct Page {
    pub(crate) rows: Vec<Value>,
    /// Where the next page starts, if there is one: `(next, emitted)`.
    pub(crate) more: Option<(u64, u64)>,
}

/// The binding of a query to its customer.
pub(crate) fn binding(seed: u64, customer_id: u64, query: &str) -> u64 {
    rng::hash(seed, &[tag(b"binding"), customer_id, tag(query.as_bytes())])
}

impl Execution {
    /// Prepares `plan` on `data`: sorts for ORDER BY and counts when `return_total`.
    pub(crate) fn new(
        data: Arc<Sa360Data>,
        plan: Plan,
        binding: u64,
        return_total: bool,
        summary: SummarySetting,
    ) -> Self {
        let sorted = plan.sorted_positions(&data);
        let total = match (&sorted, return_total) {
            (Some(sorted), true) => Some(sorted.len() as u64),
            (None, true) => Some(plan.count(&data)),
            (_, false) => None,
        };
        Self {
            data,
            plan: Arc::new(plan),
            sorted,
            binding,
            return_total,
            total,
            summary,
        }
    }

    /// A validated plan that is not run (`validateOnly`): no sorting, no counting.
    pub(crate) fn unexecuted(
        data: Arc<Sa360Data>,
        plan: Plan,
        binding: u64,
        summary: SummarySetting,
    ) -> Self {
        Self {
            data,
            plan: Arc::new(plan),
            sorted: None,
            binding,
            return_total: false,
            total: None,
            summary,
        }
    }

    /// Rows the query returns (LIMIT applied).
    pub(crate) fn returned_rows(&self) -> u64 {
        let all = match (&self.sorted, self.total) {
            (Some(sorted), _) => sorted.len() as u64,
            (None, Some(total)) => total,
            (None, None) => self.plan.count(&self.data),
        };
        self.plan.limit.map_or(all, |limit| all.min(limit))
    }

    /// Up to `size` rows from `next` (having returned `emitted` already).
    pub(crate) fn page(&self, next: u64, emitted: u64, size: u64) -> Page {
        let data = &*self.data;
        let plan = &*self.plan;
        let remaining = plan
            .limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(emitted));
        let take = size.min(remaining);
        let mut rows = Vec::new();
        match &self.sorted {
            Some(sorted) => {
                let end = (next.saturating_add(take)).min(sorted.len() as u64);
                for position in &sorted[next as usize..end as usize] {
                    if let Some(row) = plan.at(data, *position) {
                        rows.push(plan.render(&row));
                    }
                }
                let emitted = emitted + (end - next);
                let more = (end < sorted.len() as u64 && emitted < plan.limit.unwrap_or(u64::MAX))
                    .then_some((end, emitted));
                Page { rows, more }
            }
            None => {
                let mut resume = None;
                if take > 0 {
                    plan.scan(data, next, |at, row| {
                        if (rows.len() as u64) < take {
                            rows.push(plan.render(&row));
                            true
                        } else {
                            resume = Some(at.position);
                            false
                        }
                    });
                }
                let emitted = emitted + rows.len() as u64;
                let more = resume
                    .filter(|_| emitted < plan.limit.unwrap_or(u64::MAX))
                    .map(|position| (position, emitted));
                Page { rows, more }
            }
        }
    }

    /// The metrics summed over every returned row.
    pub(crate) fn totals(&self) -> Metrics {
        let data = &*self.data;
        let plan = &*self.plan;
        let limit = plan.limit.unwrap_or(u64::MAX);
        let mut total = Metrics::default();
        match &self.sorted {
            Some(sorted) => {
                for position in sorted.iter().take(limit.min(usize::MAX as u64) as usize) {
                    if let Some(metrics) = plan.at(data, *position).and_then(|row| row.metrics) {
                        total.add(&metrics);
                    }
                }
            }
            None => {
                let mut seen = 0;
                plan.scan(data, 0, |_, row| {
                    if let Some(metrics) = row.metrics {
                        total.add(&metrics);
                    }
                    seen += 1;
                    seen < limit
                });
            }
        }
        total
    }

    /// The `summaryRow` object.
    pub(crate) fn summary_row(&self) -> Value {
        self.plan.summary(&self.data, &self.totals())
    }

    /// `customColumnHeaders`, `fieldMask` and the rest every page or batch repeats.
    pub(crate) fn decorate(&self, object: &mut Map<String, Value>) {
        object.insert(
            "fieldMask".to_owned(),
            Value::String(self.plan.field_mask.clone()),
        );
        if !self.plan.custom_headers.is_empty() {
            object.insert(
                "customColumnHeaders".to_owned(),
                Value::Array(self.plan.custom_headers.clone()),
            );
        }
    }
}

/// Why a page token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Invalid,
    Expired,
}

/// The bounded registry of live cursors.
pub(crate) struct Cursors {
    seed: u64,
    live: HashMap<u64, Cursor>,
    order: VecDeque<u64>,
    issued: u64,
}

impl Cursors {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            live: HashMap::new(),
            order: VecDeque::new(),
            issued: 0,
        }
    }

    fn mask(&self) -> u64 {
        rng::hash(self.seed, &[tag(b"page-token-mask")])
    }

    fn mac(&self, serial: u64) -> u64 {
        rng::hash(self.seed, &[tag(b"page-token"), serial])
    }

    /// Registers `cursor` and returns its token.
    pub(crate) fn issue(&mut self, cursor: Cursor) -> String {
        self.issued += 1;
        let serial = self.issued;
        if self.order.len() >= MAX_CURSORS {
            if let Some(oldest) = self.order.pop_front() {
                self.live.remove(&oldest);
            }
        }
        self.order.push_back(serial);
        self.live.insert(serial, cursor);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(serial ^ self.mask()).to_le_bytes());
        bytes[8..].copy_from_slice(&self.mac(serial).to_le_bytes());
        base64url(&bytes)
    }

    /// The cursor a token names, if it is live and younger than `ttl_seconds`.
    pub(crate) fn get(
        &self,
        token: &str,
        now: DateTime<Utc>,
        ttl_seconds: Option<u64>,
    ) -> Result<Cursor, TokenProblem> {
        let bytes = unbase64url(token).ok_or(TokenProblem::Invalid)?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| TokenProblem::Invalid)?;
        let serial = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) ^ self.mask();
        let mac = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
        if mac != self.mac(serial) {
            return Err(TokenProblem::Invalid);
        }
        let cursor = self.live.get(&serial).ok_or(TokenProblem::Expired)?;
        let expired =
            ttl_seconds.is_some_and(|ttl| (now - cursor.issued).num_seconds() >= ttl as i64);
        if expired {
            return Err(TokenProblem::Expired);
        }
        Ok(cursor.clone())
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(word >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = acc << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xFF) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unbase64url(&base64url(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
        assert!(unbase64url("a*b").is_none());
    }
}

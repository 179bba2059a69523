//! The request log: every API call a simulator answered, for tests to assert on.
//!
//! Entries are recorded when a request arrives (with the number of requests already in flight)
//! and completed when its response body has been fully handed to the connection, so concurrency
//! and timing assertions see the client's real behaviour. The log keeps the most recent
//! `capacity` entries; counters such as the peak concurrency cover every request ever seen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One recorded request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// 1-based arrival number among API requests (control requests are not counted).
    pub number: u64,
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The decoded query parameters in order.
    pub query_pairs: Vec<(String, String)>,
    /// The body parsed as JSON, when it was JSON.
    pub body: Option<serde_json::Value>,
    /// Request headers in arrival order; names lower case, secret values replaced by `***`.
    pub headers: Vec<(String, String)>,
    /// Simulated time at arrival.
    pub sim_time: DateTime<Utc>,
    /// Requests already in flight when this one arrived.
    pub in_flight_at_start: usize,
    /// Response status, once known.
    pub status: Option<u16>,
    /// The injected fault or rate-limit refusal that produced the response, if any.
    pub outcome: Option<String>,
    #[serde(skip)]
    /// Arrival instant (real time).
    pub started: Instant,
    #[serde(skip)]
    /// When the response body finished (or the request was abandoned).
    pub finished: Option<Instant>,
    /// Milliseconds from log creation to arrival (for the HTTP view of the log).
    pub started_ms: u64,
    /// Milliseconds the request took, once finished.
    pub duration_ms: Option<u64>,
}

impl LoggedRequest {
    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// How long the request took, once finished.
    pub fn duration(&self) -> Option<Duration> {
        self.finished.map(|end| end.duration_since(self.started))
    }
}

/// What the pipeline knows about a request when it arrives.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Decoded query pairs.
    pub query_pairs: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<serde_json::Value>,
    /// Redacted headers.
    pub headers: Vec<(String, String)>,
    /// Simulated arrival time.
    pub sim_time: DateTime<Utc>,
}

#[derive(Debug)]
struct LogState {
    entries: VecDeque<LoggedRequest>,
    next_number: u64,
    in_flight: usize,
    peak_in_flight: usize,
}

/// A thread-safe, bounded request log shared by a simulator's pipeline and its tests.
#[derive(Debug)]
pub struct RequestLog {
    state: Mutex<LogState>,
    capacity: usize,
    created: Instant,
}

/// Default number of entries kept.
pub const DEFAULT_LOG_CAPACITY: usize = 100_000;

impl RequestLog {
    /// An empty log keeping at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(LogState {
                entries: VecDeque::new(),
                next_number: 1,
                in_flight: 0,
                peak_in_flight: 0,
            }),
            capacity: capacity.max(1),
            created: Instant::now(),
        }
    }

    /// Records an arrival and returns the guard that completes the entry; dropping the guard
    /// without [`InFlight::finish`] marks the request abandoned (e.g. the client hung up).
    pub fn begin(self: &Arc<Self>, arrival: Arrival) -> InFlight {
        let started = Instant::now();
        let mut state = self.lock();
        let number = state.next_number;
        state.next_number += 1;
        let in_flight_at_start = state.in_flight;
        state.in_flight += 1;
        state.peak_in_flight = state.peak_in_flight.max(state.in_flight);
        if state.entries.len() == self.capacity {
            state.entries.pop_front();
        }
        state.entries.push_back(LoggedRequest {
            number,
            method: arrival.method,
            path: arrival.path,
            query: arrival.query,
            query_pairs: arrival.query_pairs,
            body: arrival.body,
            headers: arrival.headers,
            sim_time: arrival.sim_time,
            in_flight_at_start,
            status: None,
            outcome: None,
            started,
            finished: None,
            started_ms: millis(started.duration_since(self.created)),
            duration_ms: None,
        });
        InFlight {
            log: Arc::clone(self),
            number,
            in_flight_at_start,
            status: None,
            outcome: None,
            done: false,
        }
    }

    /// A copy of every kept entry, oldest first.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.lock().entries.iter().cloned().collect()
    }

    /// Entries whose path contains `fragment`, oldest first.
    pub fn matching(&self, fragment: &str) -> Vec<LoggedRequest> {
        self.lock()
            .entries
            .iter()
            .filter(|entry| entry.path.contains(fragment))
            .cloned()
            .collect()
    }

    /// The values of query parameter `name` across entries whose path contains `fragment`, in
    /// arrival order (e.g. the sequence of `take` values a client used).
    pub fn query_sequence(&self, fragment: &str, name: &str) -> Vec<String> {
        self.lock()
            .entries
            .iter()
            .filter(|entry| entry.path.contains(fragment))
            .filter_map(|entry| entry.query_param(name).map(str::to_owned))
            .collect()
    }

    /// The highest number of requests ever in flight at once (including refused ones).
    pub fn max_concurrency(&self) -> usize {
        self.lock().peak_in_flight
    }

    /// Requests in flight right now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// How many API requests have arrived since the simulator started (including evicted ones).
    pub fn total_requests(&self) -> u64 {
        self.lock().next_number - 1
    }

    /// Forgets the kept entries and the peak concurrency; numbering continues.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.peak_in_flight = state.in_flight;
    }

    fn complete(&self, number: u64, status: Option<u16>, outcome: Option<String>) {
        let finished = Instant::now();
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let Some(front) = state.entries.front().map(|entry| entry.number) else {
            return;
        };
        let Some(index) = number.checked_sub(front) else {
            return; // evicted already
        };
        if let Some(entry) = state.entries.get_mut(index as usize) {
            debug_assert_eq!(entry.number, number);
            entry.status = status;
            entry.outcome = outcome;
            entry.finished = Some(finished);
            entry.duration_ms = Some(millis(finished.duration_since(entry.started)));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A request still in flight; completes its log entry when finished or dropped.
#[derive(Debug)]
pub struct InFlight {
    log: Arc<RequestLog>,
    number: u64,
    in_flight_at_start: usize,
    status: Option<u16>,
    outcome: Option<String>,
    done: bool,
}

impl InFlight {
    /// The request's arrival number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Requests already in flight when this one arrived.
    pub fn in_flight_at_start(&self) -> usize {
        self.in_flight_at_start
    }

    /// Notes the response status; recorded when the guard finishes or drops.
    pub fn set_status(&mut self, status: u16) {
        self.status = Some(status);
    }

    /// Notes what produced the response (a fault label, a rate-limit refusal); recorded even if
    /// the request is later abandoned, so a hung request still shows why it hung.
    pub fn set_outcome(&mut self, outcome: impl Into<String>) {
        self.outcome = Some(outcome.into());
    }

    /// Completes the entry now.
    pub fn finish(mut self) {
        self.complete();
    }

    fn complete(&mut self) {
        if !self.done {
            self.done = true;
            self.log
                .complete(self.number, self.status, self.outcome.take());
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.complete();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(path: &str, query: &str) -> Arrival {
        Arrival {
            method: "POST".into(),
            path: path.into(),
            query: Some(query.into()),
            query_pairs: query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body: None,
            headers: vec![],
            sim_time: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn tracks_concurrency_sequences_and_completion() {
        let log = Arc::new(RequestLog::new(10));
        let a = log.begin(arrival("/api/Gift/Query", "skip=0&take=1000"));
        let mut b = log.begin(arrival("/api/Gift/Query", "skip=1000&take=500"));
        assert_eq!(b.in_flight_at_start(), 1);
        b.set_status(504);
        b.set_outcome("deadline");
        drop(b);
        a.finish();
        let _c = log.begin(arrival("/api/Contact/Query", "take=10"));
        assert_eq!(log.max_concurrency(), 2);
        assert_eq!(log.in_flight(), 1);
        assert_eq!(log.query_sequence("/Gift/", "take"), vec!["1000", "500"]);
        let entries = log.matching("/Gift/");
        assert_eq!(entries[1].status, Some(504));
        assert!(entries[0].finished.is_some());
        assert_eq!(log.total_requests(), 3);
    }

    #[test]
    fn capacity_evicts_oldest_but_counts_everything() {
        let log = Arc::new(RequestLog::new(2));
        for _ in 0..5 {
            log.begin(arrival("/x", "")).finish();
        }
        let numbers: Vec<u64> = log.entries().iter().map(|e| e.number).collect();
        assert_eq!(numbers, vec![4, 5]);
        assert_eq!(log.total_requests(), 5);
    }
}

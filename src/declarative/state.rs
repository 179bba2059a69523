//! The state every definition shares: per stream, the lower bound of the next incremental pass and
//! the pass in progress (its kind, the pager's token, when it started by the API's clock).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sdk::ConnectorState;

/// A declarative connector's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarativeState {
    /// Per stream (table name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, StreamState>,
}

impl ConnectorState for DeclarativeState {
    const VERSION: u32 = 1;
}

/// One stream's position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamState {
    /// The lower bound of the next incremental pass; `None` until a full pass completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The pass in progress, if a sync stopped inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<PassState>,
    /// When the last full pass began (the API's clock at its first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full: Option<DateTime<Utc>>,
    /// Whether the next pass is a full one: `full_refresh_days` passed since `last_full`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_next: bool,
}

impl StreamState {
    /// Whether the next pass must be a full one (`full_refresh_days` ran out).
    pub fn full_due(&self) -> bool {
        self.full_next
    }

    /// Ends `pass`: nothing is in progress; a full pass is on record, and a changes pass that began
    /// `every` or more after the last full one (both by the API's clock) makes the next pass full.
    pub fn finish(&mut self, pass: &PassState, every: Option<std::time::Duration>) {
        match pass.kind {
            PassKind::Full => {
                self.last_full = pass.started.or(self.last_full);
                self.full_next = false;
            }
            PassKind::Changes => {
                if let (Some(every), Some(at)) = (every, pass.started) {
                    let every =
                        chrono::TimeDelta::from_std(every).unwrap_or(chrono::TimeDelta::MAX);
                    self.full_next |= self.last_full.is_none_or(|full| {
                        full.checked_add_signed(every).is_some_and(|due| at >= due)
                    });
                }
            }
        }
        self.pass = None;
    }
}

/// What a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    /// The whole list (a first sync, a stream without incremental, events past their retention).
    Full,
    /// The changes since `since`.
    Changes,
}

/// A pass in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassState {
    /// What it reads.
    pub kind: PassKind,
    /// The pager's token for the next page (`None`: the first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The API's clock when the pass's first page was served: the next `since` for events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    /// The largest cursor seen so far (cursor streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cursor: Option<DateTime<Utc>>,
    /// Whether the table was truncated for this full pass (sent once, before its rows).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The lower bound the list was restarted from after reaching the API's maximum skip (the
    /// largest cursor seen then); `None` until a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<DateTime<Utc>>,
    /// Whether this changes pass has read its stream's list of deleted records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deletes_done: bool,
    /// The partition being read (a GraphQL stream's `for_each` item, e.g. `owner/name`); `token` is
    /// its position. Earlier partitions of the pass are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// A windowed list's walk: every window before this instant is read (`None`: none yet);
    /// `token` is the position in the window starting here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DateTime<Utc>>,
    /// A capped query restarted by key: the largest key read before its restart (`{{last_key}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<String>,
}

impl PassState {
    /// A pass of `kind` that has not read a page yet.
    pub fn new(kind: PassKind) -> Self {
        Self {
            kind,
            token: None,
            started: None,
            max_cursor: None,
            truncated: false,
            floor: None,
            deletes_done: false,
            partition: None,
            window: None,
            last_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};

    /// Version 1 as this release writes it: it must keep parsing, byte for byte.
    #[test]
    fn golden_state_v1_keeps_parsing() {
        let golden = r#"{"version":1,"streams":{"balance_transactions":{"since":"2026-11-30T10:00:00Z","pass":{"kind":"changes","token":"txn_9","started":"2026-12-01T10:00:00Z","max_cursor":"2026-12-01T09:59:59Z"}},"customers":{"pass":{"kind":"full","token":"cus_41","started":"2026-12-01T10:00:00Z","truncated":true}},"products":{"since":"2026-12-01T09:55:00Z"}}}"#;
        let state: DeclarativeState = parse_state(Some(golden)).unwrap();
        assert_eq!(
            state.streams["customers"]
                .pass
                .as_ref()
                .unwrap()
                .token
                .as_deref(),
            Some("cus_41")
        );
        assert_eq!(serialize_state(&state).unwrap(), golden);
        assert_eq!(
            parse_state::<DeclarativeState>(Some("{}")).unwrap(),
            DeclarativeState::default()
        );
        // A list restarted past its maximum skip, its deletes already read (both added in version 1).
        let restarted = r#"{"version":1,"streams":{"leads":{"since":"2026-11-30T10:00:00Z","pass":{"kind":"changes","token":"200","started":"2026-12-01T10:00:00Z","max_cursor":"2026-12-01T09:00:00Z","floor":"2026-12-01T08:00:00Z","deletes_done":true}}}}"#;
        let state: DeclarativeState = parse_state(Some(restarted)).unwrap();
        let pass = state.streams["leads"].pass.as_ref().unwrap();
        assert!(pass.deletes_done && pass.floor.is_some());
        assert_eq!(serialize_state(&state).unwrap(), restarted);
        let err = parse_state::<DeclarativeState>(Some(
            r#"{"version":1,"streams":{"a":{"sinse":null}}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("sinse"), "{err}");
    }

    /// A windowed list stopped inside a window, and a stream whose next pass is its periodic full
    /// one (both added in version 1).
    #[test]
    fn golden_state_v1_with_a_window_and_a_due_full_pass_keeps_parsing() {
        let golden = r#"{"version":1,"streams":{"charges":{"pass":{"kind":"full","token":"ch_7","started":"2026-12-01T10:00:00Z","truncated":true,"window":"2016-01-01T00:00:00Z"},"last_full":"2026-11-01T10:00:00Z"},"contacts":{"since":"2026-11-30T10:00:00Z","pass":{"kind":"changes","token":"400","started":"2026-12-01T10:00:00Z","last_key":"10512"}},"issues":{"since":"2026-12-01T09:59:00Z","last_full":"2026-11-20T10:00:00Z","full_next":true}}}"#;
        let state: DeclarativeState = parse_state(Some(golden)).unwrap();
        let charges = &state.streams["charges"];
        assert_eq!(
            charges.pass.as_ref().and_then(|p| p.window),
            Some("2016-01-01T00:00:00Z".parse().unwrap())
        );
        assert!(state.streams["issues"].full_due() && !charges.full_due());
        assert_eq!(serialize_state(&state).unwrap(), golden);
    }

    /// A changes pass a week after the last full one makes the next pass full; the full pass
    /// clears it.
    #[test]
    fn a_full_pass_falls_due_by_the_apis_clock() {
        let week = Some(std::time::Duration::from_secs(7 * 86_400));
        let at = |t: &str| -> DateTime<Utc> { t.parse().unwrap() };
        let mut st = StreamState {
            last_full: Some(at("2026-11-01T00:00:00Z")),
            ..StreamState::default()
        };
        let pass = |kind, started: &str| PassState {
            started: Some(at(started)),
            ..PassState::new(kind)
        };
        st.finish(&pass(PassKind::Changes, "2026-11-07T23:59:59Z"), week);
        assert!(!st.full_due());
        st.finish(&pass(PassKind::Changes, "2026-11-08T00:00:00Z"), week);
        assert!(st.full_due());
        st.finish(&pass(PassKind::Full, "2026-11-08T06:00:00Z"), week);
        assert!(!st.full_due());
        assert_eq!(st.last_full, Some(at("2026-11-08T06:00:00Z")));
        // Without full_refresh_days nothing is ever due.
        st.finish(&pass(PassKind::Changes, "2027-01-01T00:00:00Z"), None);
        assert!(!st.full_due());
    }

    /// A GraphQL stream stopped inside its second repository: the partition is kept with its cursor.
    #[test]
    fn golden_state_v1_with_a_partition_keeps_parsing() {
        let golden = r#"{"version":1,"streams":{"issues":{"since":"2026-11-30T10:00:00Z","pass":{"kind":"changes","token":"Y3Vyc29yOnYyOjE=","started":"2026-12-01T10:00:00Z","partition":"octo/tools"}}}}"#;
        let state: DeclarativeState = parse_state(Some(golden)).unwrap();
        let pass = state.streams["issues"].pass.as_ref().unwrap();
        assert_eq!(pass.partition.as_deref(), Some("octo/tools"));
        assert_eq!(serialize_state(&state).unwrap(), golden);
    }
}

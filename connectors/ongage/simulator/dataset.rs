//! The simulated account's lists and contacts as a pure function of (config, generation).
//!
//! Contact `i` of a list is derived from `hash(seed, list, i)`; only contacts whose status
//! `advance` changed are stored (a sparse overlay), so a list of millions costs kilobytes.
//! Invariants the search planner relies on:
//! - `ocx_created_date` never decreases with the index, and no contact is created inside the
//!   list's quiet stretch;
//! - every status-change date is at or after the contact's creation.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::simulator::rng::{self, tag};

use super::config::{ListSpec, OngageConfig};

/// A contact's subscription status (`ocx_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Subscribed (including resubscribed).
    Active,
    /// Unsubscribed.
    Unsubscribed,
    /// Hard bounce.
    Bounced,
    /// Spam complaint.
    Complaint,
}

impl Status {
    /// The `ocx_status` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Unsubscribed => "Unsubscribed",
            Status::Bounced => "Bounced",
            Status::Complaint => "Complaint",
        }
    }
}

/// A contact's status and the dates of its status changes (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusState {
    pub(crate) status: Status,
    pub(crate) unsubscribe: Option<i64>,
    pub(crate) resubscribe: Option<i64>,
    pub(crate) bounce: Option<i64>,
    pub(crate) complaint: Option<i64>,
}

impl StatusState {
    const ACTIVE: StatusState = StatusState {
        status: Status::Active,
        unsubscribe: None,
        resubscribe: None,
        bounce: None,
        complaint: None,
    };
}

/// Everything known about one contact now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContactView {
    pub(crate) list_id: u64,
    pub(crate) index: u64,
    pub(crate) created: i64,
    pub(crate) state: StatusState,
}

#[derive(Debug, Clone)]
pub(crate) struct ListTable {
    pub(crate) spec: ListSpec,
    /// Unix seconds of the first contact, of the quiet stretch (clipped), and of `data_end`.
    first: i64,
    quiet: (i64, i64),
    /// `ends[g]` = contacts after generation `g` (`ends[0]` = initial).
    ends: Vec<u64>,
    overlay: BTreeMap<u64, StatusState>,
    /// XOR mask hiding the index inside the hex id.
    id_mask: u64,
}

/// What one `advance` did to one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChangeKind {
    /// New contact (`ocx_created_date` in this generation).
    Added,
    /// `ocx_unsubscribe_date` set, status Unsubscribed.
    Unsubscribed,
    /// `ocx_bounce_date` set, status Bounced.
    Bounced,
    /// `ocx_complaint_date` set, status Complaint.
    Complained,
    /// `ocx_resubscribe_date` set, status Active again.
    Resubscribed,
}

/// One change made by `advance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactChange {
    /// The list.
    pub list_id: u64,
    /// The contact's hex id.
    pub id: String,
    /// What happened.
    pub kind: ContactChangeKind,
}

/// The account at one generation. Cloning copies only the sparse overlays.
#[derive(Debug, Clone)]
pub struct OngageData {
    seed: u64,
    end: i64,
    interval: i64,
    generation: u32,
    pub(crate) lists: Arc<[ListSpec]>,
    tables: Vec<ListTable>,
    new_per_generation: u64,
    changes_per_generation: u64,
}

impl OngageData {
    /// The account described by `config`, at generation 0.
    pub fn new(config: &OngageConfig) -> Self {
        let end = config.data_end.timestamp();
        let tables = config
            .lists
            .iter()
            .map(|spec| {
                let first = spec.first_contact.timestamp().min(end);
                let quiet = spec.quiet.map_or((first, first), |quiet| {
                    let start = quiet.start.timestamp().clamp(first, end);
                    (start, quiet.end.timestamp().clamp(start, end))
                });
                ListTable {
                    spec: spec.clone(),
                    first,
                    quiet,
                    ends: vec![spec.contacts],
                    overlay: BTreeMap::new(),
                    id_mask: rng::hash(config.seed, &[tag(b"id-mask"), spec.id]) & 0xFF_FFFF_FFFF,
                }
            })
            .collect();
        Self {
            seed: config.seed,
            end,
            interval: i64::try_from(config.generation_interval.as_secs())
                .unwrap_or(i64::MAX)
                .max(2),
            generation: 0,
            lists: config.lists.clone().into(),
            tables,
            new_per_generation: config.new_contacts_per_generation,
            changes_per_generation: config.status_changes_per_generation,
        }
    }

    /// Generations applied so far.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// End of the current generation, Unix seconds ("now" for the data).
    pub fn data_now(&self) -> i64 {
        self.end + i64::from(self.generation) * self.interval
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn table(&self, list_id: u64) -> Option<&ListTable> {
        self.tables.iter().find(|table| table.spec.id == list_id)
    }

    /// Contacts ever created in `list_id` (0 for an unknown list).
    pub fn count(&self, list_id: u64) -> u64 {
        self.table(list_id).map_or(0, ListTable::count)
    }

    /// Overlay entries held for `list_id`: the only per-contact memory the simulator uses.
    pub fn overlay_len(&self, list_id: u64) -> usize {
        self.table(list_id).map_or(0, |table| table.overlay.len())
    }

    /// Creation time (Unix seconds) of contact `index`; never decreases with the index.
    pub(crate) fn created(&self, table: &ListTable, index: u64) -> i64 {
        let initial = table.spec.contacts;
        if index < initial {
            let quiet_length = table.quiet.1 - table.quiet.0;
            let active = (self.end - table.first - quiet_length).max(0) as u64;
            let step = active / initial.max(1);
            let jitter = if step > 0 {
                rng::hash(self.seed, &[tag(b"created"), table.spec.id, index]) % step
            } else {
                0
            };
            let at = table.first + (index * step + jitter) as i64;
            return if quiet_length > 0 && at >= table.quiet.0 {
                at + quiet_length
            } else {
                at
            };
        }
        let generation = table.ends.partition_point(|end| *end <= index);
        let before = table.ends[generation - 1];
        let added = (table.ends[generation] - before) as i64;
        let position = (index - before) as i64;
        self.generation_start(generation as u32) + (position + 1) * self.interval / (added + 1)
    }

    fn generation_start(&self, generation: u32) -> i64 {
        self.end + (i64::from(generation) - 1) * self.interval
    }

    /// The status history a contact starts with, derived from the seed.
    fn base_state(&self, table: &ListTable, index: u64, created: i64) -> StatusState {
        if index >= table.spec.contacts {
            return StatusState::ACTIVE;
        }
        let draw = rng::hash(self.seed, &[tag(b"status"), table.spec.id, index]);
        let event = created + 3_600 + ((draw >> 8) % (365 * 86_400)) as i64;
        if event > self.end {
            return StatusState::ACTIVE; // the change lies in the future
        }
        let mut state = StatusState::ACTIVE;
        match draw % 100 {
            0..=77 => {}
            78..=85 => {
                state.status = Status::Unsubscribed;
                state.unsubscribe = Some(event);
            }
            86..=90 => {
                state.status = Status::Bounced;
                state.bounce = Some(event);
            }
            91..=92 => {
                state.status = Status::Complaint;
                state.complaint = Some(event);
            }
            _ => {
                let back = event + 86_400 + ((draw >> 40) % (90 * 86_400)) as i64;
                state.unsubscribe = Some(event);
                if back > self.end {
                    state.status = Status::Unsubscribed;
                } else {
                    state.resubscribe = Some(back);
                }
            }
        }
        state
    }

    /// Contact `index` of `table` as it is now.
    pub(crate) fn view(&self, table: &ListTable, index: u64) -> ContactView {
        let created = self.created(table, index);
        let state = table
            .overlay
            .get(&index)
            .copied()
            .unwrap_or_else(|| self.base_state(table, index, created));
        ContactView {
            list_id: table.spec.id,
            index,
            created,
            state,
        }
    }

    /// The 24-hex-digit id of contact `index` (creation time, noise, masked index), shaped like
    /// OnGage's `5aae312578464ae01f8b4567`.
    pub(crate) fn contact_id(&self, table: &ListTable, index: u64, created: i64) -> String {
        let noise = rng::hash(self.seed, &[tag(b"id-noise"), table.spec.id, index]) & 0xFF_FFFF;
        format!(
            "{:08x}{noise:06x}{:010x}",
            created.clamp(0, i64::from(u32::MAX)) as u32,
            index ^ table.id_mask
        )
    }

    /// The index of the contact with hex `id` in `table`, if it exists.
    pub(crate) fn index_of(&self, table: &ListTable, id: &str) -> Option<u64> {
        let masked = u64::from_str_radix(id.get(14..24)?, 16).ok()?;
        let index = masked ^ table.id_mask;
        (index < table.count() && self.contact_id(table, index, self.created(table, index)) == id)
            .then_some(index)
    }

    /// The first index in `table` whose creation time satisfies the monotone `reached`.
    pub(crate) fn first_index(&self, table: &ListTable, reached: impl Fn(i64) -> bool) -> u64 {
        let (mut lo, mut hi) = (0, table.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if reached(self.created(table, mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// Applies the next generation to every list: status changes on existing contacts, then
    /// new contacts; all chosen by `hash(seed, list, generation, ...)`.
    pub fn advance(&mut self) -> Vec<ContactChange> {
        let generation = self.generation + 1;
        let mut changes = Vec::new();
        for position in 0..self.tables.len() {
            self.advance_list(position, generation, &mut changes);
        }
        self.generation = generation;
        changes
    }

    fn advance_list(&mut self, position: usize, generation: u32, changes: &mut Vec<ContactChange>) {
        let table = &self.tables[position];
        let list_id = table.spec.id;
        let existing = table.count();
        let start = self.generation_start(generation);
        let mut updates = Vec::new();
        for n in 0..if existing > 0 {
            self.changes_per_generation
        } else {
            0
        } {
            let draw = rng::hash(
                self.seed,
                &[tag(b"change"), list_id, u64::from(generation), n],
            );
            let index = draw % existing;
            let view = self.view(table, index);
            let pending = updates
                .iter()
                .rev()
                .find(|(i, _, _)| *i == index)
                .map(|(_, state, _)| *state);
            let mut state = pending.unwrap_or(view.state);
            let at = start + 1 + ((draw >> 20) % (self.interval as u64 - 1)) as i64;
            let kind = match state.status {
                Status::Active => match (draw >> 50) % 100 {
                    0..=59 => {
                        state.status = Status::Unsubscribed;
                        state.unsubscribe = Some(at);
                        ContactChangeKind::Unsubscribed
                    }
                    60..=84 => {
                        state.status = Status::Bounced;
                        state.bounce = Some(at);
                        ContactChangeKind::Bounced
                    }
                    _ => {
                        state.status = Status::Complaint;
                        state.complaint = Some(at);
                        ContactChangeKind::Complained
                    }
                },
                Status::Unsubscribed => {
                    state.status = Status::Active;
                    state.resubscribe = Some(at);
                    ContactChangeKind::Resubscribed
                }
                Status::Bounced | Status::Complaint => continue,
            };
            updates.push((index, state, kind));
        }
        let added = self.new_per_generation;
        let table = &mut self.tables[position];
        for (index, state, _) in &updates {
            table.overlay.insert(*index, *state);
        }
        table.ends.push(existing + added);
        let table = &self.tables[position];
        for (index, _, kind) in updates {
            let id = self.contact_id(table, index, self.created(table, index));
            changes.push(ContactChange { list_id, id, kind });
        }
        for index in existing..existing + added {
            let id = self.contact_id(table, index, self.created(table, index));
            changes.push(ContactChange {
                list_id,
                id,
                kind: ContactChangeKind::Added,
            });
        }
    }
}

impl ListTable {
    /// Contacts ever created.
    pub(crate) fn count(&self) -> u64 {
        *self
            .ends
            .last()
            .expect("ends starts with the initial count")
    }
}

impl crate::simulator::Generational for OngageData {
    type Change = ContactChange;

    fn advance_one(&mut self) -> Vec<ContactChange> {
        self.advance()
    }

    fn generation_number(&self) -> u32 {
        self.generation()
    }
}

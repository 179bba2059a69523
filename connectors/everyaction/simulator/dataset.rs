//! The simulated databases as a pure function of (config, generation).
//!
//! Each database (mode 0 MyVoters, mode 1 MyCampaign) has its own seed, derived from the
//! config's, and its own id ranges. Record `i` of a table is derived from
//! `hash(mode seed, table, i)`; what `advance` did to it lives in a sparse overlay
//! ([`SparseTable`]), so a million people cost only the records that changed. Invariants the
//! export planner relies on:
//! - ids strictly increase with the index, and so does the creation time;
//! - a record the overlay has not touched changed at most twice: when created and once more
//!   at most [`MAX_BASE_DELAY`] later (never after `data_end`); the same bound holds for the
//!   activist codes and survey responses of a person the overlay has not touched;
//! - every change `advance` makes to a record is later than the record's previous change.
//!
//! Times are `Ticks`: 100-nanosecond units since the Unix epoch, the resolution of the API's
//! seven-digit fractional seconds.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::simulator::rng::{self, tag};
use crate::simulator::{SparseTable, Volume};

use super::config::{DatabaseSpec, EveryActionConfig};
pub use super::mode::Mode;

/// 100-nanosecond units since the Unix epoch.
pub(crate) type Ticks = i64;
/// Ticks in one second.
pub(crate) const TICKS_PER_SECOND: i64 = 10_000_000;
/// The latest a never-advanced record's second change may follow its creation: 30 days.
pub(crate) const MAX_BASE_DELAY: Ticks = 30 * 86_400 * TICKS_PER_SECOND;

/// Ticks of a UTC time.
pub(crate) fn ticks_of(time: DateTime<Utc>) -> Ticks {
    time.timestamp()
        .saturating_mul(TICKS_PER_SECOND)
        .saturating_add(i64::from(time.timestamp_subsec_nanos() / 100))
}

/// The UTC time of `ticks` (saturating at the representable range).
pub(crate) fn utc_of(ticks: Ticks) -> DateTime<Utc> {
    let seconds = ticks.div_euclid(TICKS_PER_SECOND);
    let nanos = (ticks.rem_euclid(TICKS_PER_SECOND) * 100) as u32;
    Utc.timestamp_opt(seconds, nanos)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn ticks_of_duration(duration: std::time::Duration) -> Ticks {
    i64::try_from(duration.as_nanos() / 100).unwrap_or(i64::MAX)
}

/// The tables that change between generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Entity {
    Contact,
    Contribution,
    ActivistCode,
    SurveyQuestion,
    Event,
    Code,
    SavedList,
}

impl Entity {
    pub(crate) const ALL: [Entity; 7] = [
        Entity::Contact,
        Entity::Contribution,
        Entity::ActivistCode,
        Entity::SurveyQuestion,
        Entity::Event,
        Entity::Code,
        Entity::SavedList,
    ];

    fn slot(self) -> usize {
        self as usize
    }

    pub(crate) fn tag(self) -> u64 {
        match self {
            Entity::Contact => tag(b"contact"),
            Entity::Contribution => tag(b"contribution"),
            Entity::ActivistCode => tag(b"activist-code"),
            Entity::SurveyQuestion => tag(b"survey-question"),
            Entity::Event => tag(b"event"),
            Entity::Code => tag(b"code"),
            Entity::SavedList => tag(b"saved-list"),
        }
    }

    /// The table name changes are reported under (the API's resource or path name).
    pub(crate) fn table_name(self) -> &'static str {
        match self {
            Entity::Contact => "Contacts",
            Entity::Contribution => "Contributions",
            Entity::ActivistCode => "activistCodes",
            Entity::SurveyQuestion => "surveyQuestions",
            Entity::Event => "events",
            Entity::Code => "codes",
            Entity::SavedList => "savedLists",
        }
    }

    /// Smallest id (MyCampaign) and the stride between consecutive records' ids.
    fn id_layout(self) -> (u64, u64) {
        match self {
            Entity::Contact => (100_000_001, 3),
            Entity::Contribution => (5_000_001, 2),
            Entity::ActivistCode => (4_364_001, 7),
            Entity::SurveyQuestion => (311_801, 5),
            Entity::Event => (1_062, 3),
            Entity::Code => (1_004_901, 4),
            Entity::SavedList => (517_601, 11),
        }
    }

    fn volume(self, spec: &DatabaseSpec) -> Volume {
        match self {
            Entity::Contact => spec.contacts,
            Entity::Contribution => spec.contributions,
            Entity::ActivistCode => spec.activist_codes,
            Entity::SurveyQuestion => spec.survey_questions,
            Entity::Event => spec.events,
            Entity::Code => spec.codes,
            Entity::SavedList => spec.saved_lists,
        }
    }

    /// What "removed" means for this table, the `n`-th removal of a generation.
    fn removal(self, n: u64) -> State {
        match self {
            Entity::Contact if n.is_multiple_of(2) => State::Suppressed,
            Entity::Contact | Entity::Contribution | Entity::Code | Entity::SavedList => {
                State::Deleted
            }
            Entity::ActivistCode | Entity::SurveyQuestion | Entity::Event => State::Archived,
        }
    }
}

/// A record's life state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Live.
    Active,
    /// A suppressed person (kept, marked inactive).
    Suppressed,
    /// Gone (exports show it only with `includeInactive`; lists drop it).
    Deleted,
    /// Still listed with an archived / inactive status (`status: Archived`, `isActive: false`).
    Archived,
}

/// The change types of the changed-entity exports (`ChangeTypeID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeType {
    /// 1: the record was created.
    Created,
    /// 2: the record was edited.
    Updated,
    /// 3: the record was deleted (an applied code or response: removed).
    Deleted,
    /// 4: the person was suppressed.
    Suppressed,
}

impl ChangeType {
    /// The `changeTypeID`.
    pub fn id(self) -> u8 {
        match self {
            ChangeType::Created => 1,
            ChangeType::Updated => 2,
            ChangeType::Deleted => 3,
            ChangeType::Suppressed => 4,
        }
    }

    /// The `changeTypeName`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeType::Created => "Created",
            ChangeType::Updated => "Updated",
            ChangeType::Deleted => "Deleted",
            ChangeType::Suppressed => "Suppressed",
        }
    }

    fn for_state(state: State) -> ChangeType {
        match state {
            State::Active | State::Archived => ChangeType::Updated,
            State::Suppressed => ChangeType::Suppressed,
            State::Deleted => ChangeType::Deleted,
        }
    }
}

/// The two kinds of rows hanging off a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChildKind {
    /// A ContactsActivistCodes row.
    ActivistCode,
    /// A ContactsSurveyResponses row.
    SurveyResponse,
}

impl ChildKind {
    fn tag(self) -> u64 {
        match self {
            ChildKind::ActivistCode => tag(b"child-activist-code"),
            ChildKind::SurveyResponse => tag(b"child-survey-response"),
        }
    }

    /// Row ids of base rows start here (MyCampaign); rows applied by `advance` use
    /// `advanced_base + generation · 100 000 + n`.
    fn id_bases(self) -> (u64, u64) {
        match self {
            ChildKind::ActivistCode => (30_000_000_001, 39_000_000_001),
            ChildKind::SurveyResponse => (50_000_000_001, 59_000_000_001),
        }
    }

    /// Base rows per person are `0..MAX_BASE_ROWS`.
    const MAX_BASE_ROWS: u64 = 4;
}

/// What `advance` did to one applied code or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildChange {
    pub(crate) kind: ChildKind,
    pub(crate) row_id: u64,
    pub(crate) at: Ticks,
    /// `Some((item, answer))` for a new row, `None` for the removal of row `row_id`.
    pub(crate) applied: Option<(u64, u64)>,
}

/// What `advance` changed about one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overlay {
    /// Edits so far; mutable fields derive from it.
    pub(crate) version: u32,
    /// Changes made by `advance`, ascending in time.
    pub(crate) history: Vec<(Ticks, ChangeType)>,
    /// The state set by `advance`, replacing the derived one.
    pub(crate) state: Option<State>,
    /// Codes and responses applied to or removed from this person.
    pub(crate) children: Vec<ChildChange>,
}

/// Everything known about one record now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) index: u64,
    pub(crate) id: u64,
    pub(crate) created: Ticks,
    /// The latest change.
    pub(crate) changed: Ticks,
    pub(crate) change: ChangeType,
    pub(crate) state: State,
    pub(crate) version: u32,
}

/// One ContactsActivistCodes / ContactsSurveyResponses row now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildRow {
    pub(crate) kind: ChildKind,
    pub(crate) row_id: u64,
    pub(crate) contact: u64,
    /// Activist code index, or survey question index.
    pub(crate) item: u64,
    /// Survey response position within the question (0 for activist codes).
    pub(crate) answer: u64,
    pub(crate) created: Ticks,
    pub(crate) removed: Option<Ticks>,
}

impl ChildRow {
    pub(crate) fn changed(&self) -> Ticks {
        self.removed.unwrap_or(self.created)
    }

    pub(crate) fn change(&self) -> ChangeType {
        match self.removed {
            Some(_) => ChangeType::Deleted,
            None => ChangeType::Created,
        }
    }

    pub(crate) fn changed_between(&self, from: Ticks, to: Ticks) -> bool {
        (from..=to).contains(&self.created)
            || self.removed.is_some_and(|at| (from..=to).contains(&at))
    }
}

/// One change made by `advance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The database.
    pub mode: Mode,
    /// The table (`Contacts`, `Contributions`, `ContactsActivistCodes`,
    /// `ContactsSurveyResponses`, or a list path such as `activistCodes`).
    pub table: &'static str,
    /// The record's id (a row id for the two per-person tables).
    pub id: u64,
    /// What happened.
    pub kind: ChangeKind,
}

/// What one `advance` did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created in this generation.
    Added,
    /// Edited.
    Modified,
    /// A person suppressed.
    Suppressed,
    /// Deleted (or an applied code / response removed).
    Deleted,
    /// Archived or cancelled (still listed).
    Archived,
}

/// The settings that shape data (as opposed to server behaviour).
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) start: Ticks,
    pub(crate) end: Ticks,
    pub(crate) interval: Ticks,
    pub(crate) offset_minutes: i32,
}

impl Params {
    fn generation_start(&self, generation: u32) -> Ticks {
        self.end + (i64::from(generation) - 1) * self.interval
    }
}

/// One database at one generation. Cloning copies only the sparse overlays.
#[derive(Debug, Clone)]
pub struct ModeData {
    pub(crate) mode: Mode,
    pub(crate) seed: u64,
    pub(crate) spec: Arc<DatabaseSpec>,
    pub(crate) params: Arc<Params>,
    tables: [SparseTable<Overlay>; 7],
}

/// Both databases at one generation.
#[derive(Debug, Clone)]
pub struct EveryActionData {
    generation: u32,
    modes: [ModeData; 2],
}

impl EveryActionData {
    /// The databases described by `config`, at generation 0.
    pub fn new(config: &EveryActionConfig) -> Self {
        let start = ticks_of(config.data_start);
        let params = Arc::new(Params {
            start,
            end: ticks_of(config.data_end).max(start),
            interval: ticks_of_duration(config.generation_interval).max(2 * TICKS_PER_SECOND),
            offset_minutes: config.utc_offset_minutes,
        });
        let modes = Mode::ALL.map(|mode| {
            let spec = Arc::new(config.database(mode).clone());
            ModeData {
                mode,
                seed: rng::hash(config.seed, &[tag(b"mode"), u64::from(mode.code())]),
                tables: Entity::ALL.map(|entity| SparseTable::new(entity.volume(&spec).initial)),
                spec,
                params: Arc::clone(&params),
            }
        });
        Self {
            generation: 0,
            modes,
        }
    }

    /// Generations applied so far.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The database reached with `mode`.
    pub fn database(&self, mode: Mode) -> &ModeData {
        &self.modes[mode.slot()]
    }

    /// Applies the next generation to both databases; returns the changes.
    pub fn advance(&mut self) -> Vec<Change> {
        let generation = self.generation + 1;
        let mut changes = Vec::new();
        for data in &mut self.modes {
            data.advance(generation, &mut changes);
        }
        self.generation = generation;
        changes
    }
}

impl crate::simulator::Generational for EveryActionData {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.advance()
    }

    fn generation_number(&self) -> u32 {
        self.generation()
    }
}

impl ModeData {
    /// The database's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The database's UTC offset in minutes (timestamps are written in it).
    pub(crate) fn offset(&self) -> i32 {
        self.params.offset_minutes
    }

    /// People ever created (deleted ones included).
    pub fn people_ever_created(&self) -> u64 {
        self.count(Entity::Contact)
    }

    /// Overlay entries over every table: the only per-record memory this database holds.
    pub fn overlay_len(&self) -> usize {
        self.tables.iter().map(SparseTable::overlay_len).sum()
    }

    pub(crate) fn table(&self, entity: Entity) -> &SparseTable<Overlay> {
        &self.tables[entity.slot()]
    }

    pub(crate) fn count(&self, entity: Entity) -> u64 {
        self.table(entity).count()
    }

    pub(crate) fn hash(&self, parts: &[u64]) -> u64 {
        rng::hash(self.seed, parts)
    }

    pub(crate) fn rng(&self, parts: &[u64]) -> rng::SeededRng {
        rng::SeededRng::new(self.seed, parts)
    }

    /// The id of record `index`.
    pub(crate) fn id(&self, entity: Entity, index: u64) -> u64 {
        let (base, stride) = entity.id_layout();
        let jitter = self.hash(&[entity.tag(), tag(b"id"), index]) % stride;
        base + id_offset(self.mode, entity) + index * stride + jitter
    }

    /// The index of the record with `id`, if it was ever created.
    pub(crate) fn index_of(&self, entity: Entity, id: u64) -> Option<u64> {
        let (base, stride) = entity.id_layout();
        let index = id.checked_sub(base + id_offset(self.mode, entity))? / stride;
        (index < self.count(entity) && self.id(entity, index) == id).then_some(index)
    }

    /// Record `index`'s creation time; strictly increases with the index.
    pub(crate) fn created(&self, entity: Entity, index: u64) -> Ticks {
        let p = &self.params;
        let Some(origin) = self.table(entity).origin(index) else {
            return p.end;
        };
        let (from, span) = match origin.generation {
            0 => (p.start, p.end - p.start),
            g => (p.generation_start(g), p.interval),
        };
        let step = (span / origin.created.max(1) as i64).max(1);
        let jitter = self.hash(&[entity.tag(), tag(b"created"), index]) % step as u64;
        from + origin.position as i64 * step + jitter as i64
    }

    /// The first index created at or after `at` (the count if none).
    pub(crate) fn first_created_at_or_after(&self, entity: Entity, at: Ticks) -> u64 {
        let (mut lo, mut hi) = (0, self.count(entity));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.created(entity, mid) < at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The base edit of an initial record: when, and the state it left (people and
    /// contributions can start suppressed or deleted). `None` if it was never edited.
    fn base_edit(&self, entity: Entity, index: u64, created: Ticks) -> Option<(Ticks, State)> {
        if index >= self.table(entity).initial() {
            return None;
        }
        let draw = self.hash(&[entity.tag(), tag(b"edited"), index]);
        if draw % 100 >= 50 {
            return None;
        }
        let at = created + self.base_delay(created, draw >> 8)?;
        let roll = (draw >> 40) % 100;
        let state = match entity {
            Entity::Contact if roll < 4 => State::Suppressed,
            Entity::Contact if roll < 7 => State::Deleted,
            Entity::Contribution if roll < 3 => State::Deleted,
            _ => State::Active,
        };
        Some((at, state))
    }

    /// A delay after `created` for a base change, drawn from `draw`: at most
    /// [`MAX_BASE_DELAY`], never reaching `data_end` (`None` if there is no room).
    fn base_delay(&self, created: Ticks, draw: u64) -> Option<Ticks> {
        let room = (self.params.end - created).min(MAX_BASE_DELAY);
        (room > 1).then(|| 1 + (draw % (room - 1) as u64) as i64)
    }

    /// Everything known about record `index` now.
    pub(crate) fn view(&self, entity: Entity, index: u64) -> View {
        let created = self.created(entity, index);
        let base = self.base_edit(entity, index, created);
        let (mut changed, mut change, mut state) = match base {
            Some((at, state)) => (at, ChangeType::for_state(state), state),
            None => (created, ChangeType::Created, State::Active),
        };
        let overlay = self.table(entity).overlay(index);
        if let Some(overlay) = overlay {
            if let Some((at, kind)) = overlay.history.last() {
                changed = *at;
                change = *kind;
            }
            state = overlay.state.unwrap_or(state);
        }
        View {
            index,
            id: self.id(entity, index),
            created,
            changed,
            change,
            state,
            version: overlay.map_or(0, |o| o.version),
        }
    }

    /// Whether record `index` changed (was created or edited) between `from` and `to`.
    pub(crate) fn changed_between(
        &self,
        entity: Entity,
        index: u64,
        from: Ticks,
        to: Ticks,
    ) -> bool {
        let window = from..=to;
        let created = self.created(entity, index);
        if window.contains(&created) {
            return true;
        }
        if self
            .base_edit(entity, index, created)
            .is_some_and(|(at, _)| window.contains(&at))
        {
            return true;
        }
        self.table(entity)
            .overlay(index)
            .is_some_and(|o| o.history.iter().any(|(at, _)| window.contains(at)))
    }

    /// The person a contribution belongs to (an index), if the database has people.
    pub(crate) fn contribution_contact(&self, index: u64) -> Option<u64> {
        let contacts = self.table(Entity::Contact);
        if contacts.initial() == 0 && contacts.count() == 0 {
            return None;
        }
        let draw = self.hash(&[tag(b"contribution-contact"), index]);
        let origin = self.table(Entity::Contribution).origin(index)?;
        let bound = match origin.generation {
            0 => {
                let contributions = self.table(Entity::Contribution).initial().max(1);
                let proportional = (u128::from(index + 1) * u128::from(contacts.initial())
                    / u128::from(contributions)) as u64;
                proportional.clamp(1, contacts.initial().max(1))
            }
            g => contacts.count_after(g).max(1),
        };
        Some(draw % bound)
    }

    /// Activist codes (or survey questions) a child row may refer to: the initial ones.
    fn child_items(&self, kind: ChildKind) -> u64 {
        match kind {
            ChildKind::ActivistCode => self.table(Entity::ActivistCode).initial(),
            ChildKind::SurveyResponse => self.table(Entity::SurveyQuestion).initial(),
        }
    }

    /// Responses of survey question `question` (2 to 5).
    pub(crate) fn responses_of(&self, question: u64) -> u64 {
        2 + self.hash(&[tag(b"responses"), question]) % 4
    }

    fn child_row_id(&self, kind: ChildKind, contact: u64, k: u64) -> u64 {
        let offset = match self.mode {
            Mode::MyCampaign => 0,
            Mode::MyVoters => 100_000_000_000,
        };
        kind.id_bases().0 + offset + contact * ChildKind::MAX_BASE_ROWS + k
    }

    fn advanced_child_row_id(&self, kind: ChildKind, generation: u32, n: u64) -> u64 {
        let offset = match self.mode {
            Mode::MyCampaign => 0,
            Mode::MyVoters => 100_000_000_000,
        };
        kind.id_bases().1 + offset + u64::from(generation) * 100_000 + n
    }

    /// The person's `kind` rows now (removed ones included), in row-id order of application.
    pub(crate) fn child_rows(&self, kind: ChildKind, contact: u64) -> Vec<ChildRow> {
        let mut rows = Vec::new();
        let items = self.child_items(kind);
        let table = self.table(Entity::Contact);
        if items > 0 && contact < table.initial() {
            let created = self.created(Entity::Contact, contact);
            let mut draws = self.rng(&[kind.tag(), contact]);
            let n = draws.below(ChildKind::MAX_BASE_ROWS);
            for k in 0..n {
                let item = draws.below(items);
                let answer = match kind {
                    ChildKind::ActivistCode => 0,
                    ChildKind::SurveyResponse => draws.below(self.responses_of(item)),
                };
                let Some(delay) = self.base_delay(created, draws.next_u64()) else {
                    continue;
                };
                rows.push(ChildRow {
                    kind,
                    row_id: self.child_row_id(kind, contact, k),
                    contact,
                    item,
                    answer,
                    created: created + delay,
                    removed: None,
                });
            }
        }
        if let Some(overlay) = table.overlay(contact) {
            for change in overlay.children.iter().filter(|c| c.kind == kind) {
                match change.applied {
                    Some((item, answer)) => rows.push(ChildRow {
                        kind,
                        row_id: change.row_id,
                        contact,
                        item,
                        answer,
                        created: change.at,
                        removed: None,
                    }),
                    None => {
                        if let Some(row) = rows.iter_mut().find(|r| r.row_id == change.row_id) {
                            row.removed = Some(change.at);
                        }
                    }
                }
            }
        }
        rows
    }

    /// Touched indices of `entity` below `end`, ascending.
    pub(crate) fn overlay_indices_below(
        &self,
        entity: Entity,
        end: u64,
    ) -> impl Iterator<Item = u64> + '_ {
        self.table(entity)
            .overlay_range(..end)
            .map(|(index, _)| index)
    }

    fn advance(&mut self, generation: u32, changes: &mut Vec<Change>) {
        for entity in Entity::ALL {
            self.advance_entity(entity, generation, changes);
        }
        self.advance_children(generation, changes);
    }

    /// A time in generation `generation`'s interval, drawn from `parts`.
    fn time_in(&self, generation: u32, parts: &[u64]) -> Ticks {
        let p = &self.params;
        let room = (p.interval - 2 * TICKS_PER_SECOND).max(1) as u64;
        p.generation_start(generation) + TICKS_PER_SECOND + (self.hash(parts) % room) as i64
    }

    fn advance_entity(&mut self, entity: Entity, generation: u32, changes: &mut Vec<Change>) {
        let volume = entity.volume(&self.spec);
        let existing = self.count(entity);
        let g = u64::from(generation);
        let mode = self.mode;
        let mut report = |id: u64, kind: ChangeKind| {
            changes.push(Change {
                mode,
                table: entity.table_name(),
                id,
                kind,
            });
        };
        if existing > 0 {
            for n in 0..volume.modified_per_generation {
                let index = self.hash(&[entity.tag(), tag(b"modify"), g, n]) % existing;
                let at = self.time_in(generation, &[entity.tag(), tag(b"modify-at"), g, n]);
                if self.change(entity, index, at, State::Active) {
                    report(self.id(entity, index), ChangeKind::Modified);
                }
            }
            for n in 0..volume.removed_per_generation {
                let index = self.hash(&[entity.tag(), tag(b"remove"), g, n]) % existing;
                let at = self.time_in(generation, &[entity.tag(), tag(b"remove-at"), g, n]);
                let state = entity.removal(n);
                if self.change(entity, index, at, state) {
                    let kind = match state {
                        State::Suppressed => ChangeKind::Suppressed,
                        State::Deleted => ChangeKind::Deleted,
                        State::Archived | State::Active => ChangeKind::Archived,
                    };
                    report(self.id(entity, index), kind);
                }
            }
        }
        let added = self.tables[entity.slot()].grow(volume.added_per_generation);
        for index in added {
            report(self.id(entity, index), ChangeKind::Added);
        }
    }

    /// Edits live record `index` at `at`, leaving it in `state`; a no-op (false) on a record
    /// that is no longer active.
    fn change(&mut self, entity: Entity, index: u64, at: Ticks, state: State) -> bool {
        let view = self.view(entity, index);
        if view.state != State::Active {
            return false;
        }
        let at = at.max(view.changed + 1);
        let overlay = self.tables[entity.slot()].overlay_mut(index);
        overlay.version += 1;
        overlay.history.push((at, ChangeType::for_state(state)));
        if state != State::Active {
            overlay.state = Some(state);
        }
        true
    }

    fn advance_children(&mut self, generation: u32, changes: &mut Vec<Change>) {
        let people = self.table(Entity::Contact).count_after(generation - 1);
        let g = u64::from(generation);
        if people == 0 {
            return;
        }
        for n in 0..self.spec.child_changes_per_generation {
            let kind = if n % 2 == 0 {
                ChildKind::ActivistCode
            } else {
                ChildKind::SurveyResponse
            };
            let items = self.child_items(kind);
            if items == 0 {
                continue;
            }
            let first = self.hash(&[kind.tag(), tag(b"child-contact"), g, n]) % people;
            // Every other pair of changes removes a row, from the first of the next few
            // people that has a live one; otherwise a row is applied.
            let removal = ((n / 2) % 2 == 1)
                .then(|| {
                    (0..people.min(16)).find_map(|k| {
                        let contact = (first + k) % people;
                        let rows = self.child_rows(kind, contact);
                        let live = rows.into_iter().find(|row| row.removed.is_none())?;
                        Some((contact, live))
                    })
                })
                .flatten();
            let (contact, removable) = match removal {
                Some((contact, row)) => (contact, Some(row)),
                None => (first, None),
            };
            let rows = self.child_rows(kind, contact);
            let at = rows.iter().map(ChildRow::changed).fold(
                self.time_in(generation, &[kind.tag(), tag(b"child-at"), g, n])
                    .max(self.created(Entity::Contact, contact) + 1),
                |at, last| at.max(last + 1),
            );
            let (change, reported) = match removable {
                Some(row) => (
                    ChildChange {
                        kind,
                        row_id: row.row_id,
                        at,
                        applied: None,
                    },
                    ChangeKind::Deleted,
                ),
                None => {
                    let mut draws = self.rng(&[kind.tag(), tag(b"child-item"), g, n]);
                    let item = draws.below(items);
                    let answer = match kind {
                        ChildKind::ActivistCode => 0,
                        ChildKind::SurveyResponse => draws.below(self.responses_of(item)),
                    };
                    (
                        ChildChange {
                            kind,
                            row_id: self.advanced_child_row_id(kind, generation, n),
                            at,
                            applied: Some((item, answer)),
                        },
                        ChangeKind::Added,
                    )
                }
            };
            self.tables[Entity::Contact.slot()]
                .overlay_mut(contact)
                .children
                .push(change);
            changes.push(Change {
                mode: self.mode,
                table: match kind {
                    ChildKind::ActivistCode => "ContactsActivistCodes",
                    ChildKind::SurveyResponse => "ContactsSurveyResponses",
                },
                id: change.row_id,
                kind: reported,
            });
        }
    }
}

/// Added to every id of `mode`'s database, so the two databases never share an id.
fn id_offset(mode: Mode, entity: Entity) -> u64 {
    match (mode, entity) {
        (Mode::MyCampaign, _) => 0,
        (Mode::MyVoters, Entity::Contact) => 800_000_000,
        (Mode::MyVoters, _) => 3_000_000,
    }
}

//! The simulated organisation's records as a pure function of (config, generation).
//!
//! Record `i` of an entity is derived from `hash(seed, entity, i)`; nothing per record is
//! stored. Changes made by `advance` live in a sparse overlay (one small entry per touched
//! record), so a million-contact organisation costs a few kilobytes. Invariants the query
//! planner relies on:
//! - ids strictly increase with the index (`id(i) ∈ [base + 3i, base + 3i + 2]`, with gaps);
//! - the whole-second part of `createDateTimeUtc` never decreases with the index;
//! - `modifiedDateTimeUtc ≥ createDateTimeUtc`, and for records the overlay has not touched
//!   `modified ≤ created + MAX_BASE_EDIT_DELAY`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::simulator::rng::{self, tag};

use super::config::{VirtuousConfig, Volume};
pub use super::entity::Entity;

/// How far a never-edited-by-`advance` record's last modification may trail its creation.
pub(crate) const MAX_BASE_EDIT_DELAY_MS: i64 = 90 * 86_400 * 1000;

/// How a record's timestamps are written (the live API mixes these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimestampStyle {
    /// `2024-01-15T09:23:00Z`
    Zulu,
    /// `2024-01-15T09:23:00`
    Bare,
    /// `2024-01-15T09:23:00.12` (trailing zeros trimmed, no zone)
    BareFraction,
    /// `2024-01-15T09:23:00.120Z`
    ZuluFraction,
}

impl TimestampStyle {
    fn has_fraction(self) -> bool {
        matches!(
            self,
            TimestampStyle::BareFraction | TimestampStyle::ZuluFraction
        )
    }

    /// Formats `ms` (Unix milliseconds) in this style.
    pub(crate) fn format(self, ms: i64) -> String {
        let time = utc_ms(ms);
        // Every record is rendered with two timestamps: by hand, for four-digit years, they cost a
        // fifth of chrono's strftime, which parses its pattern on every call (callgrind, the README's
        // main job: 1.20 G -> 0.24 G instructions).
        if let Some(text) = self.format_by_hand(time) {
            return text;
        }
        self.format_with_chrono(time)
    }

    fn format_by_hand(self, time: DateTime<Utc>) -> Option<String> {
        use chrono::{Datelike, Timelike};
        let year = u32::try_from(time.year()).ok().filter(|y| *y <= 9999)?;
        let millis = time.timestamp_subsec_millis();
        if millis > 999 {
            return None; // a leap second
        }
        let mut text = String::with_capacity(24);
        push_digits(&mut text, year, 4);
        let parts = [
            time.month(),
            time.day(),
            time.hour(),
            time.minute(),
            time.second(),
        ];
        for (part, separator) in parts.into_iter().zip(['-', '-', 'T', ':', ':']) {
            text.push(separator);
            push_digits(&mut text, part, 2);
        }
        if self.has_fraction() {
            text.push('.');
            push_digits(&mut text, millis, 3);
        }
        match self {
            TimestampStyle::Zulu | TimestampStyle::ZuluFraction => text.push('Z'),
            TimestampStyle::BareFraction => {
                let kept = text.trim_end_matches('0').trim_end_matches('.').len();
                text.truncate(kept);
            }
            TimestampStyle::Bare => {}
        }
        Some(text)
    }

    fn format_with_chrono(self, time: DateTime<Utc>) -> String {
        match self {
            TimestampStyle::Zulu => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            TimestampStyle::Bare => time.format("%Y-%m-%dT%H:%M:%S").to_string(),
            TimestampStyle::ZuluFraction => time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            TimestampStyle::BareFraction => {
                let text = time.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
                text.trim_end_matches('0').trim_end_matches('.').to_owned()
            }
        }
    }
}

/// `time`'s date as chrono's `%Y-%m-%d` writes it (by hand for four-digit years: see
/// [`TimestampStyle::format`]).
pub(crate) fn iso_day(time: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let Some(year) = u32::try_from(time.year()).ok().filter(|y| *y <= 9999) else {
        return time.format("%Y-%m-%d").to_string();
    };
    let mut text = String::with_capacity(10);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, time.month(), 2);
    text.push('-');
    push_digits(&mut text, time.day(), 2);
    text
}

/// `time`'s date as chrono's `%m/%d/%Y` writes it.
pub(crate) fn us_day(time: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let Some(year) = u32::try_from(time.year()).ok().filter(|y| *y <= 9999) else {
        return time.format("%m/%d/%Y").to_string();
    };
    let mut text = String::with_capacity(10);
    push_digits(&mut text, time.month(), 2);
    text.push('/');
    push_digits(&mut text, time.day(), 2);
    text.push('/');
    push_digits(&mut text, year, 4);
    text
}

/// Appends `n` as `width` decimal digits, zero-padded (`n` must fit).
fn push_digits(text: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        text.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
    }
}

/// Unix milliseconds to a UTC time (saturating at the representable range).
pub(crate) fn utc_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What `advance` changed about one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overlay {
    /// Edits so far; mutable fields are derived from it.
    pub(crate) version: u32,
    /// The latest edit time, replacing the derived one.
    pub(crate) modified_ms: Option<i64>,
    /// Archived (contacts) by an edit.
    pub(crate) archived: bool,
    /// Hard-deleted (gifts).
    pub(crate) deleted: bool,
}

/// One entity's records at one generation.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    volume: Volume,
    /// `ends[g]` = number of records after generation `g` (`ends[0]` = initial).
    ends: Vec<u64>,
    overlay: BTreeMap<u64, Overlay>,
}

/// The current facts about one record, everything the planner and renderer need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordView {
    pub(crate) entity: Entity,
    pub(crate) index: u64,
    pub(crate) id: u64,
    pub(crate) created_ms: i64,
    pub(crate) modified_ms: i64,
    pub(crate) version: u32,
    pub(crate) archived: bool,
    pub(crate) deleted: bool,
    pub(crate) style: TimestampStyle,
}

/// The settings that shape data (as opposed to server behaviour).
#[derive(Debug, Clone)]
pub(crate) struct DataParams {
    pub(crate) seed: u64,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) interval_ms: i64,
    pub(crate) archived_every: u64,
}

/// What one `advance` did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created in this generation.
    Added,
    /// Edited (`modifiedDateTimeUtc` bumped).
    Modified,
    /// Contact archived (`isArchived` true, `modifiedDateTimeUtc` bumped).
    Archived,
    /// Gift hard-deleted (gone from every query).
    Deleted,
}

/// One change made by `advance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The entity.
    pub entity: Entity,
    /// The record's id.
    pub id: u64,
    /// What happened.
    pub kind: ChangeKind,
}

/// The whole organisation at one generation. Cloning copies only the sparse overlays.
#[derive(Debug, Clone)]
pub struct VirtuousData {
    pub(crate) params: Arc<DataParams>,
    generation: u32,
    tables: [Table; 4],
}

impl VirtuousData {
    /// The organisation described by `config`, at generation 0.
    pub fn new(config: &VirtuousConfig) -> Self {
        let params = DataParams {
            seed: config.seed,
            start_ms: config.data_start.timestamp_millis(),
            end_ms: config
                .data_end
                .timestamp_millis()
                .max(config.data_start.timestamp_millis()),
            interval_ms: i64::try_from(config.generation_interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1000),
            archived_every: config.archived_every,
        };
        let tables = Entity::ALL.map(|entity| Table {
            volume: config.volume(entity),
            ends: vec![config.volume(entity).initial],
            overlay: BTreeMap::new(),
        });
        Self {
            params: Arc::new(params),
            generation: 0,
            tables,
        }
    }

    /// Generations applied so far.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Records of `entity` ever created, deleted ones included.
    pub fn count(&self, entity: Entity) -> u64 {
        self.table(entity).count()
    }

    /// Records of `entity` at generation 0.
    pub fn initial(&self, entity: Entity) -> u64 {
        self.table(entity).volume.initial
    }

    /// Overlay entries held for `entity`: the only per-record memory the simulator uses.
    pub fn overlay_len(&self, entity: Entity) -> usize {
        self.table(entity).overlay.len()
    }

    /// Simulated end of the current generation ("now" for the data).
    pub fn data_now(&self) -> DateTime<Utc> {
        utc_ms(self.generation_end_ms(self.generation))
    }

    pub(crate) fn seed(&self) -> u64 {
        self.params.seed
    }

    pub(crate) fn table(&self, entity: Entity) -> &Table {
        &self.tables[entity.slot()]
    }

    /// The id of record `index`.
    pub(crate) fn id(&self, entity: Entity, index: u64) -> u64 {
        let jitter = rng::hash(self.seed(), &[entity.tag(), tag(b"id"), index]) % 3;
        entity.id_base() + index * 3 + jitter
    }

    /// The index of the record with `id`, if such a record was ever created.
    pub fn index_of(&self, entity: Entity, id: u64) -> Option<u64> {
        let index = id.checked_sub(entity.id_base())? / 3;
        (index < self.count(entity) && self.id(entity, index) == id).then_some(index)
    }

    /// The first index whose id is at least `id` (the count if none).
    pub(crate) fn first_index_with_id_at_least(&self, entity: Entity, id: i64) -> u64 {
        let count = self.count(entity);
        let Some(offset) = u64::try_from(id)
            .ok()
            .and_then(|id| id.checked_sub(entity.id_base()))
        else {
            return 0;
        };
        let index = offset / 3;
        if index >= count {
            return count;
        }
        if self.id(entity, index) >= offset + entity.id_base() {
            index
        } else {
            (index + 1).min(count)
        }
    }

    /// The whole-second part of record `index`'s creation time, in ms; never decreases with the
    /// index.
    pub(crate) fn created_floor_ms(&self, entity: Entity, index: u64) -> i64 {
        let table = self.table(entity);
        let initial = table.volume.initial;
        let p = &self.params;
        if index < initial {
            let span_secs = ((p.end_ms - p.start_ms) / 1000).max(0) as u64;
            let step = span_secs / initial.max(1);
            let jitter = if step > 0 {
                rng::hash(p.seed, &[entity.tag(), tag(b"created"), index]) % step
            } else {
                0
            };
            let offset = (index * step + jitter) as i64;
            return (p.start_ms / 1000 + offset) * 1000;
        }
        // Added by generation g (1-based): spread evenly over that generation's interval.
        let generation = table.ends.partition_point(|end| *end <= index);
        let before = table.ends[generation - 1];
        let added = table.ends[generation] - before;
        let position = index - before;
        let interval_secs = p.interval_ms / 1000;
        let offset = (position as i64 + 1) * interval_secs / (added as i64 + 1);
        self.generation_start_ms(generation as u32) + offset * 1000
    }

    fn style(&self, entity: Entity, index: u64) -> TimestampStyle {
        match rng::hash(self.seed(), &[entity.tag(), tag(b"style"), index]) % 4 {
            0 => TimestampStyle::Zulu,
            1 => TimestampStyle::Bare,
            2 => TimestampStyle::BareFraction,
            _ => TimestampStyle::ZuluFraction,
        }
    }

    /// Milliseconds added to a whole-second timestamp of a record written with fractions.
    fn fraction_ms(&self, style: TimestampStyle, entity: Entity, index: u64, what: u64) -> i64 {
        if !style.has_fraction() {
            return 0;
        }
        1 + (rng::hash(self.seed(), &[entity.tag(), tag(b"fraction"), index, what]) % 999) as i64
    }

    fn base_modified_ms(&self, entity: Entity, index: u64, created_ms: i64) -> i64 {
        if index >= self.table(entity).volume.initial {
            return created_ms;
        }
        let draw = rng::hash(self.seed(), &[entity.tag(), tag(b"edited"), index]);
        if draw % 100 < 55 {
            return created_ms; // never edited after creation
        }
        let delay_ms = ((draw >> 8) % (MAX_BASE_EDIT_DELAY_MS as u64 / 1000)) as i64 * 1000;
        (created_ms + delay_ms)
            .min(self.params.end_ms)
            .max(created_ms)
    }

    /// Whether initial contact `index` starts archived: every n-th, offset by the seed, so
    /// counts over an index range are arithmetic.
    pub(crate) fn base_archived(&self, entity: Entity, index: u64) -> bool {
        let every = self.params.archived_every;
        entity == Entity::Contact
            && every > 0
            && index < self.table(entity).volume.initial
            && (index + self.seed() % every).is_multiple_of(every)
    }

    /// Initial contacts in `lo..hi` that start archived.
    pub(crate) fn base_archived_in(&self, entity: Entity, lo: u64, hi: u64) -> u64 {
        let every = self.params.archived_every;
        if entity != Entity::Contact || every == 0 {
            return 0;
        }
        let hi = hi.min(self.table(entity).volume.initial);
        if hi <= lo {
            return 0;
        }
        // Indices i with (i + offset) % every == 0, i.e. i ≡ first (mod every).
        let first = (every - self.seed() % every) % every;
        let below = |n: u64| {
            if n > first {
                (n - first - 1) / every + 1
            } else {
                0
            }
        };
        below(hi) - below(lo)
    }

    /// Everything known about record `index` now.
    pub(crate) fn view(&self, entity: Entity, index: u64) -> RecordView {
        let style = self.style(entity, index);
        let created_ms = self.created_floor_ms(entity, index)
            + self.fraction_ms(style, entity, index, tag(b"created"));
        let overlay = self.table(entity).overlay.get(&index);
        let base_modified = self.base_modified_ms(entity, index, created_ms);
        RecordView {
            entity,
            index,
            id: self.id(entity, index),
            created_ms,
            modified_ms: overlay.and_then(|o| o.modified_ms).unwrap_or(base_modified),
            version: overlay.map_or(0, |o| o.version),
            archived: overlay.is_some_and(|o| o.archived) || self.base_archived(entity, index),
            deleted: overlay.is_some_and(|o| o.deleted),
            style,
        }
    }

    /// Overlay indices of `entity` in `range`, ascending.
    pub(crate) fn overlay_indices(
        &self,
        entity: Entity,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.table(entity)
            .overlay
            .range(range)
            .map(|(index, _)| *index)
    }

    fn generation_start_ms(&self, generation: u32) -> i64 {
        self.params.end_ms + (i64::from(generation) - 1) * self.params.interval_ms
    }

    fn generation_end_ms(&self, generation: u32) -> i64 {
        self.params.end_ms + i64::from(generation) * self.params.interval_ms
    }

    /// Applies the next generation: edits, archives/deletes, then additions, each chosen by
    /// `hash(seed, entity, generation, ...)`, so the same generation always makes the same
    /// changes. Returns the changes.
    pub fn advance(&mut self) -> Vec<Change> {
        let generation = self.generation + 1;
        let mut changes = Vec::new();
        for entity in Entity::ALL {
            self.advance_entity(entity, generation, &mut changes);
        }
        self.generation = generation;
        changes
    }

    fn advance_entity(&mut self, entity: Entity, generation: u32, changes: &mut Vec<Change>) {
        let volume = self.table(entity).volume;
        let existing = self.count(entity);
        let seed = self.seed();
        let pick = |kind: &[u8], n: u64| {
            rng::hash(seed, &[entity.tag(), tag(kind), u64::from(generation), n])
        };
        if existing > 0 {
            for n in 0..volume.modified_per_generation {
                let index = pick(b"modify", n) % existing;
                if self.edit(entity, index, generation, n, false) {
                    let id = self.id(entity, index);
                    changes.push(Change {
                        entity,
                        id,
                        kind: ChangeKind::Modified,
                    });
                }
            }
            let removal = match entity {
                Entity::Contact => Some(ChangeKind::Archived),
                Entity::Gift => Some(ChangeKind::Deleted),
                _ => None,
            };
            for n in 0..removal.map_or(0, |_| volume.removed_per_generation) {
                let index = pick(b"remove", n) % existing;
                let kind = removal.expect("checked above");
                let salt = volume.modified_per_generation + n;
                let applied = match kind {
                    ChangeKind::Archived => self.edit(entity, index, generation, salt, true),
                    _ => self.delete(entity, index),
                };
                if applied {
                    let id = self.id(entity, index);
                    changes.push(Change { entity, id, kind });
                }
            }
        }
        let table = &mut self.tables[entity.slot()];
        table.ends.push(existing + volume.added_per_generation);
        for index in existing..existing + volume.added_per_generation {
            let id = self.id(entity, index);
            changes.push(Change {
                entity,
                id,
                kind: ChangeKind::Added,
            });
        }
    }

    /// Edits a live record, archiving it too when `archive` is set (a no-op on a contact that
    /// is archived already): bumps its version and moves its modification time into this
    /// generation's interval.
    fn edit(
        &mut self,
        entity: Entity,
        index: u64,
        generation: u32,
        salt: u64,
        archive: bool,
    ) -> bool {
        let view = self.view(entity, index);
        if view.deleted || (archive && view.archived) {
            return false;
        }
        let interval_secs = (self.params.interval_ms / 1000).max(2) as u64;
        let draw = rng::hash(
            self.seed(),
            &[entity.tag(), tag(b"edit-time"), u64::from(generation), salt],
        );
        let at_ms = self.generation_start_ms(generation)
            + (1 + draw % (interval_secs - 1)) as i64 * 1000
            + self.fraction_ms(view.style, entity, index, u64::from(generation) ^ salt);
        let previous = self
            .table(entity)
            .overlay
            .get(&index)
            .cloned()
            .unwrap_or_default();
        let overlay = Overlay {
            version: previous.version + 1,
            modified_ms: Some(at_ms.max(view.modified_ms)),
            archived: previous.archived || archive,
            deleted: false,
        };
        self.tables[entity.slot()].overlay.insert(index, overlay);
        true
    }

    fn delete(&mut self, entity: Entity, index: u64) -> bool {
        let table = &mut self.tables[entity.slot()];
        let overlay = table.overlay.entry(index).or_default();
        if overlay.deleted {
            return false;
        }
        overlay.deleted = true;
        true
    }

    /// Live records of `entity` (archived contacts included, deleted gifts not), by id.
    pub(crate) fn live_views(&self, entity: Entity) -> impl Iterator<Item = RecordView> + '_ {
        (0..self.count(entity))
            .map(move |index| self.view(entity, index))
            .filter(|view| !view.deleted)
    }

    /// Ids of deleted records of `entity`, ascending.
    pub fn deleted_ids(&self, entity: Entity) -> Vec<u64> {
        self.table(entity)
            .overlay
            .iter()
            .filter(|(_, overlay)| overlay.deleted)
            .map(|(index, _)| self.id(entity, *index))
            .collect()
    }
}

impl Table {
    fn count(&self) -> u64 {
        *self
            .ends
            .last()
            .expect("ends starts with the initial count")
    }
}

impl crate::simulator::Generational for VirtuousData {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.advance()
    }

    fn generation_number(&self) -> u32 {
        self.generation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STYLES: [TimestampStyle; 4] = [
        TimestampStyle::Zulu,
        TimestampStyle::Bare,
        TimestampStyle::BareFraction,
        TimestampStyle::ZuluFraction,
    ];

    #[test]
    fn edge_timestamps_format_as_chrono_formats_them() {
        let edges = [
            0,
            -1,
            999,
            1_000,
            1_705_310_580_120,   // 2024-01-15T09:23:00.120
            1_705_310_400_000,   // 2024-01-15T09:20:00.000
            -62_167_219_200_000, // 0000-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // year 10000: chrono's
            -62_167_219_200_001, // year -1: chrono's
            i64::MAX,
            i64::MIN,
        ];
        for ms in edges {
            let time = utc_ms(ms);
            assert_eq!(iso_day(time), time.format("%Y-%m-%d").to_string(), "{ms}");
            assert_eq!(us_day(time), time.format("%m/%d/%Y").to_string(), "{ms}");
            for style in STYLES {
                assert_eq!(
                    style.format(ms),
                    style.format_with_chrono(utc_ms(ms)),
                    "{style:?} {ms}"
                );
            }
        }
        assert_eq!(
            TimestampStyle::BareFraction.format(1_705_310_580_120),
            "2024-01-15T09:23:00.12"
        );
    }

    proptest! {
        /// Every four-digit-year instant formats as chrono's strftime formats it, in every style.
        #[test]
        fn timestamps_format_as_chrono_formats_them(ms in -62_167_219_200_000i64..253_402_300_800_000) {
            for style in STYLES {
                prop_assert_eq!(style.format(ms), style.format_with_chrono(utc_ms(ms)));
            }
            let time = utc_ms(ms);
            prop_assert_eq!(iso_day(time), time.format("%Y-%m-%d").to_string());
            prop_assert_eq!(us_day(time), time.format("%m/%d/%Y").to_string());
        }
    }
}

//! Record sets that grow generation by generation, with a sparse overlay of what changed.
//!
//! A simulator that serves millions of records derives record `i` from `(seed, i)` and stores
//! only what `advance` did to it. [`SparseTable`] is that bookkeeping, written once: how many
//! records exist after each generation (so record `i`'s creation generation and its position
//! in that generation are known without storing it), and a `BTreeMap` from index to the
//! simulator's own overlay type for the records `advance` touched. Cloning copies only the
//! per-generation counts and the overlay, which is what makes copy-on-write
//! [`Evolving`](super::Evolving) snapshots cheap.
//!
//! [`Volume`] is the matching configuration: how many records exist at generation 0 and how
//! many each generation adds, edits and removes (what "removes" means is the simulator's call).

use std::collections::BTreeMap;
use std::ops::{Range, RangeBounds};

use serde::{Deserialize, Serialize};

/// How many records of one kind exist and how they change per generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Records at generation 0.
    pub initial: u64,
    /// Records created by each generation.
    pub added_per_generation: u64,
    /// Records edited by each generation.
    pub modified_per_generation: u64,
    /// Records removed (deleted, archived, suppressed: the simulator decides) per generation.
    pub removed_per_generation: u64,
}

impl Volume {
    /// `initial` records that never change.
    pub const fn fixed(initial: u64) -> Self {
        Self {
            initial,
            added_per_generation: 0,
            modified_per_generation: 0,
            removed_per_generation: 0,
        }
    }

    /// `initial` records changing by `added`, `modified` and `removed` per generation.
    pub const fn changing(initial: u64, added: u64, modified: u64, removed: u64) -> Self {
        Self {
            initial,
            added_per_generation: added,
            modified_per_generation: modified,
            removed_per_generation: removed,
        }
    }
}

/// Where a record came from: generation 0 (the initial data) or a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The generation that created the record (0 for the initial records).
    pub generation: u32,
    /// The record's position among the records that generation created.
    pub position: u64,
    /// How many records that generation created.
    pub created: u64,
}

/// The records of one kind: counts per generation plus a sparse overlay `O` per touched index.
///
/// Indices are dense, `0..count()`, in creation order; nothing is ever removed from the index
/// space (a deleted record is an overlay entry saying so).
#[derive(Debug, Clone)]
pub struct SparseTable<O> {
    /// `ends[g]`: records after generation `g` (`ends[0]` is the initial count).
    ends: Vec<u64>,
    overlay: BTreeMap<u64, O>,
}

impl<O> SparseTable<O> {
    /// `initial` records, no overlay.
    pub fn new(initial: u64) -> Self {
        Self {
            ends: vec![initial],
            overlay: BTreeMap::new(),
        }
    }

    /// Records ever created (removed ones included).
    pub fn count(&self) -> u64 {
        *self
            .ends
            .last()
            .expect("ends starts with the initial count")
    }

    /// Records at generation 0.
    pub fn initial(&self) -> u64 {
        self.ends[0]
    }

    /// Records that existed after `generation` (the current count for later generations).
    pub fn count_after(&self, generation: u32) -> u64 {
        self.ends
            .get(generation as usize)
            .copied()
            .unwrap_or_else(|| self.count())
    }

    /// Generations grown so far.
    pub fn generations(&self) -> u32 {
        u32::try_from(self.ends.len() - 1).unwrap_or(u32::MAX)
    }

    /// Starts the next generation with `added` new records; returns their indices.
    pub fn grow(&mut self, added: u64) -> Range<u64> {
        let start = self.count();
        self.ends.push(start + added);
        start..start + added
    }

    /// Which generation created record `index`, if it exists.
    pub fn origin(&self, index: u64) -> Option<Origin> {
        if index >= self.count() {
            return None;
        }
        let generation = self.ends.partition_point(|end| *end <= index);
        let before = match generation {
            0 => 0,
            g => self.ends[g - 1],
        };
        Some(Origin {
            generation: u32::try_from(generation).unwrap_or(u32::MAX),
            position: index - before,
            created: self.ends[generation] - before,
        })
    }

    /// The overlay of record `index`, if `advance` touched it.
    pub fn overlay(&self, index: u64) -> Option<&O> {
        self.overlay.get(&index)
    }

    /// The overlay of record `index`, created with `O::default()` on first touch.
    pub fn overlay_mut(&mut self, index: u64) -> &mut O
    where
        O: Default,
    {
        self.overlay.entry(index).or_default()
    }

    /// Touched indices in `range`, ascending, with their overlays.
    pub fn overlay_range(
        &self,
        range: impl RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = (u64, &O)> {
        self.overlay.range(range).map(|(index, o)| (*index, o))
    }

    /// How many records carry an overlay: the only per-record memory the table holds.
    pub fn overlay_len(&self) -> usize {
        self.overlay.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_follow_generations_and_overlay_is_sparse() {
        let mut table: SparseTable<u32> = SparseTable::new(3);
        assert_eq!(table.grow(2), 3..5);
        assert_eq!(table.grow(0), 5..5);
        assert_eq!(table.grow(1), 5..6);
        assert_eq!(
            (table.count(), table.initial(), table.generations()),
            (6, 3, 3)
        );
        assert_eq!(table.count_after(1), 5);
        assert_eq!(table.count_after(9), 6);
        let origin = |i| {
            table
                .origin(i)
                .map(|o| (o.generation, o.position, o.created))
        };
        assert_eq!(origin(2), Some((0, 2, 3)));
        assert_eq!(origin(4), Some((1, 1, 2)));
        assert_eq!(origin(5), Some((3, 0, 1)));
        assert_eq!(origin(6), None);
        *table.overlay_mut(4) += 7;
        *table.overlay_mut(4) += 1;
        assert_eq!(table.overlay(4), Some(&8));
        assert_eq!(table.overlay_len(), 1);
        assert_eq!(table.overlay_range(..4).count(), 0);
        let clone = table.clone();
        assert_eq!(clone.overlay_range(4..).next(), Some((4, &8)));
    }
}

//! Where a spec's fields sit in records of one shape: records of an API page share their keys and
//! their order, so the member that holds each field a spec reads is found once per shape, not once
//! per column of every row (a linear search of the record's keys each time).
//!
//! A record fits a shape only if its keys are exactly the shape's keys in the same order, so the
//! answer is the one [`JsonView::get`] and [`JsonView::entries`] give: repeated keys resolve to the
//! last member, undeclared fields come in key order.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::sdk::json::{JsonView, KeyLayout};

/// Objects with more members are read by key, uncached: few APIs send them, and comparing their keys
/// costs what it saves.
const MAX_MEMBERS: usize = 512;

/// How many shapes a spec remembers (records of one table seldom come in more: optional fields
/// present or absent).
const CAPACITY: usize = 4;

/// The keys of one record shape and where the spec's fields are in it.
#[derive(Debug)]
pub(super) struct Shape {
    /// Every key, concatenated in document order.
    keys: String,
    /// Where each key ends in `keys`.
    ends: Vec<u32>,
    /// For each of the spec's read fields (sorted, as the spec holds them), the member that holds it.
    slots: Vec<Option<u32>>,
    /// The members no column reads, in key order, each key once: passthrough's columns.
    undeclared: Vec<u32>,
}

impl Shape {
    fn build<'a, J: JsonView<'a>>(record: J, count: usize, read_fields: &[String]) -> Self {
        let mut keys = String::new();
        let mut ends = Vec::with_capacity(count);
        let mut slots = vec![None; read_fields.len()];
        let mut undeclared: Vec<(&str, u32)> = Vec::new();
        for i in 0..count {
            let Some((key, _)) = record.member(i) else {
                break;
            };
            keys.push_str(key);
            ends.push(keys.len() as u32);
            match read_fields.binary_search_by(|f| f.as_str().cmp(key)) {
                // The last of repeated keys wins, as in `get`.
                Ok(slot) => slots[slot] = Some(i as u32),
                Err(_) => undeclared.push((key, i as u32)),
            }
        }
        // Key order, and for a repeated key its last member (a stable sort keeps document order).
        undeclared.sort_by(|a, b| a.0.cmp(b.0));
        let mut kept: Vec<(&str, u32)> = Vec::with_capacity(undeclared.len());
        for (key, member) in undeclared {
            match kept.last_mut() {
                Some(last) if last.0 == key => last.1 = member,
                _ => kept.push((key, member)),
            }
        }
        Self {
            undeclared: kept.into_iter().map(|(_, m)| m).collect(),
            keys,
            ends,
            slots,
        }
    }

    fn fits<'a, J: JsonView<'a>>(&self, record: J, count: usize) -> bool {
        if count != self.ends.len() {
            return false;
        }
        let mut start = 0usize;
        for (i, &end) in self.ends.iter().enumerate() {
            let end = end as usize;
            match record.member(i) {
                Some((key, _)) if key.as_bytes() == &self.keys.as_bytes()[start..end] => {}
                _ => return false,
            }
            start = end;
        }
        true
    }

    /// The member holding read field `slot`, if the shape has it.
    pub(super) fn member(&self, slot: usize) -> Option<u32> {
        self.slots.get(slot).copied().flatten()
    }

    /// The members no column reads, in key order.
    pub(super) fn undeclared(&self) -> &[u32] {
        &self.undeclared
    }
}

/// The shapes a spec met most recently, most recent first. Clones start empty, and all caches are
/// equal: the cache is a memo, never part of what a spec is.
#[derive(Default)]
pub(super) struct ShapeCache {
    recent: Mutex<Vec<Seen>>,
}

/// A remembered shape, and the key layout of the last record that fit it: the next records of that
/// record's page fit it if their layouts are equal, which is checked without reading any key.
struct Seen {
    shape: Arc<Shape>,
    layout: Option<KeyLayout>,
}

impl ShapeCache {
    /// The shape of `record` (an object the view can reach by position), from the cache or built
    /// and remembered; `None` for anything else.
    pub(super) fn shape_of<'a, J: JsonView<'a>>(
        &self,
        record: J,
        read_fields: &[String],
    ) -> Option<Arc<Shape>> {
        let count = record.member_count()?;
        if count > MAX_MEMBERS {
            return None;
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            let hit = recent.iter_mut().position(|seen| {
                if seen
                    .layout
                    .as_ref()
                    .is_some_and(|l| record.has_key_layout(l))
                {
                    return true;
                }
                let fits = seen.shape.fits(record, count);
                if fits {
                    record.key_layout(&mut seen.layout);
                }
                fits
            });
            if let Some(at) = hit {
                let shape = Arc::clone(&recent[at].shape);
                if at > 0 {
                    let seen = recent.remove(at);
                    recent.insert(0, seen);
                }
                return Some(shape);
            }
        }
        let shape = Arc::new(Shape::build(record, count, read_fields));
        let mut layout = None;
        record.key_layout(&mut layout);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.insert(
            0,
            Seen {
                shape: Arc::clone(&shape),
                layout,
            },
        );
        recent.truncate(CAPACITY);
        Some(shape)
    }
}

impl Clone for ShapeCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for ShapeCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ShapeCache {}

impl fmt::Debug for ShapeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShapeCache")
    }
}

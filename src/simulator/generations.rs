//! Datasets that change in numbered generations between syncs, shared copy-on-write.
//!
//! Requests read an immutable snapshot (an `Arc`), so a page or an export in progress never sees a
//! half-applied change; `advance` builds the next generation on a copy and swaps it in.

use std::sync::{Arc, RwLock};

/// A simulator's dataset: deterministic per seed and generation number.
pub trait Generational: Clone + Send + Sync + 'static {
    /// One change applied by a generation (an edit, a delete, a status change).
    type Change;
    /// Applies the next generation, returning what it changed.
    fn advance_one(&mut self) -> Vec<Self::Change>;
    /// The current generation number.
    fn generation_number(&self) -> u32;
}

/// What [`Evolving::advance`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdvanceSummary<C> {
    /// The generation reached.
    pub generation: u32,
    /// Every change, in the order applied.
    pub changes: Vec<C>,
}

/// A [`Generational`] dataset behind copy-on-write snapshots.
#[derive(Debug)]
pub struct Evolving<D> {
    data: RwLock<Arc<D>>,
}

impl<D: Generational> Evolving<D> {
    /// Starts at `data`'s generation.
    pub fn new(data: D) -> Self {
        Self {
            data: RwLock::new(Arc::new(data)),
        }
    }

    /// The data as of now; later advances do not change the returned snapshot.
    pub fn snapshot(&self) -> Arc<D> {
        Arc::clone(&self.data.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Applies `generations` generations and moves `clock` on by `interval` for each: simulated time
    /// passes between the syncs that see the changes.
    pub fn advance_over(
        &self,
        generations: u32,
        clock: &super::SimClock,
        interval: std::time::Duration,
    ) -> AdvanceSummary<D::Change> {
        let summary = self.advance(generations);
        clock.advance(interval.saturating_mul(generations));
        summary
    }

    /// Applies `generations` generations on a copy and publishes it.
    pub fn advance(&self, generations: u32) -> AdvanceSummary<D::Change> {
        let mut guard = self.data.write().unwrap_or_else(|p| p.into_inner());
        let mut next = D::clone(&guard);
        let mut changes = Vec::new();
        for _ in 0..generations {
            changes.extend(next.advance_one());
        }
        let generation = next.generation_number();
        *guard = Arc::new(next);
        AdvanceSummary {
            generation,
            changes,
        }
    }
}

/// A dataset's timeline: its generations, and the simulated clock that moves `interval` with each, so
/// syncs between generations see time pass as they see the data change.
#[derive(Debug)]
pub struct Timeline<D> {
    data: Evolving<D>,
    control: std::sync::Arc<super::SimControl>,
    interval: std::time::Duration,
}

impl<D: Generational> Timeline<D> {
    /// `data` at its generation, moving `control`'s clock by `interval` per generation.
    pub fn new(
        data: D,
        control: std::sync::Arc<super::SimControl>,
        interval: std::time::Duration,
    ) -> Self {
        Self {
            data: Evolving::new(data),
            control,
            interval,
        }
    }

    /// The data as of now; later advances do not change the returned snapshot.
    pub fn snapshot(&self) -> Arc<D> {
        self.data.snapshot()
    }

    /// Applies `generations` generations and moves the clock on by as many intervals.
    pub fn advance(&self, generations: u32) -> AdvanceSummary<D::Change> {
        self.data
            .advance_over(generations, self.control.clock(), self.interval)
    }

    /// [`Timeline::advance`], reported as `POST /__sim/advance` answers: the generations applied and
    /// how many changes they made.
    pub fn advance_report(&self, generations: u32) -> serde_json::Value {
        let summary = self.advance(generations);
        serde_json::json!({"generations": generations, "changes": summary.changes.len()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Counter(u32);
    impl Generational for Counter {
        type Change = u32;
        fn advance_one(&mut self) -> Vec<u32> {
            self.0 += 1;
            vec![self.0]
        }
        fn generation_number(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn snapshots_are_immutable_and_advance_publishes() {
        let e = Evolving::new(Counter(0));
        let before = e.snapshot();
        let s = e.advance(2);
        assert_eq!(
            s,
            AdvanceSummary {
                generation: 2,
                changes: vec![1, 2]
            }
        );
        assert_eq!(before.0, 0);
        assert_eq!(e.snapshot().0, 2);
    }
}

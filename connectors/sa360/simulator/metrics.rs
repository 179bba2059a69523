//! Daily metrics as a pure function of `(seed, entity, day, maturity)`.
//!
//! Nothing here is stored: a keyword's 2023-04-02 row is recomputed whenever a query touches it.
//! *Maturity* is how far the day is from being final: with `N` restatement days, a day of age
//! `a = today − day` has maturity `min(a, N)`, and only maturity (not the generation) enters the
//! derivation, so
//! - a day older than `N` days always reads the same (its maturity is `N` for good);
//! - every `advance` ages the last `N` days by one, which restates them: conversions (attribution
//!   lag) grow towards their final value, invalid clicks are filtered out of clicks and cost, and
//!   today's partial traffic fills in.
//!
//! Levels are derived independently (a campaign's clicks are not the sum of its keywords'), which
//! keeps a campaign-day row O(1); the magnitudes are scaled so the levels look plausible together.

use serde::Serialize;

use crate::simulator::rng::{self, tag};

use super::dataset::{weekday_factor, Entity, Status};

/// The stored-nowhere base metrics of one row (or the sum of several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// `metrics.impressions`.
    pub impressions: i64,
    /// `metrics.clicks`.
    pub clicks: i64,
    /// `metrics.cost_micros` (multiples of 10,000: whole cents).
    pub cost_micros: i64,
    /// `metrics.conversions` (fractional: attribution models split credit).
    pub conversions: f64,
    /// `metrics.all_conversions`.
    pub all_conversions: f64,
    /// `metrics.conversions_value`.
    pub conversions_value: f64,
    /// `metrics.all_conversions_value`.
    pub all_conversions_value: f64,
}

impl Metrics {
    /// Adds `other` (doubles rounded to cents again, as the API aggregates).
    pub fn add(&mut self, other: &Metrics) {
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.cost_micros += other.cost_micros;
        self.conversions = cents(self.conversions + other.conversions);
        self.all_conversions = cents(self.all_conversions + other.all_conversions);
        self.conversions_value = cents(self.conversions_value + other.conversions_value);
        self.all_conversions_value =
            cents(self.all_conversions_value + other.all_conversions_value);
    }

    /// `metrics.ctr`: clicks / impressions (0 without impressions).
    pub fn ctr(&self) -> f64 {
        ratio(self.clicks as f64, self.impressions as f64)
    }

    /// `metrics.average_cpc`: cost / clicks, in micros.
    pub fn average_cpc(&self) -> f64 {
        ratio(self.cost_micros as f64, self.clicks as f64)
    }

    /// `metrics.cost_per_conversion`: cost / conversions, in micros.
    pub fn cost_per_conversion(&self) -> f64 {
        ratio(self.cost_micros as f64, self.conversions)
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// Rounds to two decimals.
pub(crate) fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Which level a row is at; sets the traffic scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Customer,
    Campaign,
    AdGroup,
    Ad,
    Keyword,
}

impl Level {
    fn mean_impressions(self) -> f64 {
        match self {
            Level::Customer => 40_000.0,
            Level::Campaign => 3_000.0,
            Level::AdGroup => 220.0,
            Level::Ad => 80.0,
            Level::Keyword => 12.0,
        }
    }

    fn tag(self) -> u64 {
        match self {
            Level::Customer => tag(b"m-customer"),
            Level::Campaign => tag(b"m-campaign"),
            Level::AdGroup => tag(b"m-ad_group"),
            Level::Ad => tag(b"m-ad"),
            Level::Keyword => tag(b"m-keyword"),
        }
    }
}

/// The per-entity traits every day of it shares: popularity, click-through, cost per click,
/// conversion rate, order value.
#[derive(Debug, Clone, Copy)]
struct Profile {
    popularity: f64,
    ctr: f64,
    cpc: f64,
    cvr: f64,
    order_value: f64,
}

fn profile(seed: u64, level: Level, id: u64) -> Profile {
    let draw = |part: &[u8]| rng::unit(rng::hash(seed, &[level.tag(), id, tag(part)]));
    let p = draw(b"popularity");
    Profile {
        popularity: 0.15 + 3.0 * p * p,
        ctr: 0.01 + 0.11 * draw(b"ctr"),
        cpc: 0.2 + 3.8 * draw(b"cpc"),
        cvr: 0.01 + 0.09 * draw(b"cvr"),
        order_value: 20.0 + 130.0 * draw(b"order-value"),
    }
}

/// The metrics of entity `id` at `level` on `day`, when `serving` (all-zero otherwise), with
/// `age = today − day` and `restatement_days` days still being restated.
pub(crate) fn daily(
    seed: u64,
    level: Level,
    id: u64,
    day: i32,
    age: i32,
    restatement_days: u32,
    serving: bool,
) -> Metrics {
    if !serving {
        return Metrics::default();
    }
    let traits = profile(seed, level, id);
    let noise = |part: &[u8]| rng::unit(rng::hash(seed, &[level.tag(), id, day as u64, tag(part)]));
    let base = level.mean_impressions() * traits.popularity * weekday_factor(day);
    let final_impressions = (base * (0.7 + 0.6 * noise(b"impressions"))).round();
    let final_clicks = (final_impressions * traits.ctr * (0.8 + 0.4 * noise(b"clicks"))).round();
    let cpc = traits.cpc * (0.85 + 0.3 * noise(b"cpc"));
    let final_conversions = final_clicks * traits.cvr * (0.5 + noise(b"conversions"));
    let extra = 1.0 + 0.5 * noise(b"all-conversions");
    let value = traits.order_value * (0.8 + 0.4 * noise(b"value"));

    let window = restatement_days as i32;
    let age = age.max(0);
    let (traffic, surplus, attributed) = if window == 0 || age >= window {
        (1.0, 0.0, 1.0)
    } else {
        // Today is half over; recent clicks still hold invalid ones; conversions trickle in.
        let traffic = if age == 0 { 0.55 } else { 1.0 };
        let invalid = (window - age) as f64 * (0.5 + noise(b"invalid"));
        let attributed = (age + 1) as f64 / (window + 1) as f64;
        (traffic, invalid, attributed)
    };
    let impressions = (final_impressions * traffic).round();
    let clicks = ((final_clicks * traffic).round() + surplus.round()).min(impressions);
    let cost_micros = (clicks * cpc * 100.0).round() as i64 * 10_000;
    let conversions = cents(final_conversions * traffic * attributed);
    let all_conversions = cents(conversions * extra);
    Metrics {
        impressions: impressions as i64,
        clicks: clicks as i64,
        cost_micros,
        conversions,
        all_conversions,
        conversions_value: cents(conversions * value),
        all_conversions_value: cents(all_conversions * value),
    }
}

/// Whether an entity and all its ancestors were enabled on `day`.
pub(crate) fn serving(chain: &[&Entity], day: i32) -> bool {
    chain
        .iter()
        .all(|entity| entity.status_on(day) == Status::Enabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mature_days_are_fixed_and_recent_days_restate() {
        let at = |age| daily(7, Level::Keyword, 400_000_000_123, 739_000, age, 3, true);
        assert_eq!(at(3), at(4));
        assert_eq!(at(3), at(400));
        assert_ne!(at(0), at(1));
        assert!(at(0).impressions < at(3).impressions, "today is partial");
        assert!(at(2).conversions <= at(3).conversions);
        let no_window = |age| daily(7, Level::Keyword, 400_000_000_123, 739_000, age, 0, true);
        assert_eq!(no_window(0), at(3));
        assert_eq!(
            daily(7, Level::Campaign, 1, 739_000, 9, 3, false),
            Metrics::default()
        );
    }

    #[test]
    fn metrics_are_consistent() {
        for day in 739_000..739_100 {
            let m = daily(11, Level::Campaign, 20_000_000_001, day, 30, 3, true);
            assert!(m.clicks <= m.impressions);
            assert_eq!(m.cost_micros % 10_000, 0);
            assert!(m.all_conversions >= m.conversions);
            assert!(m.conversions >= 0.0);
        }
    }
}

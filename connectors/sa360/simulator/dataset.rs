//! The simulated accounts as a pure function of (config, generation): the manager → client
//! hierarchy and, per client account, its campaigns, ad groups, ads, keywords, conversion actions,
//! bidding strategies and labels.
//!
//! Entities are small structs held in memory (a dimension table of thousands of keywords costs
//! kilobytes); their names and attributes are derived from `hash(seed, id)` when rendered, and
//! their daily metrics are never stored at all (see [`metrics`](super::metrics)). An entity's
//! status history is a short list of `(day, status)` changes, so "was this keyword serving on
//! 2023-04-02" and "what is its status now" are both answered without replaying generations.
//!
//! Days are `chrono` days from the common era (`NaiveDate::num_days_from_ce`).
//!
//! Invariants:
//! - entity ids are `base(kind) + ordinal(account) · 10⁷ + index`, so every id is unique across the
//!   simulator and maps back to its entity arithmetically;
//! - a child is never created before its parent; history days are ascending and never before the
//!   entity's creation; `REMOVED` is final;
//! - a generation only appends entities and history entries dated "today" of that generation, so
//!   no earlier day's rows or metrics change (restatement aside, which depends on age alone).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::simulator::rng::{self, tag, SeededRng};
use crate::simulator::Generational;

use super::config::{
    AccountSpec, ChangeRates, CustomerStatus, EntityCounts, Sa360Config, MAX_ENTITIES_PER_KIND,
};

/// An entity's status (`ENABLED`, `PAUSED`, `REMOVED`, the shared subset of every status enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Serving.
    Enabled,
    /// Paused by the advertiser: rows keep coming, with zero metrics.
    Paused,
    /// Removed: rows stop the day it was removed.
    Removed,
}

impl Status {
    /// The enum constant.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "ENABLED",
            Status::Paused => "PAUSED",
            Status::Removed => "REMOVED",
        }
    }
}

/// The entity tables of a client account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `campaign`.
    Campaign,
    /// `ad_group`.
    AdGroup,
    /// `ad_group_ad`.
    Ad,
    /// `ad_group_criterion` (keywords) and `keyword_view`.
    Keyword,
    /// `conversion_action`.
    ConversionAction,
    /// `bidding_strategy`.
    BiddingStrategy,
    /// `label`.
    Label,
    /// Custom columns (`customers/{id}/customColumns`).
    CustomColumn,
}

impl Kind {
    /// The id of index 0 in account ordinal 0.
    fn base(self) -> u64 {
        match self {
            Kind::ConversionAction => 10_000_000_000,
            Kind::Campaign => 20_000_000_000,
            Kind::BiddingStrategy => 30_000_000_000,
            Kind::Label => 40_000_000_000,
            Kind::CustomColumn => 50_000_000_000,
            Kind::AdGroup => 130_000_000_000,
            Kind::Keyword => 400_000_000_000,
            Kind::Ad => 600_000_000_000,
        }
    }

    fn tag(self) -> u64 {
        match self {
            Kind::Campaign => tag(b"campaign"),
            Kind::AdGroup => tag(b"ad_group"),
            Kind::Ad => tag(b"ad"),
            Kind::Keyword => tag(b"keyword"),
            Kind::ConversionAction => tag(b"conversion_action"),
            Kind::BiddingStrategy => tag(b"bidding_strategy"),
            Kind::Label => tag(b"label"),
            Kind::CustomColumn => tag(b"custom_column"),
        }
    }

    /// Whether `advance` pauses and removes entities of this kind.
    fn evolves(self) -> bool {
        matches!(
            self,
            Kind::Campaign | Kind::AdGroup | Kind::Ad | Kind::Keyword
        )
    }
}

/// One entity of a client account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entity {
    pub(crate) id: u64,
    /// Index of the parent in its table (campaign of an ad group, ad group of a keyword or an ad);
    /// `u32::MAX` for top-level kinds.
    pub(crate) parent: u32,
    /// Day of creation.
    pub(crate) created: i32,
    /// Status changes, ascending by day; the status before the first one is `ENABLED`.
    pub(crate) history: Vec<(i32, Status)>,
}

impl Entity {
    fn new(id: u64, parent: u32, created: i32) -> Self {
        Self {
            id,
            parent,
            created,
            history: Vec::new(),
        }
    }

    /// The status now.
    pub(crate) fn status(&self) -> Status {
        self.history
            .last()
            .map_or(Status::Enabled, |(_, status)| *status)
    }

    /// The status on `day` (changes take effect on their day).
    pub(crate) fn status_on(&self, day: i32) -> Status {
        let at = self.history.partition_point(|(changed, _)| *changed <= day);
        if at == 0 {
            Status::Enabled
        } else {
            self.history[at - 1].1
        }
    }

    /// The day it was removed, if it was.
    pub(crate) fn removed_on(&self) -> Option<i32> {
        self.history
            .iter()
            .find(|(_, status)| *status == Status::Removed)
            .map(|(day, _)| *day)
    }

    /// The day of the last change (creation if none).
    pub(crate) fn modified(&self) -> i32 {
        self.history.last().map_or(self.created, |(day, _)| *day)
    }

    /// Days with rows: from creation (or `first`) to the day before removal (or `last`).
    pub(crate) fn row_days(&self, first: i32, last: i32) -> Option<(i32, i32)> {
        let start = self.created.max(first);
        let end = self
            .removed_on()
            .map_or(last, |removed| last.min(removed - 1));
        (start <= end).then_some((start, end))
    }
}

/// A client account's entities.
#[derive(Debug, Clone)]
pub(crate) struct ClientData {
    pub(crate) ordinal: u64,
    pub(crate) tables: BTreeMap<Kind, Vec<Entity>>,
}

impl ClientData {
    pub(crate) fn table(&self, kind: Kind) -> &[Entity] {
        self.tables.get(&kind).map_or(&[], Vec::as_slice)
    }

    fn table_mut(&mut self, kind: Kind) -> &mut Vec<Entity> {
        self.tables.entry(kind).or_default()
    }

    fn next_id(&self, kind: Kind) -> u64 {
        kind.base() + self.ordinal * MAX_ENTITIES_PER_KIND + self.table(kind).len() as u64
    }
}

/// One account of the hierarchy with its place in it.
#[derive(Debug, Clone)]
pub(crate) struct AccountNode {
    pub(crate) spec: AccountSpec,
    /// Index of the parent in [`Sa360Data::accounts`].
    pub(crate) parent: Option<usize>,
    /// Distance from the top of its tree (0 for a root).
    pub(crate) depth: u32,
    /// Index into [`Sa360Data::clients`] for client accounts.
    pub(crate) client: Option<usize>,
    /// Day the account was created (before any of its data).
    pub(crate) created: i32,
}

/// What one `advance` did to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created today.
    Added,
    /// Its status changed today.
    StatusChanged {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
}

/// One change made by `advance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The client account.
    pub customer_id: u64,
    /// The entity table.
    pub kind: Kind,
    /// The entity id (criterion id for keywords, ad id for ads).
    pub id: u64,
    /// What happened.
    pub change: ChangeKind,
}

/// The whole simulated world at one generation. Cloning copies the entity tables (kilobytes per
/// thousand entities); metrics are never stored.
#[derive(Debug, Clone)]
pub struct Sa360Data {
    pub(crate) seed: u64,
    generation: u32,
    /// "Today" at generation 0.
    today0: i32,
    pub(crate) data_start: i32,
    pub(crate) restatement_days: u32,
    pub(crate) accounts: Arc<[AccountNode]>,
    pub(crate) clients: Vec<ClientData>,
    counts: EntityCounts,
    rates: ChangeRates,
}

/// Days from the common era of a date.
pub(crate) fn day_of(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

/// The date of a day number (clamped to chrono's range, which no simulated day leaves).
pub(crate) fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap_or(NaiveDate::MIN)
}

impl Sa360Data {
    /// The world `config` describes, at generation 0. `config` must have passed validation.
    pub fn new(config: &Sa360Config) -> Self {
        let today0 = day_of(config.today);
        let data_start = day_of(config.data_start);
        let index: BTreeMap<u64, usize> = config
            .accounts
            .iter()
            .enumerate()
            .map(|(position, account)| (account.id, position))
            .collect();
        let mut clients = Vec::new();
        let mut accounts = Vec::with_capacity(config.accounts.len());
        for spec in &config.accounts {
            let parent = spec.parent.and_then(|id| index.get(&id).copied());
            let mut depth = 0;
            let mut above = spec.parent;
            while let Some(id) = above {
                depth += 1;
                above = index.get(&id).and_then(|p| config.accounts[*p].parent);
            }
            let client = (!spec.manager).then(|| {
                clients.push(ClientData {
                    ordinal: clients.len() as u64,
                    tables: BTreeMap::new(),
                });
                clients.len() - 1
            });
            let age = (rng::hash(config.seed, &[tag(b"account-created"), spec.id]) % 400) as i32;
            accounts.push(AccountNode {
                spec: spec.clone(),
                parent,
                depth,
                client,
                created: data_start - 30 - age,
            });
        }
        let mut data = Self {
            seed: config.seed,
            generation: 0,
            today0,
            data_start,
            restatement_days: config.restatement_days,
            accounts: accounts.into(),
            clients,
            counts: config.entities.clone(),
            rates: config.changes.clone(),
        };
        for position in 0..data.clients.len() {
            data.populate(position);
        }
        data
    }

    /// Generations applied so far.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// "Today" for the data: metrics exist up to and including this date.
    pub fn today(&self) -> NaiveDate {
        date_of(self.today_day())
    }

    pub(crate) fn today_day(&self) -> i32 {
        self.today0 + self.generation as i32
    }

    /// The first date with metrics.
    pub fn data_start(&self) -> NaiveDate {
        date_of(self.data_start)
    }

    /// Entities held in memory across every account and table (the only per-entity memory).
    pub fn entity_count(&self) -> usize {
        self.clients
            .iter()
            .flat_map(|client| client.tables.values())
            .map(Vec::len)
            .sum()
    }

    pub(crate) fn account_index(&self, customer_id: u64) -> Option<usize> {
        self.accounts
            .iter()
            .position(|account| account.spec.id == customer_id)
    }

    pub(crate) fn client_of(&self, account: usize) -> Option<&ClientData> {
        self.accounts[account].client.map(|c| &self.clients[c])
    }

    /// Whether `ancestor` is `account` or a manager above it.
    pub(crate) fn is_at_or_above(&self, ancestor: usize, account: usize) -> bool {
        let mut at = Some(account);
        while let Some(position) = at {
            if position == ancestor {
                return true;
            }
            at = self.accounts[position].parent;
        }
        false
    }

    /// `account` and every account below it, depth-first in configuration order.
    pub(crate) fn subtree(&self, account: usize) -> Vec<usize> {
        let mut out = vec![account];
        let mut next = 0;
        while next < out.len() {
            let parent = out[next];
            out.extend(
                (0..self.accounts.len())
                    .filter(|child| self.accounts[*child].parent == Some(parent)),
            );
            next += 1;
        }
        out
    }

    /// Builds a client account's generation-0 entities.
    fn populate(&mut self, position: usize) {
        let seed = self.seed;
        let counts = self.counts.clone();
        let start = self.data_start;
        let today = self.today_day();
        let span = (today - start).max(1);
        let client = &mut self.clients[position];
        let ordinal = client.ordinal;
        // Roughly the first 60% of the history sees entities appear; the rest keeps them.
        let created_between = |rng: &mut SeededRng, floor: i32| -> i32 {
            let latest = start + span * 3 / 5;
            let earliest = (start - 90).max(floor);
            if latest <= earliest {
                return floor;
            }
            earliest + rng.between(0, (latest - earliest) as u64) as i32
        };
        let first_of =
            |kind: Kind| rng::hash(seed, &[kind.tag(), tag(b"first"), ordinal]).is_multiple_of(5);
        for kind in [
            Kind::ConversionAction,
            Kind::BiddingStrategy,
            Kind::Label,
            Kind::CustomColumn,
        ] {
            let count = match kind {
                Kind::ConversionAction => counts.conversion_actions_per_client,
                Kind::BiddingStrategy => counts.bidding_strategies_per_client,
                Kind::Label => counts.labels_per_client,
                _ => counts.custom_columns_per_client,
            };
            for _ in 0..count {
                let id = client.next_id(kind);
                let created = start - 60 - (rng::hash(seed, &[kind.tag(), id]) % 200) as i32;
                let mut entity = Entity::new(id, u32::MAX, created);
                if kind == Kind::ConversionAction && first_of(kind) && client.table(kind).len() == 2
                {
                    entity.history.push((start + span / 2, Status::Removed));
                }
                client.table_mut(kind).push(entity);
            }
        }
        for _ in 0..counts.campaigns_per_client {
            let id = client.next_id(Kind::Campaign);
            let mut rng = SeededRng::new(seed, &[Kind::Campaign.tag(), id]);
            let created = created_between(&mut rng, start - 90);
            let campaign = initial_history(
                Entity::new(id, u32::MAX, created),
                &mut rng,
                today,
                0.10,
                0.05,
            );
            let campaign_index = client.table(Kind::Campaign).len() as u32;
            client.table_mut(Kind::Campaign).push(campaign);
            for _ in 0..counts.ad_groups_per_campaign {
                add_ad_group(client, seed, campaign_index, created, today, &counts, true);
            }
        }
    }

    /// Applies the next generation to every client account: status changes, then new campaigns,
    /// keywords and ads; all chosen by `hash(seed, account, generation, ...)`.
    pub fn advance(&mut self) -> Vec<Change> {
        let generation = self.generation + 1;
        let today = self.today0 + generation as i32;
        let mut changes = Vec::new();
        let seed = self.seed;
        let rates = self.rates.clone();
        let counts = self.counts.clone();
        for position in 0..self.clients.len() {
            let customer_id = self
                .accounts
                .iter()
                .find(|a| a.client == Some(position))
                .map_or(0, |a| a.spec.id);
            let client = &mut self.clients[position];
            let mut rng = SeededRng::new(
                seed,
                &[tag(b"advance"), client.ordinal, u64::from(generation)],
            );
            for _ in 0..rates.status_changes_per_generation {
                let kind = match rng.below(10) {
                    0 => Kind::Campaign,
                    1 | 2 => Kind::AdGroup,
                    3 | 4 => Kind::Ad,
                    _ => Kind::Keyword,
                };
                debug_assert!(kind.evolves());
                let table = client.table_mut(kind);
                if table.is_empty() {
                    continue;
                }
                let index = rng.below(table.len() as u64) as usize;
                let entity = &mut table[index];
                let from = entity.status();
                let to = match (from, rng.below(10)) {
                    (Status::Removed, _) => continue,
                    (Status::Enabled, 0..=6) => Status::Paused,
                    (Status::Enabled, _) => Status::Removed,
                    (Status::Paused, 0..=5) => Status::Enabled,
                    (Status::Paused, _) => Status::Removed,
                };
                entity.history.push((today.max(entity.created), to));
                changes.push(Change {
                    customer_id,
                    kind,
                    id: entity.id,
                    change: ChangeKind::StatusChanged { from, to },
                });
            }
            let mut added = |kind: Kind, id: u64| {
                changes.push(Change {
                    customer_id,
                    kind,
                    id,
                    change: ChangeKind::Added,
                });
            };
            for _ in 0..rates.new_campaigns_per_generation {
                let id = client.next_id(Kind::Campaign);
                let campaign_index = client.table(Kind::Campaign).len() as u32;
                client
                    .table_mut(Kind::Campaign)
                    .push(Entity::new(id, u32::MAX, today));
                added(Kind::Campaign, id);
                for _ in 0..counts.ad_groups_per_campaign {
                    let before: BTreeMap<Kind, usize> = [Kind::AdGroup, Kind::Keyword, Kind::Ad]
                        .iter()
                        .map(|kind| (*kind, client.table(*kind).len()))
                        .collect();
                    add_ad_group(client, seed, campaign_index, today, today, &counts, false);
                    for (kind, from) in before {
                        for entity in &client.table(kind)[from..] {
                            added(kind, entity.id);
                        }
                    }
                }
            }
            for (kind, count) in [
                (Kind::Keyword, rates.new_keywords_per_generation),
                (Kind::Ad, rates.new_ads_per_generation),
            ] {
                for _ in 0..count {
                    let groups = client.table(Kind::AdGroup);
                    if groups.is_empty() {
                        break;
                    }
                    // A live ad group, if the draw finds one within a few tries.
                    let mut parent = rng.below(groups.len() as u64) as usize;
                    for _ in 0..4 {
                        if groups[parent].status() != Status::Removed {
                            break;
                        }
                        parent = rng.below(groups.len() as u64) as usize;
                    }
                    let id = client.next_id(kind);
                    client
                        .table_mut(kind)
                        .push(Entity::new(id, parent as u32, today));
                    added(kind, id);
                }
            }
        }
        self.generation = generation;
        changes
    }
}

/// Gives an initial entity a past: paused some day (`paused` probability) or removed some day
/// (`removed` probability) between its creation and `today`.
fn initial_history(
    mut entity: Entity,
    rng: &mut SeededRng,
    today: i32,
    paused: f64,
    removed: f64,
) -> Entity {
    let draw = rng.next_u64();
    let p = rng::unit(draw);
    if today - entity.created < 14 {
        return entity;
    }
    let day = entity.created + 7 + rng.below((today - entity.created - 7) as u64) as i32;
    if p < paused {
        entity.history.push((day, Status::Paused));
    } else if p < paused + removed {
        entity.history.push((day, Status::Removed));
    }
    entity
}

/// Appends an ad group (with its keywords and ads) to campaign `campaign`; children are never
/// older than their parent. `initial` entities get a history of pauses and removals.
fn add_ad_group(
    client: &mut ClientData,
    seed: u64,
    campaign: u32,
    campaign_created: i32,
    today: i32,
    counts: &EntityCounts,
    initial: bool,
) {
    let id = client.next_id(Kind::AdGroup);
    let mut rng = SeededRng::new(seed, &[Kind::AdGroup.tag(), id]);
    let created = if initial {
        campaign_created + rng.below(30) as i32
    } else {
        campaign_created
    }
    .min(today);
    let group = if initial {
        initial_history(
            Entity::new(id, campaign, created),
            &mut rng,
            today,
            0.08,
            0.04,
        )
    } else {
        Entity::new(id, campaign, created)
    };
    let group_index = client.table(Kind::AdGroup).len() as u32;
    client.table_mut(Kind::AdGroup).push(group);
    for (kind, count, paused, removed) in [
        (Kind::Keyword, counts.keywords_per_ad_group, 0.08, 0.06),
        (Kind::Ad, counts.ads_per_ad_group, 0.10, 0.08),
    ] {
        for _ in 0..count {
            let id = client.next_id(kind);
            let mut rng = SeededRng::new(seed, &[kind.tag(), id]);
            let child_created = if initial {
                (created + rng.below(120) as i32).min(today)
            } else {
                created
            };
            let entity = Entity::new(id, group_index, child_created);
            let entity = if initial {
                initial_history(entity, &mut rng, today, paused, removed)
            } else {
                entity
            };
            client.table_mut(kind).push(entity);
        }
    }
}

impl Generational for Sa360Data {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.advance()
    }

    fn generation_number(&self) -> u32 {
        self.generation()
    }
}

/// The weekday factor of daily traffic (Monday first).
pub(crate) fn weekday_factor(day: i32) -> f64 {
    const FACTORS: [f64; 7] = [1.04, 1.06, 1.05, 1.0, 0.94, 0.76, 0.72];
    FACTORS[date_of(day).weekday().num_days_from_monday() as usize]
}

/// Whether an account is usable (not canceled, suspended or closed).
pub(crate) fn enabled(account: &AccountNode) -> bool {
    account.spec.status == CustomerStatus::Enabled
}

//! Settings of the Search Ads 360 simulator, with defaults for the `debug` run and for tests.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::simulator::{ClockMode, RateLimitConfig, ServerOptions, SimError};

/// Entity ids encode `(kind, account ordinal, index)`; an index must stay below this.
pub(crate) const MAX_ENTITIES_PER_KIND: u64 = 10_000_000;
/// Client accounts (non-managers) at most, for the same reason.
pub(crate) const MAX_CLIENT_ACCOUNTS: usize = 999;

/// `customer.status` / `customer_client.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerStatus {
    /// An active account.
    Enabled,
    /// Canceled; queries against it are refused with `CUSTOMER_NOT_ENABLED`.
    Canceled,
    /// Suspended; refused likewise.
    Suspended,
    /// Closed; refused likewise.
    Closed,
}

impl CustomerStatus {
    /// The enum constant the API writes.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::Enabled => "ENABLED",
            CustomerStatus::Canceled => "CANCELED",
            CustomerStatus::Suspended => "SUSPENDED",
            CustomerStatus::Closed => "CLOSED",
        }
    }
}

/// One account of the hierarchy: a manager (which holds no campaigns, only other accounts) or a
/// client (an advertiser with campaigns, ad groups, ads, keywords, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpec {
    /// The customer id (digits, no hyphens), e.g. `4100000001`.
    pub id: u64,
    /// `customer.descriptive_name`.
    pub descriptive_name: String,
    /// Whether this is a manager account.
    pub manager: bool,
    /// The manager directly above it, if any.
    pub parent: Option<u64>,
    /// `customer.time_zone` (CLDR name; only echoed, dates are not converted).
    pub time_zone: String,
    /// `customer.currency_code`.
    pub currency_code: String,
    /// `customer.status`.
    pub status: CustomerStatus,
}

/// The OAuth client and the refresh token the token endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// The refresh token granted to the simulated user.
    pub refresh_token: String,
}

/// How many entities each client account starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCounts {
    /// Campaigns per client account.
    pub campaigns_per_client: u64,
    /// Ad groups per campaign.
    pub ad_groups_per_campaign: u64,
    /// Keywords (`ad_group_criterion` of type KEYWORD) per ad group.
    pub keywords_per_ad_group: u64,
    /// Ads (`ad_group_ad`) per ad group.
    pub ads_per_ad_group: u64,
    /// Conversion actions per client account.
    pub conversion_actions_per_client: u64,
    /// Portfolio bidding strategies per client account.
    pub bidding_strategies_per_client: u64,
    /// Labels per client account.
    pub labels_per_client: u64,
    /// Custom columns per client account (at most 2 kinds are defined; more repeat them).
    pub custom_columns_per_client: u64,
}

/// What one `advance` does to each client account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRates {
    /// New campaigns (each with `ad_groups_per_campaign` ad groups and their keywords and ads).
    pub new_campaigns_per_generation: u64,
    /// New keywords in existing ad groups.
    pub new_keywords_per_generation: u64,
    /// New ads in existing ad groups.
    pub new_ads_per_generation: u64,
    /// Status changes (pause, re-enable, remove) among campaigns, ad groups, keywords and ads.
    pub status_changes_per_generation: u64,
}

/// Response and quota limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest page (`pageSize`) and stream batch (`batchSize`); larger requests are clamped,
    /// an unset one means this. 10,000 on the real API.
    pub max_page_size: u64,
    /// The largest single response message in bytes, measured on the JSON body: a search page
    /// over it fails with `429 RESOURCE_EXHAUSTED` and no `SearchAds360Failure` (the gRPC 4 MiB
    /// message limit); a stream sends smaller batches instead (only a single row over it fails).
    /// `None`: unlimited.
    pub max_response_bytes: Option<u64>,
    /// The most rows one query may produce (after `LIMIT`); beyond it the call fails with a
    /// `SizeLimitError` `RESPONSE_SIZE_LIMIT_EXCEEDED`. `None` (the default): unlimited.
    pub max_result_rows: Option<u64>,
    /// Queries (a `search` without page token, or a `searchStream`) per minute. 3,000 on the real
    /// API; `None`: unlimited.
    pub queries_per_minute: Option<u32>,
    /// Queries per day (150,000 on the real API); `None`: unlimited.
    pub queries_per_day: Option<u32>,
    /// How long a page token stays usable, in simulated seconds; `None`: until evicted.
    pub page_token_ttl_seconds: Option<u64>,
}

/// A scripted `searchStream` failure: the `stream`-th stream (1-based, in arrival order) emits
/// `after_batches` batches, then an element holding `error` (`INTERNAL`), and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFailure {
    /// Which stream (1-based count of `searchStream` calls that passed validation).
    pub stream: u64,
    /// Batches sent before the error element.
    pub after_batches: u32,
}

/// Everything the SA360 simulator can be told. Equal configurations serve identical bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sa360Config {
    /// Seed for every generated value.
    pub seed: u64,
    /// The accepted OAuth client and refresh token.
    pub credentials: Credentials,
    /// `expires_in` of issued access tokens, in simulated seconds (Google: 3599).
    pub token_lifetime_seconds: u64,
    /// The account hierarchy.
    pub accounts: Vec<AccountSpec>,
    /// Accounts the OAuth user was granted directly (what `listAccessibleCustomers` returns);
    /// everything below them is reachable with `login-customer-id`.
    pub accessible_customers: Vec<u64>,
    /// Initial entities per client account.
    pub entities: EntityCounts,
    /// Changes per `advance`.
    pub changes: ChangeRates,
    /// The first day with metrics.
    pub data_start: NaiveDate,
    /// "Today" at generation 0; each `advance` moves it (and the clock) one day on.
    pub today: NaiveDate,
    /// Metrics of the last N days (today included) are still being restated: they change on every
    /// `advance`; older days never change.
    pub restatement_days: u32,
    /// Response and quota limits.
    pub limits: Limits,
    /// Scripted mid-stream failures.
    pub stream_failures: Vec<StreamFailure>,
    /// A per-request limit in the shared pipeline (every call counts, the token endpoint too);
    /// unlimited by default, since SA360 limits queries, not requests ([`Limits`]).
    pub rate_limit: RateLimitConfig,
    /// Port, clock mode, log size.
    pub server: ServerOptions,
}

/// The clock starts at noon of `today`: the reporting day in progress.
impl crate::simulator::SimSettings for Sa360Config {
    fn seed(&self) -> u64 {
        self.seed
    }
    fn data_end(&self) -> chrono::DateTime<chrono::Utc> {
        self.today
            .and_time(chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("valid time"))
            .and_utc()
    }
    fn server(&self) -> &crate::simulator::ServerOptions {
        &self.server
    }
    fn server_mut(&mut self) -> &mut crate::simulator::ServerOptions {
        &mut self.server
    }
    fn rate_limit(&self) -> &crate::simulator::RateLimitConfig {
        &self.rate_limit
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid literal date")
}

fn account(
    id: u64,
    name: &str,
    manager: bool,
    parent: Option<u64>,
    zone: &str,
    currency: &str,
) -> AccountSpec {
    AccountSpec {
        id,
        descriptive_name: name.to_owned(),
        manager,
        parent,
        time_zone: zone.to_owned(),
        currency_code: currency.to_owned(),
        status: CustomerStatus::Enabled,
    }
}

/// The hierarchy both presets share: a top manager with a sub-manager, clients under each, a
/// canceled client, and a stand-alone advertiser the user reaches directly.
fn hierarchy() -> (Vec<AccountSpec>, Vec<u64>) {
    let mut accounts = vec![
        account(
            9_100_000_001,
            "Acme Agency MCC",
            true,
            None,
            "America/New_York",
            "USD",
        ),
        account(
            9_100_000_002,
            "Acme Retail Europe",
            true,
            Some(9_100_000_001),
            "Europe/London",
            "GBP",
        ),
        account(
            4_100_000_001,
            "Acme Shoes US",
            false,
            Some(9_100_000_001),
            "America/New_York",
            "USD",
        ),
        account(
            4_100_000_002,
            "Acme Shoes UK",
            false,
            Some(9_100_000_002),
            "Europe/London",
            "GBP",
        ),
        account(
            4_100_000_003,
            "Acme Shoes DE",
            false,
            Some(9_100_000_002),
            "Europe/Berlin",
            "EUR",
        ),
        account(
            4_100_000_004,
            "Acme Legacy",
            false,
            Some(9_100_000_001),
            "America/Chicago",
            "USD",
        ),
        account(
            5_200_000_001,
            "Solo Advertiser",
            false,
            None,
            "America/Los_Angeles",
            "USD",
        ),
    ];
    accounts[5].status = CustomerStatus::Canceled;
    (accounts, vec![9_100_000_001, 5_200_000_001])
}

impl Default for Sa360Config {
    /// The `debug` run: the shared hierarchy (5 client accounts, one canceled), 12 campaigns × 15
    /// ad groups × 30 keywords (5,400 keywords) and 3 ads per ad group in every client, three years
    /// of daily metrics, 7 days of restatement, hour-long tokens, the documented quotas and the
    /// 4 MiB response limit, a running clock.
    fn default() -> Self {
        let (accounts, accessible_customers) = hierarchy();
        Self {
            seed: 360,
            credentials: Credentials {
                client_id: "1234567890-sim.apps.googleusercontent.com".to_owned(),
                client_secret: "GOCSPX-sim-secret".to_owned(),
                refresh_token: "1//sim-refresh-token".to_owned(),
            },
            token_lifetime_seconds: 3599,
            accounts,
            accessible_customers,
            entities: EntityCounts {
                campaigns_per_client: 12,
                ad_groups_per_campaign: 15,
                keywords_per_ad_group: 30,
                ads_per_ad_group: 3,
                conversion_actions_per_client: 4,
                bidding_strategies_per_client: 3,
                labels_per_client: 4,
                custom_columns_per_client: 2,
            },
            changes: ChangeRates {
                new_campaigns_per_generation: 0,
                new_keywords_per_generation: 20,
                new_ads_per_generation: 5,
                status_changes_per_generation: 15,
            },
            data_start: date(2022, 1, 1),
            today: date(2025, 1, 15),
            restatement_days: 7,
            limits: Limits {
                max_page_size: 10_000,
                max_response_bytes: Some(4 * 1024 * 1024),
                max_result_rows: None,
                queries_per_minute: Some(3_000),
                queries_per_day: Some(150_000),
                page_token_ttl_seconds: Some(3_600),
            },
            stream_failures: Vec::new(),
            rate_limit: RateLimitConfig::unlimited(),
            server: ServerOptions::default(),
        }
    }
}

impl Sa360Config {
    /// A tiny setup for unit tests: the same hierarchy, 3 campaigns × 2 ad groups × 4 keywords and
    /// 2 ads per ad group, 60 days of metrics, 3 days of restatement, one new campaign and a few
    /// new keywords, ads and status changes per `advance`, no quotas and no size limit, a frozen
    /// clock.
    pub fn small() -> Self {
        let base = Self::default();
        Self {
            entities: EntityCounts {
                campaigns_per_client: 3,
                ad_groups_per_campaign: 2,
                keywords_per_ad_group: 4,
                ads_per_ad_group: 2,
                conversion_actions_per_client: 3,
                bidding_strategies_per_client: 2,
                labels_per_client: 3,
                custom_columns_per_client: 2,
            },
            changes: ChangeRates {
                new_campaigns_per_generation: 1,
                new_keywords_per_generation: 3,
                new_ads_per_generation: 2,
                status_changes_per_generation: 4,
            },
            data_start: date(2024, 11, 16),
            restatement_days: 3,
            limits: Limits {
                max_response_bytes: None,
                queries_per_minute: None,
                queries_per_day: None,
                ..base.limits.clone()
            },
            server: ServerOptions {
                clock_mode: ClockMode::Frozen,
                ..ServerOptions::default()
            },
            ..base
        }
    }

    /// This configuration served on `127.0.0.1:port` (for a `simulate sa360 --port N` command).
    pub fn on_port(mut self, port: u16) -> Self {
        self.server.port = port;
        self
    }

    /// Client accounts (non-managers), in configuration order.
    pub fn client_accounts(&self) -> impl Iterator<Item = &AccountSpec> {
        self.accounts.iter().filter(|account| !account.manager)
    }

    /// Rejects contradictory settings: duplicate or unknown ids, parents that are not managers,
    /// cycles, id spaces too small for the entity counts, an empty date range.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        let fail = |message: String| Err(SimError::Config(message));
        if self.accounts.is_empty() {
            return fail("the hierarchy needs at least one account".into());
        }
        let by_id: BTreeMap<u64, &AccountSpec> = self
            .accounts
            .iter()
            .map(|account| (account.id, account))
            .collect();
        if by_id.len() != self.accounts.len() {
            return fail("account ids must be unique".into());
        }
        for account in &self.accounts {
            if account.id == 0 || account.id > 9_999_999_999 {
                return fail(format!("customer id {} is not a 10-digit id", account.id));
            }
            if let Some(parent) = account.parent {
                match by_id.get(&parent) {
                    Some(manager) if manager.manager => {}
                    Some(_) => {
                        return fail(format!(
                            "parent {parent} of {} is not a manager",
                            account.id
                        ))
                    }
                    None => return fail(format!("parent {parent} of {} is unknown", account.id)),
                }
            }
            let mut seen = BTreeSet::new();
            let mut at = Some(account.id);
            while let Some(id) = at {
                if !seen.insert(id) {
                    return fail(format!("the hierarchy above {} has a cycle", account.id));
                }
                at = by_id.get(&id).and_then(|a| a.parent);
            }
        }
        if let Some(id) = self
            .accessible_customers
            .iter()
            .find(|id| !by_id.contains_key(id))
        {
            return fail(format!("accessible customer {id} is not in the hierarchy"));
        }
        if self.client_accounts().count() > MAX_CLIENT_ACCOUNTS {
            return fail(format!("at most {MAX_CLIENT_ACCOUNTS} client accounts"));
        }
        if self.data_start > self.today {
            return fail("data_start is after today".into());
        }
        let counts = &self.entities;
        let keywords = counts
            .campaigns_per_client
            .saturating_mul(counts.ad_groups_per_campaign)
            .saturating_mul(counts.keywords_per_ad_group.max(counts.ads_per_ad_group));
        if keywords >= MAX_ENTITIES_PER_KIND / 2 {
            return fail("too many entities per client account for the id space".into());
        }
        if self.limits.max_page_size == 0 {
            return fail("max_page_size must be positive".into());
        }
        Ok(())
    }
}

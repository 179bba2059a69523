//! A simulator of the GitHub GraphQL API v4, written from GitHub's documentation (docs.github.com/graphql:
//! the schema reference, "Using pagination in the GraphQL API", "Rate limits and node limits for the
//! GraphQL API"; `docs/apis.md` §6), for tests and the out-of-the-box `debug` run.
//!
//! A real GraphQL engine (async-graphql) parses and validates every query against a schema subset of
//! GitHub's: `Query.repository(owner, name)`, `Query.node(id)`, `Query.viewer`, `Query.rateLimit`;
//! `Repository` with its `issues`, `pullRequests`, `labels`, `milestones`, `releases` connections;
//! `Issue` (with `comments` and `labels`), `PullRequest`, `IssueComment`, `Label`, `Milestone`,
//! `Release`, the `Node` interface (all of those and `Repository`), the `Actor` interface (`User`,
//! `Bot`), `PageInfo`, `RateLimit`, the `DateTime` and `URI` scalars and the enums and inputs
//! (`IssueFilters.since`, `IssueOrder`, `ReleaseOrder`, states). A query naming a field the schema
//! lacks gets GraphQL's validation error in a 200, as GitHub answers.
//!
//! What else it reproduces:
//! - `POST /graphql` only, bearer token (`401 {"message":"Bad credentials"}` otherwise);
//!   `GET /rate_limit` (REST, free) for the setup test;
//! - connections: `first` is required (`MISSING_PAGINATION_BOUNDARIES`) and at most 100
//!   (`EXCESSIVE_PAGINATION`), opaque cursors (`after` of another order or not a cursor:
//!   `INVALID_CURSOR_ARGUMENTS`), `pageInfo { hasNextPage endCursor startCursor hasPreviousPage }`,
//!   keyset order, so a record changed between pages moves but is never skipped;
//! - the node limit (500,000 by default) and the cost formula: the requests each connection needs,
//!   assuming every `first` is reached, summed, divided by 100 and rounded, at least 1 point;
//!   `MAX_NODE_LIMIT_EXCEEDED` past the limit;
//! - the points budget (5,000 an hour by default): `rateLimit { cost limit remaining resetAt used
//!   nodeCount }`, the `x-ratelimit-limit/-remaining/-used/-reset/-resource: graphql` headers on
//!   every answer, `RATE_LIMITED` errors (in a 200, with `x-ratelimit-remaining: 0`) when a query
//!   costs more than is left; secondary limits (the request budget of `RateLimitConfig`) are 403s
//!   with `Retry-After`;
//! - `NOT_FOUND` in a 200 with `data.repository: null` for an unknown repository, and with
//!   `data.node: null` for a global id no live object has (unknown or deleted);
//! - generations ([`GithubSimulator::advance`]) open, edit, comment, close and delete issues, open,
//!   edit and merge pull requests, add and delete labels, edit milestones, publish and delete
//!   releases, and touch the repository; every change moves `updatedAt`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ErrorExtensions, InputObject, Interface,
    Object, SimpleObject,
};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::simulator::launch::Credential;
use crate::simulator::options::Knob;
use crate::simulator::rng::SeededRng;
use crate::simulator::running::{ApiSimulator, Running};
use crate::simulator::{
    ClockMode, Generational, RateLimitConfig, ServerOptions, SimControl, SimulatorHooks, Timeline,
    Volume,
};

/// The largest `first` GitHub accepts.
pub const MAX_FIRST: i64 = 100;

/// The simulator's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// Seed of the data and of random faults.
    pub seed: u64,
    /// The token it accepts.
    pub token: String,
    /// The repositories it holds, `owner/name`, separated by commas or spaces (the form's value: a
    /// `debug` run serves the configured ones).
    pub repositories: String,
    /// Issues per repository.
    pub issues: Volume,
    /// Pull requests per repository.
    pub pull_requests: Volume,
    /// Labels per repository (removed ones are deleted).
    pub labels: Volume,
    /// Milestones per repository.
    pub milestones: Volume,
    /// Releases per repository (removed ones are deleted).
    pub releases: Volume,
    /// The most comments a new issue starts with: each gets `0..=max_comments`, drawn from the seed
    /// (generations add more to existing issues).
    pub max_comments: u64,
    /// The simulated "now" of the initial data.
    pub data_end: DateTime<Utc>,
    /// Simulated time per generation.
    pub generation_interval: Duration,
    /// Points per window (GitHub: 5,000 an hour for a user).
    pub points: u64,
    /// The points window.
    pub points_window: Duration,
    /// The most nodes one query may ask for.
    pub node_limit: u64,
    /// The secondary limit: requests per window, answered with 403 and `Retry-After`.
    pub rate_limit: RateLimitConfig,
    /// Port and clock.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(GithubConfig);

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            seed: 20_240_601,
            token: "ghp_simulator0000000000000000000000000".to_owned(),
            repositories: "octo-org/octo-repo, octo-org/tools".into(),
            issues: Volume::changing(300, 6, 6, 1),
            pull_requests: Volume::changing(150, 3, 4, 0),
            labels: Volume::changing(12, 1, 0, 1),
            milestones: Volume::changing(6, 0, 1, 0),
            releases: Volume::changing(20, 1, 0, 0),
            max_comments: 3,
            data_end: "2026-11-01T00:00:00Z".parse().expect("valid literal"),
            generation_interval: Duration::from_secs(3600),
            points: 5000,
            points_window: Duration::from_secs(3600),
            node_limit: 500_000,
            rate_limit: RateLimitConfig::per_window(2000, 60),
            server: ServerOptions::default(),
        }
    }
}

impl GithubConfig {
    /// A small data set for tests: a frozen clock, no secondary limit.
    pub fn small() -> Self {
        Self {
            issues: Volume::changing(45, 3, 3, 1),
            pull_requests: Volume::changing(25, 2, 2, 0),
            labels: Volume::changing(6, 1, 0, 1),
            milestones: Volume::changing(3, 0, 1, 0),
            releases: Volume::changing(5, 1, 0, 1),
            rate_limit: RateLimitConfig::unlimited(),
            server: ServerOptions {
                clock_mode: ClockMode::Frozen,
                ..ServerOptions::default()
            },
            ..Self::default()
        }
    }
}

/// An issue comment.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentData {
    /// Node id.
    pub id: String,
    /// Text.
    pub body: String,
    /// Author login.
    pub author: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub updated: i64,
}

/// An issue or a pull request (one number sequence per repository, as on GitHub).
#[derive(Debug, Clone, PartialEq)]
pub struct IssueData {
    /// Node id (`I_…` or `PR_…`).
    pub id: String,
    /// Creation order, the keyset tie-break.
    pub serial: u64,
    /// Its number in the repository.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// `OPEN`, `CLOSED` (or `MERGED` for pull requests).
    pub state: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub updated: i64,
    /// Unix seconds.
    pub closed: Option<i64>,
    /// Merged at (pull requests).
    pub merged: Option<i64>,
    /// Author login.
    pub author: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Milestone node id.
    pub milestone: Option<String>,
    /// Comments (issues).
    pub comments: Vec<CommentData>,
    /// A draft (pull requests).
    pub draft: bool,
    /// Lines added (pull requests).
    pub additions: i64,
    /// Deleted (issues only: an admin may delete one); gone from every connection.
    pub deleted: bool,
}

/// A label, milestone or release: the few-field kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemData {
    /// Node id.
    pub id: String,
    /// Creation order.
    pub serial: u64,
    /// Name, title or tag.
    pub name: String,
    /// Description.
    pub description: String,
    /// Milestone number.
    pub number: i64,
    /// Milestone state (`OPEN`, `CLOSED`), release `draft`/`published`.
    pub state: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub updated: i64,
    /// Deleted: gone.
    pub deleted: bool,
}

/// One repository.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoData {
    /// Node id (`R_…`).
    pub id: String,
    /// Owner login.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Stars.
    pub stars: i64,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub updated: i64,
    /// Issues.
    pub issues: Vec<IssueData>,
    /// Pull requests.
    pub pulls: Vec<IssueData>,
    /// Labels.
    pub labels: Vec<ItemData>,
    /// Milestones.
    pub milestones: Vec<ItemData>,
    /// Releases.
    pub releases: Vec<ItemData>,
    next_number: i64,
}

impl RepoData {
    /// `owner/name`.
    pub fn name_with_owner(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// The data at one generation.
#[derive(Debug, Clone)]
pub struct GithubData {
    seed: u64,
    generation: u32,
    now: i64,
    interval: i64,
    serial: u64,
    config: GithubConfig,
    /// The repositories.
    pub repos: Vec<RepoData>,
}

/// A change one generation made: (repository, kind, node id, what).
pub type Change = (String, &'static str, String, &'static str);

const LOGINS: &[&str] = &[
    "octocat",
    "hubot",
    "monalisa",
    "dependabot[bot]",
    "mona-lisa",
];
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

impl GithubData {
    fn new(config: &GithubConfig) -> Self {
        let mut data = Self {
            seed: config.seed,
            generation: 0,
            now: config.data_end.timestamp(),
            interval: config.generation_interval.as_secs().max(4) as i64,
            serial: 0,
            config: config.clone(),
            repos: Vec::new(),
        };
        let span = 400 * 86_400_i64;
        for full in config
            .repositories
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|r| !r.is_empty())
        {
            let (owner, name) = full.split_once('/').unwrap_or(("octo-org", full));
            let id = data.id("R_kgDO");
            let created = data.now - span - 86_400;
            data.repos.push(RepoData {
                id,
                owner: owner.to_owned(),
                name: name.to_owned(),
                description: format!("{name}: a simulated repository"),
                stars: 42,
                created,
                updated: created,
                issues: Vec::new(),
                pulls: Vec::new(),
                labels: Vec::new(),
                milestones: Vec::new(),
                releases: Vec::new(),
                next_number: 1,
            });
            let r = data.repos.len() - 1;
            let at =
                |i: u64, n: u64, now: i64| now - 1 - ((n - i) as i64) * (span / n.max(1) as i64);
            for (kind, v) in [
                ("labels", config.labels),
                ("milestones", config.milestones),
                ("releases", config.releases),
                ("issues", config.issues),
                ("pulls", config.pull_requests),
            ] {
                for i in 0..v.initial {
                    let t = at(i, v.initial, data.now);
                    data.create(r, kind, t);
                }
            }
        }
        data
    }

    fn id(&mut self, prefix: &str) -> String {
        self.serial += 1;
        let mut rng = SeededRng::new(self.seed, &[self.serial, 0x61]);
        let tail: String = (0..12)
            .map(|_| ID_ALPHABET[rng.below(ID_ALPHABET.len() as u64) as usize] as char)
            .collect();
        format!("{prefix}{tail}")
    }

    fn rng(&self, salt: u64) -> SeededRng {
        SeededRng::new(self.seed, &[self.serial, u64::from(self.generation), salt])
    }

    fn comment(&mut self, at: i64) -> CommentData {
        let id = self.id("IC_kwDO");
        let author = LOGINS[self.rng(3).below(LOGINS.len() as u64) as usize].to_owned();
        CommentData {
            body: format!("comment {} at {at}", self.serial),
            id,
            author,
            created: at,
            updated: at,
        }
    }

    fn create(&mut self, r: usize, kind: &str, at: i64) {
        match kind {
            "issues" | "pulls" => {
                let prefix = if kind == "issues" {
                    "I_kwDO"
                } else {
                    "PR_kwDO"
                };
                let id = self.id(prefix);
                let serial = self.serial;
                let mut rng = self.rng(1);
                let labels: Vec<String> = self.repos[r]
                    .labels
                    .iter()
                    .filter(|l| !l.deleted)
                    .filter(|_| rng.below(3) == 0)
                    .map(|l| l.name.clone())
                    .collect();
                let milestone = self.repos[r]
                    .milestones
                    .first()
                    .filter(|_| rng.below(2) == 0)
                    .map(|m| m.id.clone());
                let most = self.config.max_comments.saturating_add(1);
                let comments = if kind == "issues" {
                    (0..rng.below(most)).map(|_| self.comment(at)).collect()
                } else {
                    Vec::new()
                };
                let repo = &mut self.repos[r];
                let number = repo.next_number;
                repo.next_number += 1;
                let issue = IssueData {
                    id,
                    serial,
                    number,
                    title: format!(
                        "{} #{number}",
                        if kind == "issues" { "Bug" } else { "Change" }
                    ),
                    body: format!("Body of #{number}.\nSecond line with \"quotes\"."),
                    state: "OPEN",
                    created: at,
                    updated: at,
                    closed: None,
                    merged: None,
                    author: LOGINS[rng.below(LOGINS.len() as u64) as usize].to_owned(),
                    labels,
                    milestone,
                    comments,
                    draft: kind == "pulls" && rng.below(4) == 0,
                    additions: rng.below(500) as i64,
                    deleted: false,
                };
                if kind == "issues" {
                    repo.issues.push(issue);
                } else {
                    repo.pulls.push(issue);
                }
            }
            _ => {
                let prefix = match kind {
                    "labels" => "LA_kwDO",
                    "milestones" => "MI_kwDO",
                    _ => "RE_kwDO",
                };
                let id = self.id(prefix);
                let serial = self.serial;
                let repo = &mut self.repos[r];
                let list = match kind {
                    "labels" => &mut repo.labels,
                    "milestones" => &mut repo.milestones,
                    _ => &mut repo.releases,
                };
                let number = list.len() as i64 + 1;
                let name = match kind {
                    "labels" => format!("label-{serial}"),
                    "milestones" => format!("Milestone {number}"),
                    _ => format!("v1.{number}.{serial}"),
                };
                list.push(ItemData {
                    id,
                    serial,
                    name,
                    description: format!("{kind} {number}"),
                    number,
                    state: "OPEN",
                    created: at,
                    updated: at,
                    deleted: false,
                });
            }
        }
    }

    /// Live items of `kind` in repository `r` (what the warehouse must hold).
    pub fn live_issues(&self, r: usize, pulls: bool) -> impl Iterator<Item = &IssueData> {
        let list = if pulls {
            &self.repos[r].pulls
        } else {
            &self.repos[r].issues
        };
        list.iter().filter(|i| !i.deleted)
    }
}

fn pick<'a, T>(
    items: &'a mut [T],
    live: impl Fn(&T) -> bool,
    rng: &mut SeededRng,
) -> Option<&'a mut T> {
    let idx: Vec<usize> = (0..items.len()).filter(|i| live(&items[*i])).collect();
    if idx.is_empty() {
        return None;
    }
    let i = idx[rng.below(idx.len() as u64) as usize];
    Some(&mut items[i])
}

impl Generational for GithubData {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.generation += 1;
        let start = self.now;
        self.now += self.interval;
        let mut tick = 0_i64;
        let half = self.interval / 2;
        let mut at = move || {
            tick += 1;
            start + 1 + tick.min(half)
        };
        let mut changes = Vec::new();
        let config = self.config.clone();
        for r in 0..self.repos.len() {
            let repo_name = self.repos[r].name_with_owner();
            let mut note = |kind: &'static str, id: String, what: &'static str| {
                changes.push((repo_name.clone(), kind, id, what));
            };
            for (kind, v) in [
                ("labels", config.labels),
                ("releases", config.releases),
                ("issues", config.issues),
                ("pulls", config.pull_requests),
            ] {
                for _ in 0..v.added_per_generation {
                    let t = at();
                    self.create(r, kind, t);
                    let list_last = match kind {
                        "labels" => self.repos[r].labels.last().map(|i| i.id.clone()),
                        "releases" => self.repos[r].releases.last().map(|i| i.id.clone()),
                        "issues" => self.repos[r].issues.last().map(|i| i.id.clone()),
                        _ => self.repos[r].pulls.last().map(|i| i.id.clone()),
                    };
                    note(kind, list_last.unwrap_or_default(), "created");
                }
            }
            for _ in 0..config.issues.modified_per_generation {
                let t = at();
                let mut rng = self.rng(7);
                let comment = self.comment(t);
                if let Some(issue) = pick(&mut self.repos[r].issues, |i| !i.deleted, &mut rng) {
                    match rng.below(3) {
                        0 => issue.comments.push(comment),
                        1 if issue.state == "OPEN" => {
                            issue.state = "CLOSED";
                            issue.closed = Some(t);
                        }
                        _ => issue.title = format!("{} (edited)", issue.title),
                    }
                    issue.updated = t;
                    note("issues", issue.id.clone(), "updated");
                }
            }
            for _ in 0..config.issues.removed_per_generation {
                let mut rng = self.rng(8);
                if let Some(issue) = pick(&mut self.repos[r].issues, |i| !i.deleted, &mut rng) {
                    issue.deleted = true;
                    note("issues", issue.id.clone(), "deleted");
                }
            }
            for _ in 0..config.pull_requests.modified_per_generation {
                let t = at();
                let mut rng = self.rng(9);
                if let Some(pr) = pick(&mut self.repos[r].pulls, |p| p.state == "OPEN", &mut rng) {
                    if rng.below(2) == 0 {
                        pr.state = "MERGED";
                        pr.merged = Some(t);
                        pr.closed = Some(t);
                        pr.draft = false;
                    } else {
                        pr.title = format!("{} (edited)", pr.title);
                        pr.additions += 1;
                    }
                    pr.updated = t;
                    note("pulls", pr.id.clone(), "updated");
                }
            }
            for _ in 0..config.milestones.modified_per_generation {
                let t = at();
                let mut rng = self.rng(10);
                if let Some(m) = pick(&mut self.repos[r].milestones, |m| !m.deleted, &mut rng) {
                    m.state = if m.state == "OPEN" { "CLOSED" } else { "OPEN" };
                    m.updated = t;
                    note("milestones", m.id.clone(), "updated");
                }
            }
            for (kind, removed) in [
                ("labels", config.labels.removed_per_generation),
                ("releases", config.releases.removed_per_generation),
            ] {
                for _ in 0..removed {
                    let mut rng = self.rng(11);
                    let list = if kind == "labels" {
                        &mut self.repos[r].labels
                    } else {
                        &mut self.repos[r].releases
                    };
                    if let Some(item) = pick(list, |i| !i.deleted, &mut rng) {
                        item.deleted = true;
                        note(kind, item.id.clone(), "deleted");
                    }
                }
            }
            let repo = &mut self.repos[r];
            repo.stars += 1;
            repo.updated = at();
            note("repositories", repo.id.clone(), "updated");
        }
        changes
    }

    fn generation_number(&self) -> u32 {
        self.generation
    }
}

// ---- the GraphQL schema (a subset of GitHub's, same names and types) ----

/// GitHub's `DateTime` scalar: an ISO-8601 encoded UTC date string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GqlDateTime(pub String);
async_graphql::scalar!(
    GqlDateTime,
    "DateTime",
    "An ISO-8601 encoded UTC date string."
);

/// GitHub's `URI` scalar.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Uri(pub String);
async_graphql::scalar!(
    Uri,
    "URI",
    "An RFC 3986, RFC 3987, and RFC 6570 (level 4) compliant URI string."
);

fn time(t: i64) -> GqlDateTime {
    GqlDateTime(
        DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// A GitHub user.
#[derive(SimpleObject, Clone)]
pub struct User {
    login: String,
    url: Uri,
    avatar_url: Uri,
}

/// A GitHub App's bot.
#[derive(SimpleObject, Clone)]
pub struct Bot {
    login: String,
    url: Uri,
    avatar_url: Uri,
}

/// Represents an object which can take actions on GitHub.
// `ty` repeats once per field of the interface: the lint misreads the derive's syntax.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface, Clone)]
#[graphql(
    field(name = "login", ty = "&String"),
    field(name = "url", ty = "&Uri"),
    field(name = "avatar_url", ty = "&Uri")
)]
pub enum Actor {
    /// A user.
    User(User),
    /// A bot.
    Bot(Bot),
}

fn actor(login: &str) -> Actor {
    let url = Uri(format!("https://github.com/{login}"));
    let avatar_url = Uri(format!("https://avatars.githubusercontent.com/{login}"));
    match login.strip_suffix("[bot]") {
        Some(app) => Actor::Bot(Bot {
            login: app.to_owned(),
            url: Uri(format!("https://github.com/apps/{app}")),
            avatar_url,
        }),
        None => Actor::User(User {
            login: login.to_owned(),
            url,
            avatar_url,
        }),
    }
}

/// Information about pagination in a connection.
#[derive(SimpleObject, Clone, Default)]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    end_cursor: Option<String>,
    start_cursor: Option<String>,
}

/// The client's rate limit information.
#[derive(SimpleObject, Clone, Debug)]
pub struct RateLimit {
    cost: i32,
    limit: i32,
    remaining: i32,
    used: i32,
    node_count: i32,
    reset_at: GqlDateTime,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum OrderDirection {
    Asc,
    Desc,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
enum IssueOrderField {
    CreatedAt,
    UpdatedAt,
    Comments,
}

#[derive(InputObject)]
struct IssueOrder {
    field: IssueOrderField,
    direction: OrderDirection,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum IssueState {
    Open,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum PullRequestState {
    Open,
    Closed,
    Merged,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum MilestoneState {
    Open,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum IssueStateReason {
    Completed,
    NotPlanned,
    Reopened,
}

#[derive(InputObject)]
struct IssueFilters {
    since: Option<GqlDateTime>,
    states: Option<Vec<IssueState>>,
    assignee: Option<String>,
    created_by: Option<String>,
    labels: Option<Vec<String>>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum ReleaseOrderField {
    CreatedAt,
    Name,
}

#[derive(InputObject)]
struct ReleaseOrder {
    field: ReleaseOrderField,
    direction: OrderDirection,
}

fn gql_error(kind: &str, message: String) -> async_graphql::Error {
    let kind = kind.to_owned();
    async_graphql::Error::new(message).extend_with(move |_, e| e.set("type", kind.clone()))
}

/// One page of `items` (each with its sort key, already in order): `first` and `after` checked as
/// GitHub checks them.
fn paginate<T: Clone>(
    connection: &str,
    order: &str,
    items: Vec<(String, T)>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(Vec<T>, PageInfo, i32)> {
    let total = items.len() as i32;
    let Some(first) = first else {
        return Err(gql_error(
            "MISSING_PAGINATION_BOUNDARIES",
            format!("You must provide a `first` or `last` value to properly paginate the `{connection}` connection."),
        ));
    };
    if i64::from(first) > MAX_FIRST {
        return Err(gql_error(
            "EXCESSIVE_PAGINATION",
            format!("Requesting {first} records on the `{connection}` connection exceeds the `first` limit of {MAX_FIRST} records."),
        ));
    }
    if first < 0 {
        return Err(gql_error(
            "INVALID_ARGUMENTS",
            "`first` must be a nonnegative integer".to_owned(),
        ));
    }
    let start = match after {
        None => 0,
        Some(cursor) => {
            let key = decode_cursor(&cursor)
                .and_then(|k| k.strip_prefix(&format!("{order}:")).map(str::to_owned))
                .ok_or_else(|| {
                    gql_error(
                        "INVALID_CURSOR_ARGUMENTS",
                        format!("`{cursor}` does not appear to be a valid cursor."),
                    )
                })?;
            // Keyset: the first item past the cursor's key, wherever the cursor's item went since.
            items
                .iter()
                .position(|(k, _)| *k > key)
                .unwrap_or(items.len())
        }
    };
    let page: Vec<&(String, T)> = items.iter().skip(start).take(first as usize).collect();
    let cursor_of = |k: &str| encode_cursor(&format!("{order}:{k}"));
    let info = PageInfo {
        has_next_page: start + page.len() < items.len(),
        has_previous_page: start > 0,
        end_cursor: page.last().map(|(k, _)| cursor_of(k)),
        start_cursor: page.first().map(|(k, _)| cursor_of(k)),
    };
    Ok((
        page.into_iter().map(|(_, t)| t.clone()).collect(),
        info,
        total,
    ))
}

/// GitHub's cursors are opaque base64 (`Y3Vyc29yOnYyOp…`: "cursor:v2:" and the position).
fn encode_cursor(key: &str) -> String {
    base64(format!("cursor:v2:{key}").as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let raw = unbase64(cursor)?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("cursor:v2:")
        .map(str::to_owned)
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0_u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        let d = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | d;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A sort key that orders like the numbers (non-negative), then the serial.
fn key(t: i64, serial: u64) -> String {
    format!("{:012}.{serial:010}", t.max(0))
}

fn parse_since(since: &GqlDateTime) -> async_graphql::Result<i64> {
    DateTime::parse_from_rfc3339(&since.0)
        .map(|t| t.timestamp())
        .map_err(|_| {
            gql_error(
                "INVALID_ARGUMENTS",
                format!("Variable $since of type DateTime was provided invalid value: {} is not an ISO-8601 time", since.0),
            )
        })
}

macro_rules! connection {
    ($name:ident, $node:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject, Clone)]
        pub struct $name {
            nodes: Vec<$node>,
            page_info: PageInfo,
            total_count: i32,
        }
    };
}

connection!(IssueConnection, Issue, "The connection type for Issue.");
connection!(
    PullRequestConnection,
    PullRequest,
    "The connection type for PullRequest."
);
connection!(
    IssueCommentConnection,
    IssueComment,
    "The connection type for IssueComment."
);
connection!(LabelConnection, Label, "The connection type for Label.");
connection!(
    MilestoneConnection,
    Milestone,
    "The connection type for Milestone."
);
connection!(
    ReleaseConnection,
    Release,
    "The connection type for Release."
);

/// Sorts `items` by `key` (descending when asked) and pages them.
#[allow(clippy::too_many_arguments)] // one call per connection, each naming all of them
fn page_of<T: Clone, S>(
    connection: &str,
    items: impl Iterator<Item = S>,
    key_of: impl Fn(&S) -> String,
    wrap: impl Fn(S) -> T,
    desc: bool,
    order: &str,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(Vec<T>, PageInfo, i32)> {
    let mut keyed: Vec<(String, T)> = items.map(|s| (key_of(&s), wrap(s))).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    if desc {
        keyed.reverse();
        // Keys compare descending: flip every digit so "greater" means "later in this order".
        keyed = keyed.into_iter().map(|(k, t)| (flip(&k), t)).collect();
    }
    paginate(connection, order, keyed, first, after)
}

fn flip(k: &str) -> String {
    k.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_digit(9 - d, 10).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// A repository.
#[derive(Clone)]
pub struct Repository(Arc<GithubData>, usize);

impl Repository {
    fn data(&self) -> &RepoData {
        &self.0.repos[self.1]
    }
}

#[Object]
impl Repository {
    async fn id(&self) -> async_graphql::ID {
        self.data().id.clone().into()
    }
    async fn name(&self) -> &str {
        &self.data().name
    }
    async fn name_with_owner(&self) -> String {
        self.data().name_with_owner()
    }
    async fn owner(&self) -> Actor {
        actor(&self.data().owner)
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.data().description)
    }
    async fn url(&self) -> Uri {
        Uri(format!(
            "https://github.com/{}",
            self.data().name_with_owner()
        ))
    }
    async fn is_private(&self) -> bool {
        false
    }
    async fn is_archived(&self) -> bool {
        false
    }
    async fn is_fork(&self) -> bool {
        false
    }
    async fn stargazer_count(&self) -> i32 {
        self.data().stars as i32
    }
    async fn fork_count(&self) -> i32 {
        (self.data().stars / 7) as i32
    }
    async fn created_at(&self) -> GqlDateTime {
        time(self.data().created)
    }
    async fn updated_at(&self) -> GqlDateTime {
        time(self.data().updated)
    }
    async fn pushed_at(&self) -> Option<GqlDateTime> {
        Some(time(self.data().updated))
    }
    async fn default_branch_ref(&self) -> Option<Ref> {
        Some(Ref {
            name: "main".into(),
        })
    }
    async fn primary_language(&self) -> Option<Language> {
        Some(Language {
            name: "Rust".into(),
        })
    }

    async fn issues(
        &self,
        first: Option<i32>,
        after: Option<String>,
        filter_by: Option<IssueFilters>,
        order_by: Option<IssueOrder>,
        states: Option<Vec<IssueState>>,
    ) -> async_graphql::Result<IssueConnection> {
        let since = match filter_by.as_ref().and_then(|f| f.since.as_ref()) {
            Some(s) => Some(parse_since(s)?),
            None => None,
        };
        let states: Option<Vec<&str>> = states
            .or_else(|| filter_by.as_ref().and_then(|f| f.states.clone()))
            .map(|s| {
                s.iter()
                    .map(|s| {
                        if *s == IssueState::Open {
                            "OPEN"
                        } else {
                            "CLOSED"
                        }
                    })
                    .collect()
            });
        let (field, desc) = order(order_by.as_ref());
        let repo = self.data();
        let items = repo.issues.iter().filter(|i| {
            !i.deleted
                && since.is_none_or(|s| i.updated >= s)
                && states.as_ref().is_none_or(|s| s.contains(&i.state))
        });
        let (nodes, page_info, total_count) = page_of(
            "issues",
            items,
            |i| issue_key(i, field),
            |i| Issue(i.clone(), repo.name_with_owner()),
            desc,
            &format!("{field:?}{desc}"),
            first,
            after,
        )?;
        Ok(IssueConnection {
            nodes,
            page_info,
            total_count,
        })
    }

    async fn pull_requests(
        &self,
        first: Option<i32>,
        after: Option<String>,
        order_by: Option<IssueOrder>,
        states: Option<Vec<PullRequestState>>,
    ) -> async_graphql::Result<PullRequestConnection> {
        let states: Option<Vec<&str>> = states.map(|s| {
            s.iter()
                .map(|s| match s {
                    PullRequestState::Open => "OPEN",
                    PullRequestState::Closed => "CLOSED",
                    PullRequestState::Merged => "MERGED",
                })
                .collect()
        });
        let (field, desc) = order(order_by.as_ref());
        let repo = self.data();
        let items = repo
            .pulls
            .iter()
            .filter(|p| states.as_ref().is_none_or(|s| s.contains(&p.state)));
        let (nodes, page_info, total_count) = page_of(
            "pullRequests",
            items,
            |p| issue_key(p, field),
            |p| PullRequest(p.clone(), repo.name_with_owner()),
            desc,
            &format!("{field:?}{desc}"),
            first,
            after,
        )?;
        Ok(PullRequestConnection {
            nodes,
            page_info,
            total_count,
        })
    }

    async fn labels(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<LabelConnection> {
        let repo = self.data();
        let items = repo.labels.iter().filter(|l| !l.deleted);
        let (nodes, page_info, total_count) = page_of(
            "labels",
            items,
            |l| format!("{}.{:010}", l.name, l.serial),
            |l| Label(l.clone(), repo.name_with_owner()),
            false,
            "name",
            first,
            after,
        )?;
        Ok(LabelConnection {
            nodes,
            page_info,
            total_count,
        })
    }

    async fn milestones(
        &self,
        first: Option<i32>,
        after: Option<String>,
        states: Option<Vec<MilestoneState>>,
    ) -> async_graphql::Result<MilestoneConnection> {
        let repo = self.data();
        let states: Option<Vec<&str>> = states.map(|s| {
            s.iter()
                .map(|s| {
                    if *s == MilestoneState::Open {
                        "OPEN"
                    } else {
                        "CLOSED"
                    }
                })
                .collect()
        });
        let items = repo
            .milestones
            .iter()
            .filter(|m| !m.deleted && states.as_ref().is_none_or(|s| s.contains(&m.state)));
        let (nodes, page_info, total_count) = page_of(
            "milestones",
            items,
            |m| key(m.number, m.serial),
            |m| Milestone(m.clone(), repo.name_with_owner()),
            false,
            "number",
            first,
            after,
        )?;
        Ok(MilestoneConnection {
            nodes,
            page_info,
            total_count,
        })
    }

    async fn releases(
        &self,
        first: Option<i32>,
        after: Option<String>,
        order_by: Option<ReleaseOrder>,
    ) -> async_graphql::Result<ReleaseConnection> {
        let repo = self.data();
        let by_name = order_by
            .as_ref()
            .is_some_and(|o| o.field == ReleaseOrderField::Name);
        let desc = order_by
            .as_ref()
            .is_none_or(|o| o.direction == OrderDirection::Desc);
        let items = repo.releases.iter().filter(|r| !r.deleted);
        let (nodes, page_info, total_count) = page_of(
            "releases",
            items,
            |r| {
                if by_name {
                    format!("{}.{:010}", r.name, r.serial)
                } else {
                    key(r.created, r.serial)
                }
            },
            |r| Release(r.clone(), repo.name_with_owner()),
            desc && !by_name,
            &format!("{by_name}{desc}"),
            first,
            after,
        )?;
        Ok(ReleaseConnection {
            nodes,
            page_info,
            total_count,
        })
    }
}

fn order(o: Option<&IssueOrder>) -> (IssueOrderField, bool) {
    // GitHub's default issue order is by creation, ascending.
    o.map_or((IssueOrderField::CreatedAt, false), |o| {
        (o.field, o.direction == OrderDirection::Desc)
    })
}

fn issue_key(i: &IssueData, field: IssueOrderField) -> String {
    match field {
        IssueOrderField::CreatedAt => key(i.created, i.serial),
        IssueOrderField::UpdatedAt => key(i.updated, i.serial),
        IssueOrderField::Comments => key(i.comments.len() as i64, i.serial),
    }
}

/// A Git reference.
#[derive(SimpleObject, Clone)]
pub struct Ref {
    name: String,
}

/// A programming language.
#[derive(SimpleObject, Clone)]
pub struct Language {
    name: String,
}

/// An issue (with the repository's `owner/name`).
#[derive(Clone)]
pub struct Issue(IssueData, String);

#[Object]
impl Issue {
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    async fn number(&self) -> i32 {
        self.0.number as i32
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn state(&self) -> IssueState {
        if self.0.state == "OPEN" {
            IssueState::Open
        } else {
            IssueState::Closed
        }
    }
    async fn state_reason(&self) -> Option<IssueStateReason> {
        self.0.closed.map(|_| IssueStateReason::Completed)
    }
    async fn url(&self) -> Uri {
        Uri(format!(
            "https://github.com/{}/issues/{}",
            self.1, self.0.number
        ))
    }
    async fn locked(&self) -> bool {
        false
    }
    async fn created_at(&self) -> GqlDateTime {
        time(self.0.created)
    }
    async fn updated_at(&self) -> GqlDateTime {
        time(self.0.updated)
    }
    async fn closed_at(&self) -> Option<GqlDateTime> {
        self.0.closed.map(time)
    }
    async fn author(&self) -> Option<Actor> {
        Some(actor(&self.0.author))
    }
    async fn milestone(&self, ctx: &Context<'_>) -> Option<Milestone> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        let id = self.0.milestone.as_ref()?;
        data.repos.iter().find_map(|r| {
            r.milestones
                .iter()
                .find(|m| &m.id == id)
                .map(|m| Milestone(m.clone(), r.name_with_owner()))
        })
    }
    async fn repository(&self, ctx: &Context<'_>) -> Option<Repository> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        let i = data
            .repos
            .iter()
            .position(|r| r.name_with_owner() == self.1)?;
        Some(Repository(Arc::clone(data), i))
    }
    async fn labels(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<LabelConnection>> {
        labels_of(&self.0, &self.1, first, after).map(Some)
    }
    async fn comments(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<IssueCommentConnection> {
        let (nodes, page_info, total_count) = page_of(
            "comments",
            self.0.comments.iter().enumerate(),
            |(i, c)| key(c.created, *i as u64),
            |(_, c)| IssueComment(c.clone(), self.1.clone(), self.0.number),
            false,
            "created",
            first,
            after,
        )?;
        Ok(IssueCommentConnection {
            nodes,
            page_info,
            total_count,
        })
    }
}

fn labels_of(
    item: &IssueData,
    repo: &str,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<LabelConnection> {
    let labels = item.labels.iter().enumerate().map(|(i, name)| ItemData {
        id: format!("LA_kwDO{}", base64(name.as_bytes())),
        serial: i as u64,
        name: name.clone(),
        description: String::new(),
        number: 0,
        state: "OPEN",
        created: item.created,
        updated: item.created,
        deleted: false,
    });
    let (nodes, page_info, total_count) = page_of(
        "labels",
        labels,
        |l| format!("{}.{:010}", l.name, l.serial),
        |l| Label(l, repo.to_owned()),
        false,
        "name",
        first,
        after,
    )?;
    Ok(LabelConnection {
        nodes,
        page_info,
        total_count,
    })
}

/// A pull request.
#[derive(Clone)]
pub struct PullRequest(IssueData, String);

#[Object]
impl PullRequest {
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    async fn number(&self) -> i32 {
        self.0.number as i32
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn state(&self) -> PullRequestState {
        match self.0.state {
            "OPEN" => PullRequestState::Open,
            "MERGED" => PullRequestState::Merged,
            _ => PullRequestState::Closed,
        }
    }
    async fn is_draft(&self) -> bool {
        self.0.draft
    }
    async fn merged(&self) -> bool {
        self.0.merged.is_some()
    }
    async fn merged_at(&self) -> Option<GqlDateTime> {
        self.0.merged.map(time)
    }
    async fn url(&self) -> Uri {
        Uri(format!(
            "https://github.com/{}/pull/{}",
            self.1, self.0.number
        ))
    }
    async fn base_ref_name(&self) -> &str {
        "main"
    }
    async fn head_ref_name(&self) -> String {
        format!("change-{}", self.0.number)
    }
    async fn additions(&self) -> i32 {
        self.0.additions as i32
    }
    async fn deletions(&self) -> i32 {
        (self.0.additions / 3) as i32
    }
    async fn created_at(&self) -> GqlDateTime {
        time(self.0.created)
    }
    async fn updated_at(&self) -> GqlDateTime {
        time(self.0.updated)
    }
    async fn closed_at(&self) -> Option<GqlDateTime> {
        self.0.closed.map(time)
    }
    async fn author(&self) -> Option<Actor> {
        Some(actor(&self.0.author))
    }
    async fn repository(&self, ctx: &Context<'_>) -> Option<Repository> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        let i = data
            .repos
            .iter()
            .position(|r| r.name_with_owner() == self.1)?;
        Some(Repository(Arc::clone(data), i))
    }
    async fn labels(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<LabelConnection>> {
        labels_of(&self.0, &self.1, first, after).map(Some)
    }
}

/// A comment on an issue.
#[derive(Clone)]
pub struct IssueComment(CommentData, String, i64);

#[Object]
impl IssueComment {
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn url(&self) -> Uri {
        Uri(format!(
            "https://github.com/{}/issues/{}#issuecomment-{}",
            self.1, self.2, self.0.created
        ))
    }
    async fn created_at(&self) -> GqlDateTime {
        time(self.0.created)
    }
    async fn updated_at(&self) -> GqlDateTime {
        time(self.0.updated)
    }
    async fn author(&self) -> Option<Actor> {
        Some(actor(&self.0.author))
    }
}

/// A label.
#[derive(Clone)]
pub struct Label(ItemData, String);

#[Object]
impl Label {
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn color(&self) -> String {
        format!("{:06x}", (self.0.serial * 2_654_435_761) & 0xFF_FFFF)
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.0.description)
    }
    async fn is_default(&self) -> bool {
        self.0.serial.is_multiple_of(5)
    }
    async fn created_at(&self) -> Option<GqlDateTime> {
        Some(time(self.0.created))
    }
    async fn updated_at(&self) -> Option<GqlDateTime> {
        Some(time(self.0.updated))
    }
    async fn repository(&self, ctx: &Context<'_>) -> Option<Repository> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        let i = data
            .repos
            .iter()
            .position(|r| r.name_with_owner() == self.1)?;
        Some(Repository(Arc::clone(data), i))
    }
}

/// A milestone.
#[derive(Clone)]
pub struct Milestone(ItemData, String);

#[Object]
impl Milestone {
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    async fn number(&self) -> i32 {
        self.0.number as i32
    }
    async fn title(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.0.description)
    }
    async fn state(&self) -> MilestoneState {
        if self.0.state == "OPEN" {
            MilestoneState::Open
        } else {
            MilestoneState::Closed
        }
    }
    async fn due_on(&self) -> Option<GqlDateTime> {
        Some(time(self.0.created + 30 * 86_400))
    }
    async fn closed_at(&self) -> Option<GqlDateTime> {
        (self.0.state == "CLOSED").then(|| time(self.0.updated))
    }
    async fn created_at(&self) -> GqlDateTime {
        time(self.0.created)
    }
    async fn updated_at(&self) -> GqlDateTime {
        time(self.0.updated)
    }
    async fn repository(&self, ctx: &Context<'_>) -> Option<Repository> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        let i = data
            .repos
            .iter()
            .position(|r| r.name_with_owner() == self.1)?;
        Some(Repository(Arc::clone(data), i))
    }
}

/// A release.
#[derive(Clone)]
pub struct Release(ItemData, String);

#[Object]
impl Release {
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    async fn name(&self) -> Option<&str> {
        Some(&self.0.name)
    }
    async fn tag_name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.0.description)
    }
    async fn is_draft(&self) -> bool {
        false
    }
    async fn is_prerelease(&self) -> bool {
        self.0.serial.is_multiple_of(4)
    }
    async fn is_latest(&self, ctx: &Context<'_>) -> bool {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        data.repos
            .iter()
            .find(|r| r.name_with_owner() == self.1)
            .and_then(|r| r.releases.iter().rfind(|x| !x.deleted))
            .is_some_and(|x| x.id == self.0.id)
    }
    async fn url(&self) -> Uri {
        Uri(format!(
            "https://github.com/{}/releases/tag/{}",
            self.1, self.0.name
        ))
    }
    async fn created_at(&self) -> GqlDateTime {
        time(self.0.created)
    }
    async fn published_at(&self) -> Option<GqlDateTime> {
        Some(time(self.0.created))
    }
    async fn updated_at(&self) -> GqlDateTime {
        time(self.0.updated)
    }
    async fn author(&self) -> Option<User> {
        Some(User {
            login: "octocat".into(),
            url: Uri("https://github.com/octocat".into()),
            avatar_url: Uri("https://avatars.githubusercontent.com/octocat".into()),
        })
    }
    async fn repository(&self, ctx: &Context<'_>) -> Option<Repository> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        let i = data
            .repos
            .iter()
            .position(|r| r.name_with_owner() == self.1)?;
        Some(Repository(Arc::clone(data), i))
    }
}

/// An object with an ID: what `Query.node(id:)` answers with.
#[derive(Interface, Clone)]
#[graphql(field(name = "id", ty = "async_graphql::ID", desc = "ID of the object."))]
pub enum Node {
    /// An issue.
    Issue(Issue),
    /// A pull request.
    PullRequest(PullRequest),
    /// A comment on an issue.
    IssueComment(IssueComment),
    /// A label.
    Label(Label),
    /// A milestone.
    Milestone(Milestone),
    /// A release.
    Release(Release),
    /// A repository.
    Repository(Repository),
}

impl GithubData {
    /// The live object with global id `id`, in any repository (deleted ones are gone, as on GitHub).
    fn node(data: &Arc<GithubData>, id: &str) -> Option<Node> {
        for (r, repo) in data.repos.iter().enumerate() {
            let full = repo.name_with_owner();
            if repo.id == id {
                return Some(Node::Repository(Repository(Arc::clone(data), r)));
            }
            for issue in repo.issues.iter().filter(|i| !i.deleted) {
                if issue.id == id {
                    return Some(Node::Issue(Issue(issue.clone(), full)));
                }
                if let Some(c) = issue.comments.iter().find(|c| c.id == id) {
                    return Some(Node::IssueComment(IssueComment(
                        c.clone(),
                        full,
                        issue.number,
                    )));
                }
            }
            if let Some(p) = repo.pulls.iter().find(|p| !p.deleted && p.id == id) {
                return Some(Node::PullRequest(PullRequest(p.clone(), full)));
            }
            let live = |list: &[ItemData]| list.iter().find(|x| !x.deleted && x.id == id).cloned();
            if let Some(l) = live(&repo.labels) {
                return Some(Node::Label(Label(l, full)));
            }
            if let Some(m) = live(&repo.milestones) {
                return Some(Node::Milestone(Milestone(m, full)));
            }
            if let Some(x) = live(&repo.releases) {
                return Some(Node::Release(Release(x, full)));
            }
        }
        None
    }
}

/// The query root.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Lookup a given repository by the owner and repository name.
    async fn repository(
        &self,
        ctx: &Context<'_>,
        owner: String,
        name: String,
    ) -> async_graphql::Result<Option<Repository>> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        match data.repos.iter().position(|r| {
            r.owner.eq_ignore_ascii_case(&owner) && r.name.eq_ignore_ascii_case(&name)
        }) {
            Some(i) => Ok(Some(Repository(Arc::clone(data), i))),
            None => Err(gql_error(
                "NOT_FOUND",
                format!("Could not resolve to a Repository with the name '{owner}/{name}'."),
            )),
        }
    }

    /// Fetches an object given its ID: `null` and a `NOT_FOUND` error when none lives under it.
    async fn node(
        &self,
        ctx: &Context<'_>,
        id: async_graphql::ID,
    ) -> async_graphql::Result<Option<Node>> {
        let data = ctx.data_unchecked::<Arc<GithubData>>();
        match GithubData::node(data, id.as_str()) {
            Some(node) => Ok(Some(node)),
            None => Err(gql_error(
                "NOT_FOUND",
                format!(
                    "Could not resolve to a node with the global id of '{}'",
                    id.as_str()
                ),
            )),
        }
    }

    /// The currently authenticated user.
    async fn viewer(&self) -> User {
        User {
            login: "octocat".into(),
            url: Uri("https://github.com/octocat".into()),
            avatar_url: Uri("https://avatars.githubusercontent.com/octocat".into()),
        }
    }

    /// The client's rate limit information.
    async fn rate_limit(&self, ctx: &Context<'_>) -> RateLimit {
        ctx.data_unchecked::<RateLimit>().clone()
    }
}

/// The schema the simulator serves.
pub type GithubSchema = async_graphql::Schema<QueryRoot, EmptyMutation, EmptySubscription>;

// ---- cost and node limits, by GitHub's documented formula ----

/// A query's calculated size: the requests its connections need and the nodes they can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySize {
    /// Requests, assuming every `first` is reached.
    pub requests: u64,
    /// Nodes, likewise.
    pub nodes: u64,
}

impl QuerySize {
    /// Points: the requests divided by 100, rounded, at least 1.
    pub fn points(&self) -> u64 {
        ((self.requests as f64 / 100.0).round() as u64).max(1)
    }
}

/// Sizes `doc` with `variables` filled in: every field with a `first` (or `last`) is a connection.
pub fn query_size(doc: &ExecutableDocument, variables: &Value) -> QuerySize {
    let mut size = QuerySize {
        requests: 0,
        nodes: 0,
    };
    for (_, op) in doc.operations.iter() {
        walk(&op.node.selection_set.node, doc, variables, 1, &mut size, 0);
    }
    size
}

fn walk(
    set: &SelectionSet,
    doc: &ExecutableDocument,
    variables: &Value,
    multiplier: u64,
    size: &mut QuerySize,
    depth: usize,
) {
    use async_graphql::Value as G;
    if depth > 32 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let f = &field.node;
                let n = f.arguments.iter().find_map(|(name, value)| {
                    if name.node != "first" && name.node != "last" {
                        return None;
                    }
                    let resolved = value
                        .node
                        .clone()
                        .into_const_with(|name| {
                            let v = variables.get(name.as_str()).cloned().unwrap_or(Value::Null);
                            G::from_json(v).map_err(drop)
                        })
                        .ok()?;
                    match resolved {
                        G::Number(n) => n.as_u64(),
                        _ => None,
                    }
                });
                match n {
                    Some(n) => {
                        size.requests += multiplier;
                        size.nodes += multiplier.saturating_mul(n);
                        let inner = multiplier.saturating_mul(n);
                        walk(
                            &f.selection_set.node,
                            doc,
                            variables,
                            inner,
                            size,
                            depth + 1,
                        );
                    }
                    None => walk(
                        &f.selection_set.node,
                        doc,
                        variables,
                        multiplier,
                        size,
                        depth + 1,
                    ),
                }
            }
            Selection::InlineFragment(inline) => {
                walk(
                    &inline.node.selection_set.node,
                    doc,
                    variables,
                    multiplier,
                    size,
                    depth + 1,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    walk(
                        &fragment.node.selection_set.node,
                        doc,
                        variables,
                        multiplier,
                        size,
                        depth + 1,
                    );
                }
            }
        }
    }
}

// ---- the server ----

/// The points window as the server keeps it.
#[derive(Debug, Clone, Copy)]
struct Window {
    reset: i64,
    used: u64,
}

/// The running simulator's state.
pub struct GithubState {
    config: GithubConfig,
    control: Arc<SimControl>,
    data: Timeline<GithubData>,
    schema: GithubSchema,
    window: Mutex<Option<Window>>,
    rate_limited: std::sync::atomic::AtomicU64,
}

/// A running GitHub simulator.
pub type GithubSimulator = Running<GithubState>;

impl Running<GithubState> {
    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.state().config.token
    }

    /// The configured repositories, `owner/name`, comma-separated (the form's value).
    pub fn repositories(&self) -> String {
        self.state().config.repositories.clone()
    }

    /// How many queries were refused with `RATE_LIMITED` so far.
    pub fn rate_limited_answers(&self) -> u64 {
        self.state()
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl GithubState {
    fn now(&self) -> i64 {
        self.control.clock().now().timestamp()
    }

    /// The current window (a new one once the reset has passed).
    fn window(&self) -> Window {
        let now = self.now();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let current = match *w {
            Some(win) if now < win.reset => win,
            _ => Window {
                reset: now + self.config.points_window.as_secs().max(1) as i64,
                used: 0,
            },
        };
        *w = Some(current);
        current
    }

    fn charge(&self, points: u64) -> Result<Window, Window> {
        let current = self.window();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if current.used + points > self.config.points {
            return Err(current);
        }
        let next = Window {
            used: current.used + points,
            ..current
        };
        *w = Some(next);
        Ok(next)
    }

    fn headers(&self, w: Window, headers: &mut HeaderMap) {
        let remaining = self.config.points.saturating_sub(w.used);
        for (name, value) in [
            ("x-ratelimit-limit", self.config.points.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-used", w.used.to_string()),
            ("x-ratelimit-reset", w.reset.to_string()),
            ("x-ratelimit-resource", "graphql".to_owned()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
}

impl SimulatorHooks for GithubState {
    fn too_many_requests(&self, retry_after: Duration) -> Response {
        // GitHub's secondary rate limit: a 403 with Retry-After.
        let body = json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api#secondary-rate-limits"});
        let mut response = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }

    fn error_response(&self, status: StatusCode) -> Response {
        let body = json!({"message": "Server Error", "documentation_url": "https://docs.github.com/graphql"});
        (status, axum::Json(body)).into_response()
    }

    fn not_found(&self) -> Response {
        let body = json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"});
        (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
    }

    fn empty_page(&self, _content_type: Option<&str>, body: Bytes) -> Bytes {
        // An emptied GraphQL page: every connection's nodes gone, its pageInfo kept.
        let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        fn clear(v: &mut Value) {
            match v {
                Value::Object(map) => {
                    for (k, child) in map.iter_mut() {
                        match child {
                            Value::Array(items) if k == "nodes" => items.clear(),
                            other => clear(other),
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(clear),
                _ => {}
            }
        }
        clear(&mut value);
        Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
    }

    fn advance(&self, generations: u32) -> Value {
        self.data.advance_report(generations)
    }

    fn info(&self) -> Value {
        let data = self.data.snapshot();
        let repos: BTreeMap<String, Value> = data
            .repos
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.name_with_owner(),
                    json!({"issues": data.live_issues(i, false).count(),
                        "comments": data.live_issues(i, false).map(|x| x.comments.len()).sum::<usize>(),
                        "pull_requests": data.live_issues(i, true).count()}),
                )
            })
            .collect();
        json!({"generation": data.generation, "repositories": repos})
    }
}

impl ApiSimulator for GithubState {
    type Config = GithubConfig;
    type Data = GithubData;

    fn config(&self) -> &GithubConfig {
        &self.config
    }

    fn timeline(&self) -> &Timeline<GithubData> {
        &self.data
    }

    fn new(config: GithubConfig, control: Arc<SimControl>) -> Self {
        let data = Timeline::new(
            GithubData::new(&config),
            Arc::clone(&control),
            config.generation_interval,
        );
        let schema = GithubSchema::build(QueryRoot, EmptyMutation, EmptySubscription)
            .limit_depth(25)
            .finish();
        Self {
            config,
            control,
            data,
            schema,
            window: Mutex::new(None),
            rate_limited: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn router(state: Arc<Self>) -> Router {
        Router::new()
            .route("/graphql", post(graphql))
            .route("/rate_limit", get(rate_limit))
            .route_layer(from_fn_with_state(Arc::clone(&state), require_token))
            .with_state(state)
    }

    fn credentials(config: &mut GithubConfig) -> Vec<Credential<'_>> {
        vec![
            Credential::exact("access_token", &mut config.token),
            Credential::trimmed("repositories", &mut config.repositories),
        ]
    }

    fn describe(config: &GithubConfig) -> String {
        format!(
            "github: repositories {}, {} issues and {} pull requests each",
            config.repositories, config.issues.initial, config.pull_requests.initial
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::count(
                "issues",
                "/issues/initial",
                "issues per repository at the start",
            ),
            Knob::count(
                "pull_requests",
                "/pull_requests/initial",
                "pull requests per repository at the start",
            ),
            Knob::count(
                "max_comments",
                "/max_comments",
                "most comments a new issue starts with (each gets 0 to this many)",
            ),
            Knob::count(
                "points",
                "/points",
                "points per window (GitHub: 5000 an hour)",
            ),
        ]
    }
}

async fn require_token(
    State(state): State<Arc<GithubState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .map(|(_, token)| token.trim().to_owned());
    if presented.as_deref() == Some(state.config.token.as_str()) {
        return next.run(request).await;
    }
    let body = if request.uri().path() == "/graphql" && presented.is_none() {
        json!({"message": "This endpoint requires you to be authenticated.", "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"})
    } else {
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/graphql", "status": "401"})
    };
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn rate_limit(State(state): State<Arc<GithubState>>) -> Response {
    let w = state.window();
    let remaining = state.config.points.saturating_sub(w.used);
    let graphql = json!({"limit": state.config.points, "used": w.used, "remaining": remaining, "reset": w.reset});
    let mut response = axum::Json(json!({"resources": {"graphql": graphql,
        "core": {"limit": 5000, "used": 0, "remaining": 5000, "reset": w.reset}},
        "rate": {"limit": 5000, "used": 0, "remaining": 5000, "reset": w.reset}}))
    .into_response();
    state.headers(w, response.headers_mut());
    response
}

#[derive(Deserialize)]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

fn errors_only(errors: Value) -> Response {
    axum::Json(json!({ "errors": errors })).into_response()
}

async fn graphql(State(state): State<Arc<GithubState>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<GraphqlBody>(&body) else {
        let body = json!({"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let Some(query) = body.query else {
        return errors_only(
            json!([{"message": "A query attribute must be specified and must be a string."}]),
        );
    };
    let variables = match body.variables {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            return errors_only(json!([{"message": "Variables are invalid JSON."}]));
        }
    };
    // The size is computed before execution, as GitHub's node limit and cost are.
    let size = async_graphql::parser::parse_query(&query)
        .ok()
        .map(|doc| query_size(&doc, &variables));
    if let Some(size) = size {
        if size.nodes > state.config.node_limit {
            let mut response = errors_only(json!([{"type": "MAX_NODE_LIMIT_EXCEEDED",
                "message": format!("This query requests up to {} possible nodes which exceeds the maximum limit of {}.", size.nodes, state.config.node_limit)}]));
            state.headers(state.window(), response.headers_mut());
            return response;
        }
    }
    let points = size.map_or(1, |s| s.points());
    let w = match state.charge(points) {
        Ok(w) => w,
        Err(w) => {
            state
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut response = errors_only(json!([{"type": "RATE_LIMITED",
                "message": "API rate limit exceeded for user ID 583231. If you reach out to GitHub Support for help, please include the request ID."}]));
            let spent = Window {
                used: state.config.points,
                ..w
            };
            state.headers(spent, response.headers_mut());
            return response;
        }
    };
    let info = RateLimit {
        cost: points as i32,
        limit: state.config.points as i32,
        remaining: state.config.points.saturating_sub(w.used) as i32,
        used: w.used as i32,
        node_count: size.map_or(0, |s| s.nodes) as i32,
        reset_at: time(w.reset),
    };
    let mut request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(state.data.snapshot())
        .data(info);
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    let executed = state.schema.execute(request).await;
    let mut value = serde_json::to_value(&executed).unwrap_or_else(|_| json!({}));
    // GitHub puts an error's `type` beside its `message`, not under `extensions`.
    if let Some(errors) = value.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errors {
            let kind = e
                .get_mut("extensions")
                .and_then(Value::as_object_mut)
                .and_then(|x| x.remove("type"));
            if let (Some(kind), Some(obj)) = (kind, e.as_object_mut()) {
                obj.insert("type".into(), kind);
                if obj
                    .get("extensions")
                    .is_some_and(|x| x.as_object().is_some_and(serde_json::Map::is_empty))
                {
                    obj.remove("extensions");
                }
            }
        }
    }
    let mut response = axum::Json(value).into_response();
    state.headers(w, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_follows_githubs_documented_example() {
        // docs.github.com: 1 + 100 + 100*50 = 5,101 requests → 51 points; 305,100 nodes.
        let doc = async_graphql::parser::parse_query(
            "query { viewer { login repositories(first: 100) { edges { node { id
               issues(first: 50) { edges { node { id labels(first: 60) { edges { node { name } } } } } } } } } } }",
        )
        .unwrap();
        let size = query_size(&doc, &json!({}));
        assert_eq!(
            size,
            QuerySize {
                requests: 5101,
                nodes: 305_100
            }
        );
        assert_eq!(size.points(), 51);
        let small = async_graphql::parser::parse_query(
            "query($n: Int!) { repository(owner: \"a\", name: \"b\") { issues(first: $n) { nodes { id } } } }",
        )
        .unwrap();
        assert_eq!(query_size(&small, &json!({"n": 30})).points(), 1);
    }

    #[test]
    fn cursors_are_opaque_and_round_trip() {
        let c = encode_cursor("UpdatedAttrue:000000000017.0000000003");
        assert!(c.starts_with("Y3Vyc29yOnYyOl"), "{c}");
        assert_eq!(
            decode_cursor(&c).as_deref(),
            Some("UpdatedAttrue:000000000017.0000000003")
        );
        assert_eq!(decode_cursor("not a cursor!"), None);
    }

    #[test]
    fn generations_open_change_and_delete() {
        let mut data = GithubData::new(&GithubConfig::small());
        let before = data.live_issues(0, false).count();
        let changes = data.advance_one();
        assert!(changes.iter().any(|c| c.3 == "deleted"));
        assert!(changes.iter().any(|c| c.1 == "pulls" && c.3 == "updated"));
        assert_eq!(data.live_issues(0, false).count(), before + 3 - 1);
    }

    /// POSTs a GraphQL document to the simulator with its token: (status, body).
    async fn graphql(sim: &GithubSimulator, query: &str, variables: Value) -> (u16, Value) {
        let response = crate::simulator::test_client::client()
            .post(format!("{}/graphql", sim.base_url()))
            .bearer_auth(sim.token())
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("the simulator answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An issue's comments by its global id, as a connector pages past the first 100.
    const COMMENTS_BY_NODE: &str = "query($id: ID!, $first: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  node(id: $id) { ... on Issue { comments(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id body url createdAt updatedAt author { login } } } } }
}";

    /// Every issue with its first 100 comments, read nested in the repository.
    const NESTED_COMMENTS: &str = "query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    issues(first: 100) { nodes { id comments(first: 100) { totalCount pageInfo { hasNextPage endCursor } } } }
  }
}";

    #[test]
    fn max_comments_bounds_new_issues_and_generations_still_comment() {
        let defaults = GithubConfig::default();
        assert_eq!(defaults.max_comments, 3);
        assert_eq!(GithubConfig::small().max_comments, 3);
        let data = GithubData::new(&GithubConfig::small());
        assert!(data.repos[0].issues.iter().all(|i| i.comments.len() <= 3));
        assert!(data.repos[0].issues.iter().any(|i| !i.comments.is_empty()));
        // None at the start: every comment after the generations came from one.
        let mut data = GithubData::new(&GithubConfig {
            max_comments: 0,
            ..GithubConfig::small()
        });
        assert!(data
            .repos
            .iter()
            .all(|r| r.issues.iter().all(|i| i.comments.is_empty())));
        for _ in 0..6 {
            data.advance_one();
        }
        assert!(data.repos[0].issues.iter().any(|i| !i.comments.is_empty()));
        // A settings object naming it fits; one naming an unknown field does not.
        let mut value = serde_json::to_value(&defaults).unwrap();
        assert_eq!(value["max_comments"], 3);
        value["max_comments"] = json!(250);
        let read: GithubConfig = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(read.max_comments, 250);
        value["max_comment"] = json!(1);
        assert!(serde_json::from_value::<GithubConfig>(value).is_err());
        assert!(GithubState::knobs()
            .iter()
            .any(|k| k.name == "max_comments" && k.path == "/max_comments"));
    }

    #[tokio::test]
    async fn node_pages_an_issues_comments_past_100_from_the_nested_cursor() {
        let config = GithubConfig {
            max_comments: 250,
            ..GithubConfig::small()
        };
        let sim = GithubSimulator::start(config).await.unwrap();
        let data = sim.data();
        let issue = data
            .live_issues(0, false)
            .find(|i| i.comments.len() > 200)
            .expect("an issue with more than 200 comments")
            .clone();
        let total = issue.comments.len();
        let vars = |after: Option<&str>| json!({"id": issue.id, "first": 100, "after": after});
        let mut ids = Vec::new();
        let mut sizes = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (status, page) = graphql(&sim, COMMENTS_BY_NODE, vars(after.as_deref())).await;
            assert_eq!(status, 200, "{page}");
            assert!(page.get("errors").is_none(), "{page}");
            // One connection of 100: 1 request, 100 nodes, GitHub's 1 point.
            assert_eq!(page["data"]["rateLimit"]["cost"], 1, "{page}");
            let comments = &page["data"]["node"]["comments"];
            assert_eq!(comments["totalCount"], total);
            let nodes = comments["nodes"].as_array().unwrap();
            sizes.push(nodes.len());
            for n in nodes {
                assert!(
                    n["author"]["login"].is_string() && n["url"].is_string(),
                    "{n}"
                );
                ids.push(n["id"].as_str().unwrap().to_owned());
            }
            let end = comments["pageInfo"]["endCursor"]
                .as_str()
                .unwrap()
                .to_owned();
            if comments["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = Some(end);
        }
        assert_eq!(sizes, vec![100, 100, total - 200]);
        let truth: Vec<String> = issue.comments.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, truth, "every comment once, in order");
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), total);

        // The cursor the nested `comments(first: 100)` ends on is a valid `after` for the node's.
        let (status, nested) = graphql(
            &sim,
            NESTED_COMMENTS,
            json!({"owner": "octo-org", "name": "octo-repo"}),
        )
        .await;
        assert_eq!(status, 200, "{nested}");
        let listed = nested["data"]["repository"]["issues"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == issue.id.as_str())
            .expect("the issue is listed")
            .clone();
        assert_eq!(listed["comments"]["pageInfo"]["hasNextPage"], true);
        let cursor = listed["comments"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap();
        let (_, page) = graphql(&sim, COMMENTS_BY_NODE, vars(Some(cursor))).await;
        let rest: Vec<&str> = page["data"]["node"]["comments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            rest,
            ids[100..200].iter().map(String::as_str).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn node_resolves_every_kind_and_is_null_with_not_found_otherwise() {
        let sim = GithubSimulator::start(GithubConfig::small()).await.unwrap();
        let (status, body) = graphql(
            &sim,
            "query($id: ID!) { node(id: $id) { id ... on Issue { number } } }",
            json!({"id": "I_kwDOnot-a-real-id"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["node"], Value::Null, "{body}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["type"], "NOT_FOUND", "{body}");
        assert_eq!(errors[0]["path"], json!(["node"]), "{body}");
        assert_eq!(
            errors[0]["message"],
            "Could not resolve to a node with the global id of 'I_kwDOnot-a-real-id'"
        );
        assert!(errors[0].get("extensions").is_none(), "{body}");

        // Each kind by its id, in either repository.
        let data = sim.data();
        let repo = &data.repos[1];
        let issue = repo.issues.iter().find(|i| !i.comments.is_empty()).unwrap();
        for (id, typename) in [
            (repo.id.as_str(), "Repository"),
            (issue.id.as_str(), "Issue"),
            (issue.comments[0].id.as_str(), "IssueComment"),
            (repo.pulls[0].id.as_str(), "PullRequest"),
            (repo.labels[0].id.as_str(), "Label"),
            (repo.milestones[0].id.as_str(), "Milestone"),
            (repo.releases[0].id.as_str(), "Release"),
        ] {
            let (_, body) = graphql(
                &sim,
                "query($id: ID!) { node(id: $id) { __typename id } }",
                json!({ "id": id }),
            )
            .await;
            assert_eq!(body["data"]["node"]["__typename"], typename, "{body}");
            assert_eq!(body["data"]["node"]["id"], id, "{body}");
            assert!(body.get("errors").is_none(), "{body}");
        }

        // A deleted issue is gone: null and NOT_FOUND, like an id that never was.
        sim.advance(1);
        let data = sim.data();
        let deleted = data.repos[0]
            .issues
            .iter()
            .find(|i| i.deleted)
            .expect("a generation deletes an issue");
        let (_, body) = graphql(
            &sim,
            COMMENTS_BY_NODE,
            json!({"id": deleted.id, "first": 10}),
        )
        .await;
        assert_eq!(body["data"]["node"], Value::Null, "{body}");
        assert_eq!(body["errors"][0]["type"], "NOT_FOUND", "{body}");
        assert_eq!(
            body["errors"][0]["message"],
            format!(
                "Could not resolve to a node with the global id of '{}'",
                deleted.id
            )
        );
        assert_eq!(body["data"]["rateLimit"]["cost"], 1, "{body}");
    }
}

//! The compliance suite: what every connector must do, checked the same way for each, against its
//! simulator, through the host seam (the real gRPC server and the local warehouse).
//!
//! A connector takes part by describing itself as a [`Subject`] (how to start its simulator with small
//! deterministic data, the simulator's truth in the connector's tables, the request paths of its
//! endpoints): `tests/compliance.rs` holds one subject per registered connector (`tests/compliance/`),
//! runs every check for each, and fails when a registered connector has none. The subjects are test
//! code, beside the tests: the library never depends on a connector. The checks:
//! - [`full_sync_equals_truth`]: a first sync lands exactly the source's rows, by primary key;
//! - [`second_sync_after_changes_equals_truth`]: after the source changes (edits, deletes, new records),
//!   the next sync lands it again;
//! - [`kill_and_resume_loses_nothing`]: the host goes away at a random checkpoint; the next sync
//!   resumes from the state saved there and the warehouse ends equal to the source (a connector that
//!   checkpoints ahead of its rows fails here);
//! - [`bad_credentials_are_refused_with_advice`]: the setup test fails with a message a person can act
//!   on, and nothing is written;
//! - [`unselected_tables_make_no_requests`]: syncing one table sends no request that only other tables
//!   need (the simulator's request log);
//! - [`random_faults_lose_nothing`]: 10 % of requests fail (429, 500, 503, timeouts, cut connections);
//!   the sync completes (a failed sync is retried, as Fivetran would) and lands exactly the source;
//! - [`single_faults_never_lose_rows`]: one truncated body, HTML page, emptied page or cut connection on
//!   each endpoint: the sync either succeeds with the source's rows, or fails leaving state and
//!   warehouse at the last checkpoint, from which the next sync completes. Never a success with rows
//!   missing.
//! - [`scripted_faults_lose_nothing`]: given fault rules (as `POST /__sim/faults` takes them), on a
//!   first sync or on the one after a clean sync: never a success with rows missing, and, for faults
//!   a retry cures, a success;
//! - [`dead_endpoint_fails_naming_it`]: an endpoint that fails every request ends the sync with a
//!   message naming it after a bounded number of requests; the next sync, with the endpoint back,
//!   lands the source from the last checkpoint.

mod compare;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::debug::host::{self, DebugOutcome, HostOptions};
use crate::sdk::DynConnector;
use crate::simulator::rng;
use crate::simulator::{Fault, FaultRule, SimControl};

pub use compare::{canon, compare, Diff, ExpectedRow, Truth};

/// A shipped definition (`definitions/<file>`) as a suite subject's connector, on the fast test
/// tuning; a definition that does not load is a build defect, so it panics naming the mistake.
pub fn shipped_definition(file: &str) -> Arc<dyn DynConnector> {
    let connector = crate::declarative::shipped(file)
        .unwrap_or_else(|e| panic!("the shipped definition {file} does not load: {e}"));
    Arc::new(connector.with_tuning(crate::http::Tuning::fast()))
}

/// Starts an API simulator on `config` as a suite subject's [`Sim`], wrapped by `wrap`; a
/// simulator that cannot start panics (the suite cannot run without it).
pub fn start_sim<S, W>(
    config: S::Config,
    wrap: fn(crate::simulator::running::Running<S>) -> W,
) -> BoxFuture<'static, Box<dyn Sim>>
where
    S: crate::simulator::running::ApiSimulator,
    W: Sim + 'static,
{
    Box::pin(async move {
        let sim = crate::simulator::running::Running::<S>::start(config)
            .await
            .unwrap_or_else(|e| panic!("the simulator does not start: {e}"));
        Box::new(wrap(sim)) as Box<dyn Sim>
    })
}

/// A running simulator, as the suite sees it.
pub trait Sim: Send + Sync {
    /// The configuration to sync against it (credentials, `base_url`, fast settings).
    fn configuration(&self) -> HashMap<String, String>;
    /// The same with credentials the API refuses.
    fn bad_credentials(&self) -> HashMap<String, String>;
    /// Its clock, request log and fault plan; `None` for a source without a simulator.
    fn control(&self) -> Option<&SimControl>;
    /// The live rows of every compared table, from the simulator's own data.
    fn truth(&self) -> Truth;
    /// Changes the source (edits, deletes, new records); `false` if it cannot.
    fn advance(&self) -> bool;
}

/// A connector under the suite.
pub trait Subject: Send + Sync {
    /// Its registered name.
    fn name(&self) -> &'static str;
    /// The connector, tuned for tests (fast retries, short deadlines).
    fn connector(&self) -> Arc<dyn DynConnector>;
    /// Starts its simulator with small data derived from `seed`.
    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>>;
    /// A fragment of each endpoint's request path, for faults aimed at one endpoint.
    fn endpoints(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// A table to sync alone and path fragments only the other tables' requests have.
    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        None
    }
    /// A piece of text the refused-credentials message must contain (what to check).
    fn credentials_advice(&self) -> Option<&'static str> {
        None
    }
    /// Why this subject cannot run on this machine (a database server binary is missing), if it
    /// cannot: the suite then skips it loudly. Under `CI=true` a subject fails instead of skipping.
    fn skip_reason(&self) -> Option<String> {
        None
    }
    /// Whether syncing again from a checkpoint reproduces the source (false for sources that change
    /// with every sync, like `demo`).
    fn resumable(&self) -> bool {
        true
    }
    /// Tables where a row removed from a parent record that still exists stays until the parent's
    /// next full pass, a documented limit of the connector: after changes, extra rows there are
    /// reported and tolerated (lost and differing rows never are).
    fn stale_children(&self) -> &'static [&'static str] {
        &[]
    }
}

/// One sync of `subject` into `files`; setup tests skipped (they are checked on their own).
async fn sync_into(
    subject: &dyn Subject,
    sim: &dyn Sim,
    files: &Path,
    change: impl FnOnce(&mut HostOptions),
) -> Result<DebugOutcome, String> {
    let mut options = HostOptions::new(sim.configuration(), files);
    options.setup_tests = false;
    change(&mut options);
    host::sync(subject.connector(), options)
        .await
        .map_err(|e| format!("{}: the sync could not start: {e}", subject.name()))
}

async fn compare_with_truth(
    subject: &dyn Subject,
    sim: &dyn Sim,
    files: &Path,
) -> Result<Diff, String> {
    let configuration = sim.configuration();
    let schema = subject
        .connector()
        .schema(&configuration)
        .await
        .map_err(|e| format!("{}: schema failed: {e}", subject.name()))?;
    compare(files, &schema, &sim.truth())
}

fn expect_equal(what: &str, subject: &dyn Subject, diff: &Diff) -> Result<(), String> {
    if diff.is_empty() {
        tracing::info!(subject = subject.name(), check = what, %diff, "warehouse equals the source");
        Ok(())
    } else {
        Err(format!("{}: {what}: {diff}", subject.name()))
    }
}

fn expect_success(what: &str, subject: &dyn Subject, outcome: &DebugOutcome) -> Result<(), String> {
    match &outcome.failure {
        None if outcome.stopped_early => Err(format!(
            "{}: {what}: the host stopped early",
            subject.name()
        )),
        None => Ok(()),
        Some(failure) => Err(format!(
            "{}: {what}: the sync failed: {failure}",
            subject.name()
        )),
    }
}

/// A first sync lands exactly the source's rows.
pub async fn full_sync_equals_truth(subject: &dyn Subject, seed: u64) -> Result<(), String> {
    let sim = subject.start(seed).await;
    let dir = tempdir()?;
    let outcome = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
    expect_success("first sync", subject, &outcome)?;
    expect_equal(
        "first sync",
        subject,
        &compare_with_truth(subject, &*sim, dir.path()).await?,
    )
}

/// After the source changes, the next sync lands it again (changes and deletes).
pub async fn second_sync_after_changes_equals_truth(
    subject: &dyn Subject,
    seed: u64,
) -> Result<(), String> {
    let sim = subject.start(seed).await;
    let dir = tempdir()?;
    expect_success(
        "first sync",
        subject,
        &sync_into(subject, &*sim, dir.path(), |_| {}).await?,
    )?;
    if !sim.advance() {
        return Ok(());
    }
    let outcome = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
    expect_success("second sync", subject, &outcome)?;
    let mut diff = compare_with_truth(subject, &*sim, dir.path()).await?;
    let stale = subject.stale_children();
    let before = diff.extra.len();
    diff.extra
        .retain(|(table, _)| !stale.contains(&table.as_str()));
    if diff.extra.len() < before {
        tracing::warn!(
            subject = subject.name(),
            rows = before - diff.extra.len(),
            "children removed from existing parents stay until the next full pass (a documented limit)"
        );
    }
    expect_equal("second sync", subject, &diff)
}

/// The host goes away right after a checkpoint chosen from `seed` (three different ones, among those
/// of an uninterrupted sync); each time the next sync resumes from the saved state and the warehouse
/// ends equal to the source.
pub async fn kill_and_resume_loses_nothing(subject: &dyn Subject, seed: u64) -> Result<(), String> {
    if !subject.resumable() {
        return Ok(());
    }
    let sim = subject.start(seed).await;
    let reference = tempdir()?;
    let whole = sync_into(subject, &*sim, reference.path(), |_| {}).await?;
    expect_success("uninterrupted sync", subject, &whole)?;
    if whole.checkpoints < 2 {
        return Err(format!(
            "{}: an uninterrupted sync made {} checkpoints; the suite needs data that takes several",
            subject.name(),
            whole.checkpoints
        ));
    }
    let mut points: Vec<u64> = (0..3u64)
        .map(|i| 1 + rng::hash(seed, &[rng::tag(b"kill"), i]) % (whole.checkpoints - 1))
        .collect();
    points.sort_unstable();
    points.dedup();
    for kill_at in points {
        let dir = tempdir()?;
        let killed = sync_into(subject, &*sim, dir.path(), |o| {
            o.stop_after_checkpoints = Some(kill_at)
        })
        .await?;
        if !killed.stopped_early {
            return Err(format!(
                "{}: the sync ended before checkpoint {kill_at}",
                subject.name()
            ));
        }
        let resumed = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
        expect_success("resumed sync", subject, &resumed)?;
        let diff = compare_with_truth(subject, &*sim, dir.path()).await?;
        let what = format!(
            "killed at checkpoint {kill_at} of {}, then resumed",
            whole.checkpoints
        );
        expect_equal(&what, subject, &diff)?;
    }
    Ok(())
}

/// Refused credentials fail the setup test with advice, and nothing is written.
pub async fn bad_credentials_are_refused_with_advice(
    subject: &dyn Subject,
    seed: u64,
) -> Result<(), String> {
    let Some(advice) = subject.credentials_advice() else {
        return Ok(());
    };
    let sim = subject.start(seed).await;
    let dir = tempdir()?;
    let files = dir.path().join("files");
    let mut options = HostOptions::new(sim.bad_credentials(), &files);
    options.setup_tests = true;
    match host::sync(subject.connector(), options).await {
        Err(host::DebugError::SetupTest { message, .. })
            if message.to_lowercase().contains(advice) =>
        {
            if files.join("warehouse.db").exists() || files.join("state.json").exists() {
                return Err(format!(
                    "{}: refused credentials still wrote {}",
                    subject.name(),
                    files.display()
                ));
            }
            Ok(())
        }
        Err(other) => Err(format!(
            "{}: refused credentials gave \"{other}\", which does not say '{advice}'",
            subject.name()
        )),
        Ok(outcome) => Err(format!(
            "{}: refused credentials synced ({:?})",
            subject.name(),
            outcome.failure
        )),
    }
}

/// Syncing one table sends no request that only other tables need.
pub async fn unselected_tables_make_no_requests(
    subject: &dyn Subject,
    seed: u64,
) -> Result<(), String> {
    let Some((table, others)) = subject.selection_probe() else {
        return Ok(());
    };
    let sim = subject.start(seed).await;
    let Some(control) = sim.control() else {
        return Ok(());
    };
    let dir = tempdir()?;
    control.log().clear();
    let selection = crate::sdk::selection::only_tables(&[(table, &[])]);
    let outcome = sync_into(subject, &*sim, dir.path(), |o| {
        o.selection = Some(selection)
    })
    .await?;
    expect_success("selected sync", subject, &outcome)?;
    let strays: Vec<String> = control
        .log()
        .entries()
        .into_iter()
        .filter(|r| others.iter().any(|o| r.path.contains(o)))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    if strays.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: syncing only '{table}' still requested {strays:?}",
            subject.name()
        ))
    }
}

/// 10 % of requests fail; the sync (retried after a failure, as Fivetran retries) lands the source.
pub async fn random_faults_lose_nothing(subject: &dyn Subject, seed: u64) -> Result<(), String> {
    let sim = subject.start(seed).await;
    let Some(control) = sim.control() else {
        return Ok(());
    };
    let mix = [
        Fault::TooManyRequests {
            retry_after_seconds: 0,
        },
        Fault::ServerError { status: 500 },
        Fault::ServerError { status: 503 },
        Fault::Timeout {
            after_ms: Some(5),
            status: 504,
        },
        Fault::CutConnection,
    ];
    for fault in mix {
        control.faults().add(FaultRule {
            when: crate::simulator::FaultWhen {
                probability: Some(0.02),
                ..Default::default()
            },
            fault,
            times: None,
        });
    }
    let dir = tempdir()?;
    let mut failures = Vec::new();
    for _ in 0..4 {
        let outcome = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
        match outcome.failure {
            None => {
                let diff = compare_with_truth(subject, &*sim, dir.path()).await?;
                return expect_equal(
                    &format!("10% faults, {} failed attempts first", failures.len()),
                    subject,
                    &diff,
                );
            }
            Some(failure) => failures.push(failure),
        }
    }
    Err(format!(
        "{}: under 10% faults no sync succeeded in 4 attempts: {failures:?}",
        subject.name()
    ))
}

/// One fault of each kind on each endpoint: a success lands the source; a failure leaves the last
/// checkpoint, from which the next sync completes. Never a success with rows missing.
pub async fn single_faults_never_lose_rows(subject: &dyn Subject, seed: u64) -> Result<(), String> {
    let kinds = [
        Fault::TruncatedBody,
        Fault::InvalidJson,
        Fault::EmptyPage,
        Fault::CutConnection,
    ];
    let mut problems = Vec::new();
    for endpoint in subject.endpoints() {
        for fault in &kinds {
            let sim = subject.start(seed).await;
            let Some(control) = sim.control() else {
                return Ok(());
            };
            control
                .faults()
                .add(FaultRule::on_path(endpoint, fault.clone()).times(1));
            let dir = tempdir()?;
            let first = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
            let what = format!("{} once on {endpoint}", fault.label());
            if first.failure.is_some() {
                let resumed = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
                if let Err(e) = expect_success(&format!("{what}, then resumed"), subject, &resumed)
                {
                    problems.push(e);
                    continue;
                }
            }
            let diff = compare_with_truth(subject, &*sim, dir.path()).await?;
            if let Err(e) = expect_equal(&what, subject, &diff) {
                problems.push(e);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))
}

/// What a sync under scripted faults must achieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The faulted sync itself succeeds with the source's rows (the faults are ones a retry cures).
    Success,
    /// It succeeds with the source's rows, or fails and the next sync (faults spent) completes.
    SuccessOrResume,
}

/// When scripted faults are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// On the first sync.
    FirstSync,
    /// On the sync after a clean first one (the source unchanged): the incremental and
    /// reference-table paths, where an emptied answer can be taken for deletions.
    SecondSync,
}

/// `rules` (as the control API takes them) on the sync `when` says: never a success with rows
/// missing, differing or extra, and a success where `expect` says so.
pub async fn scripted_faults_lose_nothing(
    subject: &dyn Subject,
    seed: u64,
    rules: Vec<FaultRule>,
    when: When,
    expect: Expect,
) -> Result<(), String> {
    let sim = subject.start(seed).await;
    let control = sim
        .control()
        .ok_or_else(|| format!("{}: no simulator to fault", subject.name()))?;
    let dir = tempdir()?;
    if when == When::SecondSync {
        let clean = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
        expect_success("clean first sync", subject, &clean)?;
    }
    let what = format!("{rules:?}");
    for rule in rules {
        control.faults().add(rule);
    }
    let faulted = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
    match (&faulted.failure, expect) {
        (None, _) => {}
        (Some(failure), Expect::Success) => {
            return Err(format!(
                "{}: under {what} the sync failed where a retry should cure it: {failure}",
                subject.name()
            ))
        }
        (Some(_), Expect::SuccessOrResume) => {
            control.faults().clear();
            let resumed = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
            expect_success(&format!("{what}, then resumed"), subject, &resumed)?;
        }
    }
    let diff = compare_with_truth(subject, &*sim, dir.path()).await?;
    expect_equal(&what, subject, &diff)
}

/// The most requests a sync may send to an endpoint that fails every one before giving up.
pub const DEAD_ENDPOINT_REQUEST_LIMIT: usize = 60;

/// Each endpoint of `subject` fails every request with `fault`: the sync fails, naming the endpoint,
/// within [`DEAD_ENDPOINT_REQUEST_LIMIT`] requests to it; the files stay usable (the next sync, with the
/// endpoint back, lands the source).
pub async fn dead_endpoint_fails_naming_it(
    subject: &dyn Subject,
    seed: u64,
    fault: Fault,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for endpoint in subject.endpoints() {
        let sim = subject.start(seed).await;
        let Some(control) = sim.control() else {
            return Ok(());
        };
        control
            .faults()
            .add(FaultRule::on_path(endpoint, fault.clone()));
        let dir = tempdir()?;
        let started = std::time::Instant::now();
        let outcome = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
        let sent = control.log().matching(endpoint).len();
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            subject = subject.name(),
            endpoint,
            sent,
            seconds,
            "dead endpoint"
        );
        match &outcome.failure {
            None => problems.push(format!(
                "{}: {endpoint} failing every request, the sync still succeeded",
                subject.name()
            )),
            Some(failure) if !failure.contains(endpoint) => problems.push(format!(
                "{}: {endpoint} dead: the failure does not name it: {failure}",
                subject.name()
            )),
            Some(_) if sent > DEAD_ENDPOINT_REQUEST_LIMIT => problems.push(format!(
                "{}: {endpoint} dead: {sent} requests to it before giving up (limit {DEAD_ENDPOINT_REQUEST_LIMIT})",
                subject.name()
            )),
            Some(_) => {}
        }
        control.faults().clear();
        let resumed = sync_into(subject, &*sim, dir.path(), |_| {}).await?;
        if let Err(e) = expect_success(&format!("after {endpoint} came back"), subject, &resumed) {
            problems.push(e);
            continue;
        }
        let diff = compare_with_truth(subject, &*sim, dir.path()).await?;
        if let Err(e) = expect_equal(&format!("after {endpoint} came back"), subject, &diff) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

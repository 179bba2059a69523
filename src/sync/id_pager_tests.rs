//! The pager against an in-memory API with scripted failures, poison records and deletions mid-batch.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::http::{Endpoint, ManualClock};

/// What the fake API does on a given call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Transient,
    TooLarge,
}

#[derive(Default)]
struct FakeState {
    ids: BTreeSet<u64>,
    poison: BTreeSet<u64>,
    faults: Vec<Fault>,
    /// Before serving call `n`, delete the record at this rank among those still present.
    deletions: HashMap<usize, usize>,
    deleted: BTreeSet<u64>,
    calls: usize,
    /// Highest id the test has seen yielded, to check no yielded record is requested again.
    yielded_max: Option<Arc<AtomicU64>>,
    rerequested: Vec<String>,
}

#[derive(Clone, Default)]
struct FakeApi(Arc<Mutex<FakeState>>);

fn endpoint() -> Endpoint {
    Endpoint {
        method: "POST".into(),
        path: "/api/Gift/Query".into(),
    }
}

impl FakeApi {
    fn new(ids: impl IntoIterator<Item = u64>) -> Self {
        let api = Self::default();
        api.0.lock().unwrap().ids = ids.into_iter().collect();
        api
    }

    fn serve(&self, request: &PageRequest<u64>) -> Result<Page, HttpError> {
        let mut s = self.0.lock().unwrap();
        let call = s.calls;
        s.calls += 1;
        if let Some(rank) = s.deletions.get(&call).copied() {
            if let Some(id) = s.ids.iter().nth(rank % s.ids.len().max(1)).copied() {
                s.ids.remove(&id);
                s.deleted.insert(id);
            }
        }
        let lower = request.cursor.map_or(0, |c| c + 1);
        let page: Vec<u64> = s
            .ids
            .range(lower..)
            .skip(request.skip as usize)
            .take(request.take as usize)
            .copied()
            .collect();
        if let Some(max) = &s.yielded_max {
            let max = max.load(Ordering::SeqCst);
            let fresh = if request.skip > 0 {
                page.get(1..).unwrap_or(&[])
            } else {
                &page[..]
            };
            if fresh.iter().any(|id| *id <= max && max != 0) {
                let text = format!("{request} returned already-yielded ids (max yielded {max})");
                s.rerequested.push(text);
            }
        }
        let fault = s.faults.get(call).copied().unwrap_or(Fault::None);
        if page.iter().any(|id| s.poison.contains(id)) || fault == Fault::Transient {
            return Err(HttpError::Transient {
                endpoint: endpoint(),
                attempts: 3,
                last: "status 500".into(),
            });
        }
        if fault == Fault::TooLarge {
            return Err(HttpError::TooLarge {
                endpoint: endpoint(),
                reason: "status 413".into(),
            });
        }
        Ok(Page {
            records: page
                .iter()
                .map(|id| json!({ "id": id, "name": format!("r{id}") }))
                .collect(),
            total: Some(s.ids.len() as u64),
            next: None,
        })
    }
}

/// The id extractor the tests use, as a nameable type.
type IdFn = fn(&Value) -> Option<u64>;
/// What the fake fetch function returns.
type Served = futures::future::Ready<Result<Page, HttpError>>;

fn id_of(record: &Value) -> Option<u64> {
    record.get("id")?.as_u64()
}

fn pager(
    api: &FakeApi,
    cursor: Option<u64>,
    config: IdPagerConfig,
) -> IdPager<u64, impl Fn(PageRequest<u64>) -> Served, IdFn> {
    let fetch_api = api.clone();
    let clock = ManualClock::new(DateTime::UNIX_EPOCH);
    IdPager::new(
        cursor,
        move |request: PageRequest<u64>| futures::future::ready(fetch_api.serve(&request)),
        id_of as IdFn,
        config,
        clock.shared(),
    )
}

/// Everything one run produced, with invariants checked along the way.
#[derive(Debug, Default)]
struct Run {
    yielded: Vec<u64>,
    errored: Vec<ErroredRange<u64>>,
    last_checkpoint: Option<u64>,
    violations: Vec<String>,
}

impl Run {
    fn covered(&self, id: u64) -> bool {
        self.errored
            .iter()
            .any(|r| r.after.is_none_or(|a| a < id) && r.before.is_none_or(|b| id < b))
    }
}

/// Drains a pager, checking after every item that the checkpoint never passes a surviving record that
/// was neither yielded nor reported.
async fn drain<F, Fut>(api: &FakeApi, pager: IdPager<u64, F, IdFn>) -> Result<Run, PagerError>
where
    F: Fn(PageRequest<u64>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Page, HttpError>> + Send + 'static,
{
    let start = pager.checkpoint().copied();
    drain_after(api, pager, start, BTreeSet::new()).await
}

/// [`drain`] for a pager that started after `start` and already yielded `seen`.
async fn drain_after<F, Fut>(
    api: &FakeApi,
    mut pager: IdPager<u64, F, IdFn>,
    start: Option<u64>,
    mut seen: BTreeSet<u64>,
) -> Result<Run, PagerError>
where
    F: Fn(PageRequest<u64>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Page, HttpError>> + Send + 'static,
{
    let yielded_max = Arc::new(AtomicU64::new(0));
    api.0.lock().unwrap().yielded_max = Some(yielded_max.clone());
    let mut run = Run::default();
    let lower = start.map_or(0, |s| s + 1);
    while let Some(item) = pager.next().await? {
        match item {
            PagerItem::Records {
                records,
                checkpoint,
            } => {
                for record in &records {
                    let id = id_of(record).unwrap();
                    if !seen.insert(id) {
                        run.violations.push(format!("{id} yielded twice"));
                    }
                    run.yielded.push(id);
                    yielded_max.fetch_max(id, Ordering::SeqCst);
                }
                if let Some(c) = checkpoint {
                    let s = api.0.lock().unwrap();
                    for id in s.ids.range(lower..=c) {
                        if !seen.contains(id) && !run.covered(*id) {
                            run.violations
                                .push(format!("checkpoint {c} passes unyielded {id}"));
                        }
                    }
                    if run.last_checkpoint.is_some_and(|prev| prev > c) {
                        run.violations.push(format!("checkpoint went back to {c}"));
                    }
                    run.last_checkpoint = Some(c);
                }
            }
            PagerItem::Errored(range) => run.errored.push(range),
        }
    }
    run.violations
        .extend(api.0.lock().unwrap().rerequested.iter().cloned());
    Ok(run)
}

fn small_config() -> IdPagerConfig {
    IdPagerConfig {
        in_flight: 4,
        takes: vec![16, 8, 4, 2, 1],
        recover_after: 3,
        ..IdPagerConfig::default()
    }
}

#[tokio::test]
async fn yields_everything_in_order_with_no_faults() {
    let api = FakeApi::new((1..=500).map(|i| i * 3));
    let run = drain(&api, pager(&api, None, small_config()))
        .await
        .unwrap();
    assert_eq!(run.yielded, (1..=500).map(|i| i * 3).collect::<Vec<_>>());
    assert!(
        run.errored.is_empty() && run.violations.is_empty(),
        "{run:?}"
    );
    assert_eq!(run.last_checkpoint, Some(1500));
}

#[tokio::test]
async fn the_last_page_is_judged_against_the_take_requested() {
    // Exactly one full page of 16 and nothing more: the pager must ask once more and stop on the empty page.
    let api = FakeApi::new(1..=16);
    let config = IdPagerConfig {
        in_flight: 1,
        ..small_config()
    };
    let run = drain(&api, pager(&api, Some(0), config)).await.unwrap();
    assert_eq!(run.yielded, (1..=16).collect::<Vec<_>>());
    assert_eq!(api.0.lock().unwrap().calls, 2);
}

#[tokio::test]
async fn a_failing_page_is_refetched_smaller_and_the_take_recovers() {
    let api = FakeApi::new(1..=200);
    api.0.lock().unwrap().faults = vec![Fault::TooLarge];
    let mut p = pager(&api, None, small_config());
    let first = p.next().await.unwrap();
    assert_eq!(p.current_take(), 8, "one failure steps down one rung");
    let Some(PagerItem::Records { records, .. }) = first else {
        panic!("expected records, got {first:?}")
    };
    assert_eq!(id_of(&records[0]), Some(1));
    let seen = records.iter().filter_map(id_of).collect();
    let run = drain_after(&api, p, None, seen).await.unwrap();
    assert_eq!(run.yielded.len() + records.len(), 200);
    assert!(run.violations.is_empty(), "{run:?}");
}

#[tokio::test]
async fn a_poison_record_is_reported_with_its_neighbours_and_retried_next_sync() {
    let api = FakeApi::new(1..=100);
    api.0.lock().unwrap().poison = [37, 38].into();
    let run = drain(&api, pager(&api, None, small_config()))
        .await
        .unwrap();
    assert!(run.violations.is_empty(), "{run:?}");
    assert_eq!(
        run.yielded,
        (1..=100)
            .filter(|i| *i != 37 && *i != 38)
            .collect::<Vec<_>>()
    );
    assert_eq!(run.errored.len(), 1);
    let range = &run.errored[0];
    assert_eq!(
        (range.after, range.before, range.positions),
        (Some(36), Some(39), 2)
    );
    assert!(range.error.contains("POST /api/Gift/Query"), "{range:?}");
    assert!(range.request.contains("id > 36"), "{range:?}");
    assert_eq!(run.last_checkpoint, Some(100));

    // Next sync: the records are healthy again and are recovered before the main scan continues.
    api.0.lock().unwrap().poison.clear();
    api.0.lock().unwrap().ids.extend(101..=105);
    let next = pager(&api, run.last_checkpoint, small_config()).retry_first(run.errored.clone());
    let mut next_run = Run::default();
    let mut p = next;
    while let Some(item) = p.next().await.unwrap() {
        if let PagerItem::Records {
            records,
            checkpoint,
        } = item
        {
            next_run.yielded.extend(records.iter().filter_map(id_of));
            next_run.last_checkpoint = checkpoint;
        } else {
            panic!("nothing should fail now: {item:?}");
        }
    }
    assert_eq!(next_run.yielded, vec![37, 38, 101, 102, 103, 104, 105]);
}

#[tokio::test]
async fn a_poison_last_record_keeps_the_cursor_before_it() {
    let api = FakeApi::new(1..=20);
    api.0.lock().unwrap().poison = [20].into();
    let run = drain(&api, pager(&api, None, small_config()))
        .await
        .unwrap();
    assert_eq!(run.yielded, (1..=19).collect::<Vec<_>>());
    assert_eq!(
        (run.errored[0].after, run.errored[0].before),
        (Some(19), None)
    );
    assert_eq!(run.last_checkpoint, Some(19));
}

#[tokio::test]
async fn a_deletion_mid_batch_is_detected_instead_of_losing_a_record() {
    // Page 0 is served first, then id 5 is deleted before page 1 (skip 15) is served: without the overlap
    // check page 1 would start one record late and id 17 would be lost.
    let api = FakeApi::new(1..=100);
    api.0.lock().unwrap().deletions = [(1, 4)].into();
    let run = drain(&api, pager(&api, None, small_config()))
        .await
        .unwrap();
    assert!(run.violations.is_empty(), "{run:?}");
    let expected: Vec<u64> = (1..=100).collect();
    assert_eq!(
        run.yielded, expected,
        "id 5 was deleted after being yielded, so everything is there"
    );
}

#[tokio::test]
async fn a_permanent_error_stops_the_pager() {
    let api = FakeApi::new(1..=10);
    let clock = ManualClock::new(DateTime::UNIX_EPOCH);
    let mut p = IdPager::new(
        None::<u64>,
        |_r: PageRequest<u64>| async {
            Err::<Page, _>(HttpError::Permanent {
                endpoint: endpoint(),
                status: 401,
                hint: "check the api key".into(),
                detail: String::new(),
            })
        },
        id_of,
        small_config(),
        clock.shared(),
    );
    let err = p.next().await.unwrap_err();
    assert!(err.to_string().contains("check the api key"), "{err}");
    drop(api);
}

fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![8 => Just(Fault::None), 1 => Just(Fault::Transient), 1 => Just(Fault::TooLarge)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn every_record_is_yielded_once_in_order_or_reported(
        gaps in prop::collection::vec(1u64..4, 0..300),
        faults in prop::collection::vec(fault_strategy(), 0..120),
        poison_ranks in prop::collection::vec(0usize..300, 0..4),
        deletions in prop::collection::vec((0usize..60, 0usize..300), 0..6),
        in_flight in 1usize..6,
        start_cursor in prop::option::of(0u64..50),
    ) {
        let ids: Vec<u64> = gaps.iter().scan(0u64, |acc, g| { *acc += g; Some(*acc) }).collect();
        let api = FakeApi::new(ids.clone());
        {
            let mut s = api.0.lock().unwrap();
            s.faults = faults;
            s.poison = poison_ranks.iter().filter_map(|r| ids.get(*r).copied()).collect();
            s.deletions = deletions.into_iter().collect();
        }
        let config = IdPagerConfig { in_flight, ..small_config() };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let run = runtime.block_on(drain(&api, pager(&api, start_cursor, config))).unwrap();
        let s = api.0.lock().unwrap();

        prop_assert!(run.violations.is_empty(), "{:?}", run.violations);
        prop_assert!(run.yielded.windows(2).all(|w| w[0] < w[1]), "not ascending: {:?}", run.yielded);
        let lower = start_cursor.unwrap_or(0);
        for id in s.ids.iter().filter(|id| **id > lower) {
            let yielded = run.yielded.contains(id);
            prop_assert!(yielded || run.covered(*id), "record {} lost", id);
            prop_assert!(!(yielded && s.poison.contains(id)), "poison {} yielded", id);
        }
        for id in &run.yielded {
            prop_assert!(*id > lower && (s.ids.contains(id) || s.deleted.contains(id)));
        }
        if s.poison.is_empty() && s.faults.iter().all(|f| *f == Fault::None) {
            prop_assert!(run.errored.is_empty(), "no faults but errored: {:?}", run.errored);
        }
    }
}

/// A mockito API of records 1..=`last` at `GET /records?cursor=&skip=&take=`, each built by
/// `record`, as `{"list": [...]}`; `served` counts the requests.
async fn records_server(
    last: u64,
    record: fn(u64) -> Value,
    served: Option<Arc<AtomicU64>>,
) -> mockito::ServerGuard {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("GET", "/records")
        .match_query(mockito::Matcher::Any)
        .with_body_from_request(move |request| {
            if let Some(served) = &served {
                served.fetch_add(1, Ordering::SeqCst);
            }
            let query = request
                .path_and_query()
                .split_once('?')
                .map_or("", |(_, q)| q);
            let param = |name: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let first = param("cursor").unwrap_or(0) + param("skip").unwrap_or(0) + 1;
            let end = (first + param("take").unwrap_or(0)).min(last + 1);
            let list: Vec<Value> = (first..end).map(record).collect();
            json!({ "list": list }).to_string().into_bytes()
        })
        .create_async()
        .await;
    server
}

/// A client for `config` on a manual clock at the epoch, and the clock.
fn client_at_epoch(config: crate::http::HttpConfig) -> (crate::http::HttpClient, ManualClock) {
    let clock = ManualClock::new(DateTime::UNIX_EPOCH);
    let client = crate::http::HttpClient::builder(config)
        .clock(clock.shared())
        .build()
        .unwrap();
    (client, clock)
}

/// The request of [`records_server`] for a page.
fn records_request(r: &PageRequest<u64>) -> crate::http::Request {
    let request = crate::http::Request::get("/records")
        .query("skip", r.skip)
        .query("take", r.take);
    match r.cursor {
        Some(c) => request.query("cursor", c),
        None => request,
    }
}

/// End to end through the real HTTP layer: pages of 16 exceed the body limit, so the client reports them
/// as too large and the pager shrinks the take until pages fit, losing nothing.
#[tokio::test]
async fn over_http_a_body_over_the_limit_shrinks_the_take() {
    use crate::http::HttpConfig;
    let server = records_server(100, |id| json!({ "id": id, "pad": "x".repeat(40) }), None).await;
    let mut config = HttpConfig::new(server.url());
    config.max_body_bytes = 500; // about eight records
    let (client, clock) = client_at_epoch(config);
    let fetch = move |r: PageRequest<u64>| {
        let client = client.clone();
        async move {
            let req = records_request(&r);
            let body = client.json(&req).await?;
            let records = body["list"].as_array().cloned().unwrap_or_default();
            Ok(Page {
                records,
                total: None,
                next: None,
            })
        }
    };
    let mut pager = IdPager::new(None, fetch, id_of, small_config(), clock.shared());
    let mut ids = Vec::new();
    while let Some(item) = pager.next().await.unwrap() {
        match item {
            PagerItem::Records { records, .. } => ids.extend(records.iter().filter_map(id_of)),
            PagerItem::Errored(range) => panic!("nothing is poisoned: {range:?}"),
        }
    }
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
    assert!(pager.current_take() <= 8, "take {}", pager.current_take());
}

#[tokio::test]
async fn retry_only_retries_the_ranges_and_nothing_else() {
    let api = FakeApi::new(1..=100);
    api.0.lock().unwrap().poison = [40].into();
    let range = |after, before| ErroredRange {
        after,
        before,
        positions: 1,
        request: String::new(),
        error: String::new(),
        at: DateTime::UNIX_EPOCH,
    };
    let fetch_api = api.clone();
    let pager = IdPager::retry_only(
        vec![
            range(Some(10), Some(13)),
            range(Some(38), Some(42)),
            range(Some(97), None),
        ],
        move |request: PageRequest<u64>| futures::future::ready(fetch_api.serve(&request)),
        id_of as IdFn,
        small_config(),
        ManualClock::new(DateTime::UNIX_EPOCH).shared(),
    );
    let run = drain(&api, pager).await.unwrap();
    // 11 and 12 recovered, 39 and 41 around the poison, and the open range to the end.
    assert_eq!(run.yielded, vec![11, 12, 39, 41, 98, 99, 100]);
    assert_eq!(
        run.errored
            .iter()
            .map(|r| (r.after, r.before))
            .collect::<Vec<_>>(),
        vec![(Some(39), Some(41))]
    );
    assert_eq!(run.last_checkpoint, None, "no main cursor to save");
}

#[tokio::test]
async fn overlapping_pages_chain_so_a_clean_scan_refetches_nothing() {
    // Each batch of 4 pages of 16 covers 16 + 3 × 15 = 61 records: 100 records take two batches.
    let api = FakeApi::new(1..=100);
    let run = drain(&api, pager(&api, None, small_config()))
        .await
        .unwrap();
    assert_eq!(run.yielded, (1..=100).collect::<Vec<_>>());
    assert!(run.violations.is_empty(), "{run:?}");
    assert_eq!(api.0.lock().unwrap().calls, 8, "no batch was refetched");
}

/// Pages decoded so far by [`CountedPage`] (only the test below decodes them).
static DECODED: AtomicU64 = AtomicU64::new(0);

/// A JSON body that counts its decodes.
struct CountedPage(Value);

impl crate::http::JsonBody for CountedPage {
    fn empty() -> Self {
        CountedPage(Value::Null)
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        DECODED.fetch_add(1, Ordering::SeqCst);
        serde_json::from_slice(bytes)
            .map(CountedPage)
            .map_err(|e| e.to_string())
    }
}

/// Through the real HTTP client with 8 pages in flight and a slow consumer: every page arrives early,
/// but only `decode_ahead + 1` pages past those handed out are decoded; the rest wait as bytes.
#[tokio::test]
async fn over_http_pages_in_flight_wait_as_bytes_until_near_their_turn() {
    use crate::http::HttpConfig;
    let served = Arc::new(AtomicU64::new(0));
    let server = records_server(300, |id| json!({ "id": id }), Some(Arc::clone(&served))).await;
    let (client, clock) = client_at_epoch(HttpConfig::new(server.url()));
    let fetch = move |r: PageRequest<u64>| {
        let client = client.clone();
        async move {
            let req = records_request(&r);
            let page = client
                .send_json_checked::<CountedPage>(&req, &|_| Ok(()))
                .await?;
            let records = page.body.0["list"].as_array().cloned().unwrap_or_default();
            Ok(Page {
                records,
                total: None,
                next: None,
            })
        }
    };
    let config = IdPagerConfig {
        in_flight: 8,
        takes: vec![16, 1],
        decode_ahead: 1,
        ..IdPagerConfig::default()
    };
    let mut pager = IdPager::new(None, fetch, id_of, config, clock.shared());
    let (mut ids, mut received) = (Vec::new(), 0u64);
    let (mut most_decoded_ahead, mut most_waiting) = (0u64, 0u64);
    while let Some(item) = pager.next().await.unwrap() {
        let PagerItem::Records { records, .. } = item else {
            panic!("nothing is poisoned")
        };
        ids.extend(records.iter().filter_map(id_of));
        received += 1;
        // A slow caller: every page in flight has time to arrive.
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        let decoded = DECODED.load(Ordering::SeqCst);
        most_decoded_ahead = most_decoded_ahead.max(decoded.saturating_sub(received));
        most_waiting = most_waiting.max(served.load(Ordering::SeqCst).saturating_sub(decoded));
    }
    assert_eq!(ids, (1..=300).collect::<Vec<_>>());
    assert!(
        most_decoded_ahead <= 2,
        "{most_decoded_ahead} pages decoded past those handed out (at most decode_ahead + 1)"
    );
    assert!(
        most_waiting >= 4,
        "pages in flight never waited as bytes (at most {most_waiting})"
    );
}

//! The offset pager against an in-memory API with scripted failures and poison records.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::http::{Endpoint, ManualClock};

#[derive(Default)]
struct Fake {
    records: u64,
    poison: BTreeSet<u64>,
    /// Calls (by number) that fail transiently.
    failing_calls: BTreeSet<usize>,
    calls: Vec<OffsetRequest>,
}

fn fail() -> HttpError {
    HttpError::Transient {
        endpoint: Endpoint {
            method: "GET".into(),
            path: "/items".into(),
        },
        attempts: 3,
        last: "status 503".into(),
    }
}

fn serve(fake: &Mutex<Fake>, request: OffsetRequest) -> Result<Page, HttpError> {
    let mut f = fake.lock().unwrap();
    let call = f.calls.len();
    f.calls.push(request);
    let end = (request.offset + u64::from(request.limit)).min(f.records);
    let positions = request.offset..end;
    if f.failing_calls.contains(&call) || positions.clone().any(|p| f.poison.contains(&p)) {
        return Err(fail());
    }
    Ok(Page {
        records: positions.map(|p| json!({ "position": p })).collect(),
        total: Some(f.records),
        next: None,
    })
}

fn pager(
    fake: &Arc<Mutex<Fake>>,
    start: u64,
    config: OffsetPagerConfig,
) -> OffsetPager<impl Fn(OffsetRequest) -> futures::future::Ready<Result<Page, HttpError>>> {
    let fake = Arc::clone(fake);
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    OffsetPager::new(
        start,
        move |r| futures::future::ready(serve(&fake, r)),
        config,
        clock.shared(),
    )
}

fn positions(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r["position"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn pages_by_offset_to_the_short_last_page() {
    let fake = Arc::new(Mutex::new(Fake {
        records: 250,
        ..Fake::default()
    }));
    let mut p = pager(&fake, 0, OffsetPagerConfig::with_max(100));
    let mut seen = Vec::new();
    while let Some(item) = p.next().await.unwrap() {
        let PagerItem::Records {
            records,
            checkpoint,
        } = item
        else {
            panic!("no errors here")
        };
        seen.extend(positions(&records));
        assert_eq!(checkpoint, Some(seen.len() as u64));
    }
    assert_eq!(seen, (0..250).collect::<Vec<_>>());
    let calls: Vec<(u64, u32)> = fake
        .lock()
        .unwrap()
        .calls
        .iter()
        .map(|r| (r.offset, r.limit))
        .collect();
    assert_eq!(calls, [(0, 100), (100, 100), (200, 100)]);
}

#[tokio::test]
async fn a_poison_record_shrinks_the_page_then_is_reported_and_stepped_over() {
    let fake = Arc::new(Mutex::new(Fake {
        records: 30,
        poison: [12].into(),
        ..Fake::default()
    }));
    let config = OffsetPagerConfig {
        limits: vec![20, 10, 5, 1],
        ..OffsetPagerConfig::default()
    };
    let mut p = pager(&fake, 0, config);
    let (mut seen, mut errored) = (Vec::new(), Vec::new());
    while let Some(item) = p.next().await.unwrap() {
        match item {
            PagerItem::Records { records, .. } => seen.extend(positions(&records)),
            PagerItem::Errored(range) => errored.push((range.after, range.before)),
        }
    }
    assert_eq!(errored, [(Some(12), Some(13))]);
    assert_eq!(seen, (0..30).filter(|p| *p != 12).collect::<Vec<_>>());
}

#[tokio::test]
async fn page_numbers_shrink_only_to_sizes_that_keep_pages_aligned() {
    let fake = Arc::new(Mutex::new(Fake {
        records: 100,
        failing_calls: [1].into(),
        ..Fake::default()
    }));
    let config = OffsetPagerConfig {
        limits: vec![40, 30, 20, 10, 1],
        numbering: Numbering::Pages { first: 1 },
        recover_after: 1,
        ..OffsetPagerConfig::default()
    };
    let mut p = pager(&fake, 0, config);
    let mut seen = Vec::new();
    while let Some(PagerItem::Records { records, .. }) = p.next().await.unwrap() {
        seen.extend(positions(&records));
    }
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    let calls = fake.lock().unwrap().calls.clone();
    assert!(
        calls.iter().all(|r| r.limit != 30),
        "30 does not divide 40: {calls:?}"
    );
    assert!(
        calls.iter().all(|r| r.offset % u64::from(r.limit) == 0),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .all(|r| r.page == r.offset / u64::from(r.limit) + 1),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_capped_offset_stops_the_pager_for_a_restart() {
    let fake = Arc::new(Mutex::new(Fake {
        records: 500,
        ..Fake::default()
    }));
    let config = OffsetPagerConfig {
        max_offset: Some(200),
        ..OffsetPagerConfig::with_max(100)
    };
    let mut p = pager(&fake, 0, config);
    let mut n = 0;
    while let Some(PagerItem::Records { records, .. }) = p.next().await.unwrap() {
        n += records.len();
    }
    assert_eq!((n, p.capped(), p.position()), (200, true, 200));
}

#[tokio::test]
async fn a_dead_api_fails_the_pager_instead_of_reporting_every_record() {
    let fake = Arc::new(Mutex::new(Fake {
        records: 1000,
        failing_calls: (0..10_000).collect(),
        ..Fake::default()
    }));
    let mut p = pager(&fake, 0, OffsetPagerConfig::with_max(100));
    let mut errored = 0;
    let err = loop {
        match p.next().await {
            Ok(Some(PagerItem::Errored(_))) => errored += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, PagerError::TooManyErrored { .. }), "{err}");
    assert_eq!(errored, 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every record exactly once or inside a reported errored range; a checkpoint never passes an
    /// unemitted record; a resume from any checkpoint continues exactly there.
    #[test]
    fn every_record_once_or_reported_and_checkpoints_never_lead(
        records in 0u64..400,
        poison in prop::collection::btree_set(0u64..400, 0..4),
        failing in prop::collection::btree_set(0usize..200, 0..30),
        pages in prop::bool::ANY,
        resume_at in 0usize..50,
    ) {
        let numbering = if pages { Numbering::Pages { first: 0 } } else { Numbering::Offset };
        let config = OffsetPagerConfig { limits: vec![50, 25, 5, 1], numbering, recover_after: 2,
            max_consecutive_errored: 400, ..OffsetPagerConfig::default() };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let fake = Arc::new(Mutex::new(Fake { records, poison: poison.clone(), failing_calls: failing, ..Fake::default() }));
            let mut p = pager(&fake, 0, config.clone());
            let mut covered: Vec<u64> = Vec::new();
            let mut errored: Vec<u64> = Vec::new();
            let mut checkpoints = Vec::new();
            while let Some(item) = p.next().await.unwrap() {
                match item {
                    PagerItem::Records { records, checkpoint } => {
                        covered.extend(positions(&records));
                        let checkpoint = checkpoint.unwrap();
                        let mut sorted = covered.clone();
                        sorted.sort_unstable();
                        prop_assert_eq!(&sorted, &(0..checkpoint).collect::<Vec<_>>(), "checkpoint {} leads", checkpoint);
                        checkpoints.push(checkpoint);
                    }
                    PagerItem::Errored(range) => {
                        let at = range.after.unwrap();
                        prop_assert_eq!(range.before, Some(at + 1));
                        errored.push(at);
                        covered.push(at);
                    }
                }
            }
            covered.sort_unstable();
            prop_assert_eq!(&covered, &(0..records).collect::<Vec<_>>());
            // Every poison record is reported; without scripted faults, nothing else is.
            let live_poison: Vec<u64> = poison.iter().copied().filter(|p| *p < records).collect();
            prop_assert!(live_poison.iter().all(|p| errored.contains(p)), "{:?} not all in {:?}", live_poison, errored);
            if fake.lock().unwrap().failing_calls.is_empty() {
                prop_assert_eq!(&errored, &live_poison);
            }
            // Resuming from a checkpoint yields exactly the records after it.
            if let Some(&from) = checkpoints.get(resume_at % checkpoints.len().max(1)) {
                let clean = Arc::new(Mutex::new(Fake { records, ..Fake::default() }));
                let mut resumed = pager(&clean, from, config);
                let mut rest = Vec::new();
                while let Some(PagerItem::Records { records, .. }) = resumed.next().await.unwrap() {
                    rest.extend(positions(&records));
                }
                prop_assert_eq!(rest, (from..records).collect::<Vec<_>>());
            }
            Ok(())
        })?;
    }
}

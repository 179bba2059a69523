//! The continuation pager: each page says where the next one is, as a token (`nextPageToken`,
//! `paging.next.after`, GraphQL `pageInfo.endCursor`), a cursor taken from the last record
//! (`starting_after`), or an absolute next link (`nextPageLink`, `nextRecordsUrl`, a `Link` header).
//!
//! Guarantees: records are yielded exactly once, in the API's order; each batch carries the position to
//! resume from once it is emitted (the token of the page after it, or "complete"); a repeated token is
//! an error, never an endless loop; the page count is bounded.
//!
//! A next link is followed exactly as given (build its request with
//! [`Request::follow`](crate::http::Request::follow)): re-adding the first request's parameters makes them
//! pile up page after page (EveryAction's `nextPageLink` 404s that way). Where the API keeps handing out a
//! link on an empty page (EveryAction's saved lists), `stop_on_empty` ends the pass there.
//!
//! Shrinking: a failing page is asked for again with the same token and the next smaller size, but only
//! where the API lets the size change between pages (`limits` with more than one entry: Stripe,
//! SA360's `search`); an opaque token usually fixes it. A page that fails at the smallest size fails the
//! pager: without a way past it, skipping would lose every later record.

use std::future::Future;

use serde_json::Value;

use super::guards::StallGuard;
use super::id_pager::PagerError;
use super::page::Page;
use crate::http::HttpError;

/// What the pager asks the fetch function for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The position of the page: `None` for the first page, else the previous page's next token/link.
    pub token: Option<String>,
    /// The page size to ask for.
    pub limit: u32,
}

impl std::fmt::Display for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.token {
            // Tokens and links can be long and may carry filters; their length says enough.
            Some(t) => write!(f, "the page after a {}-character token", t.len())?,
            None => write!(f, "the first page")?,
        }
        write!(f, ", limit {}", self.limit)
    }
}

/// Where a pass stands after a batch: what to save in state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// More pages follow; resume with this token or link.
    At(String),
    /// That was the last page.
    Complete,
}

/// One batch of a [`TokenPager`] (records as `Value`s, or as a page's [`crate::sdk::json::Record`]s).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPage<R = Value> {
    /// The page's records, in order.
    pub records: Vec<R>,
    /// The API's count of every record the pass matches, if the page reported one.
    pub total: Option<u64>,
    /// The position to save once `records` are emitted.
    pub resume: Resume,
}

/// Tuning of a [`TokenPager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPagerConfig {
    /// Page sizes, largest first; one entry when the API does not let the size change between pages.
    pub limits: Vec<u32>,
    /// End the pass at an empty page even if it still carries a next token.
    pub stop_on_empty: bool,
    /// Pages before the pager fails, a guard against a runaway loop (default 10 million).
    pub max_pages: u64,
    /// Successful pages at a reduced size before climbing one rung back up (default 20).
    pub recover_after: u32,
}

impl Default for TokenPagerConfig {
    fn default() -> Self {
        Self {
            limits: vec![100],
            stop_on_empty: false,
            max_pages: 10_000_000,
            recover_after: 20,
        }
    }
}

/// The continuation pager; see the module documentation.
pub struct TokenPager<F> {
    fetch: F,
    config: TokenPagerConfig,
    token: Option<String>,
    guard: StallGuard<String>,
    rung: usize,
    successes: u32,
    done: bool,
}

impl<F> std::fmt::Debug for TokenPager<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPager")
            .field("limit", &self.config.limits[self.rung])
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, R> TokenPager<F>
where
    F: Fn(TokenRequest) -> Fut,
    Fut: Future<Output = Result<Page<R>, HttpError>>,
{
    /// A pager from `resume` (`None`: the first page; else a saved [`Resume::At`] token). `fetch` answers
    /// one page with its [`Page::next`] token (`None` on the last page). `what` names the pass in
    /// errors.
    pub fn new(
        what: impl Into<String>,
        resume: Option<String>,
        fetch: F,
        config: TokenPagerConfig,
    ) -> Self {
        let mut config = config;
        config.limits.retain(|l| *l > 0);
        if config.limits.is_empty() {
            config.limits.push(100);
        }
        config.recover_after = config.recover_after.max(1);
        let guard = StallGuard::new(what, config.max_pages);
        Self {
            fetch,
            config,
            token: resume,
            guard,
            rung: 0,
            successes: 0,
            done: false,
        }
    }

    /// The next batch, or `None` once the pass is complete.
    pub async fn next(&mut self) -> Result<Option<TokenPage<R>>, PagerError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let request = TokenRequest {
                token: self.token.clone(),
                limit: self.config.limits[self.rung],
            };
            let page = match (self.fetch)(request.clone()).await {
                Ok(page) => page,
                Err(e) if !e.is_permanent() && self.rung + 1 < self.config.limits.len() => {
                    self.rung += 1;
                    self.successes = 0;
                    tracing::info!(%request, error = %e, limit = self.config.limits[self.rung], "page failed; asking for it again with a smaller size");
                    continue;
                }
                Err(e) => {
                    return Err(PagerError::Fetch {
                        request: request.to_string(),
                        source: Box::new(e),
                    })
                }
            };
            self.successes += 1;
            if self.rung > 0 && self.successes >= self.config.recover_after {
                self.rung -= 1;
                self.successes = 0;
            }
            let empty = page.records.is_empty();
            let resume = match page.next {
                Some(next) if !(empty && self.config.stop_on_empty) => {
                    self.guard
                        .advance(next.clone())
                        .map_err(PagerError::Stalled)?;
                    self.token = Some(next.clone());
                    Resume::At(next)
                }
                _ => {
                    self.done = true;
                    Resume::Complete
                }
            };
            if empty && !self.done {
                continue; // an empty page in the middle: nothing to emit, follow the token
            }
            return Ok(Some(TokenPage {
                records: page.records,
                total: page.total,
                resume,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Endpoint;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    /// An API of `records` whose token is the next offset, written as `o<offset>`; `fixed` size means
    /// a token carries its page size, so asking for another size is refused.
    struct Fake {
        records: u64,
        failing_calls: BTreeSet<usize>,
        calls: usize,
        empty_link_at_end: bool,
        repeat_token: bool,
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

    fn serve(fake: &Mutex<Fake>, r: TokenRequest) -> Result<Page, HttpError> {
        let mut f = fake.lock().unwrap();
        let call = f.calls;
        f.calls += 1;
        if f.failing_calls.contains(&call) {
            return Err(fail());
        }
        let from: u64 = r.token.as_deref().map_or(0, |t| t[1..].parse().unwrap());
        let end = (from + u64::from(r.limit)).min(f.records);
        let next = (end < f.records || f.empty_link_at_end).then(|| format!("o{end}"));
        let next = if f.repeat_token {
            r.token.clone().or(next)
        } else {
            next
        };
        Ok(Page {
            records: (from..end).map(|p| json!({ "p": p })).collect(),
            total: None,
            next,
        })
    }

    fn pager(
        fake: &Arc<Mutex<Fake>>,
        resume: Option<String>,
        config: TokenPagerConfig,
    ) -> TokenPager<impl Fn(TokenRequest) -> futures::future::Ready<Result<Page, HttpError>>> {
        let fake = Arc::clone(fake);
        TokenPager::new(
            "items",
            resume,
            move |r| futures::future::ready(serve(&fake, r)),
            config,
        )
    }

    fn fake(records: u64) -> Fake {
        Fake {
            records,
            failing_calls: BTreeSet::new(),
            calls: 0,
            empty_link_at_end: false,
            repeat_token: false,
        }
    }

    #[tokio::test]
    async fn an_empty_page_that_keeps_its_link_ends_the_pass_where_asked() {
        let f = Arc::new(Mutex::new(Fake {
            empty_link_at_end: true,
            ..fake(5)
        }));
        let config = TokenPagerConfig {
            limits: vec![2],
            stop_on_empty: true,
            ..TokenPagerConfig::default()
        };
        let mut p = pager(&f, None, config);
        let mut n = 0;
        let mut last = None;
        while let Some(page) = p.next().await.unwrap() {
            n += page.records.len();
            last = Some(page.resume);
        }
        assert_eq!((n, last), (5, Some(Resume::Complete)));
        assert_eq!(f.lock().unwrap().calls, 4, "three pages and the empty one");
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_a_loop() {
        let f = Arc::new(Mutex::new(Fake {
            repeat_token: true,
            ..fake(50)
        }));
        let mut p = pager(
            &f,
            None,
            TokenPagerConfig {
                limits: vec![10],
                ..TokenPagerConfig::default()
            },
        );
        p.next().await.unwrap();
        let err = p.next().await.unwrap_err();
        assert!(err.to_string().contains("again"), "{err}");
    }

    #[tokio::test]
    async fn a_fixed_size_page_that_keeps_failing_fails_the_pager_instead_of_skipping() {
        let f = Arc::new(Mutex::new(Fake {
            failing_calls: [1].into(),
            ..fake(50)
        }));
        let mut p = pager(
            &f,
            None,
            TokenPagerConfig {
                limits: vec![10],
                ..TokenPagerConfig::default()
            },
        );
        assert_eq!(p.next().await.unwrap().unwrap().records.len(), 10);
        assert!(matches!(p.next().await, Err(PagerError::Fetch { .. })));
    }

    proptest! {
        /// Records once and in order; a resume from any saved position continues exactly there; with
        /// resizable pages, transient faults only shrink pages.
        #[test]
        fn records_once_in_order_and_resumable(
            records in 0u64..300,
            failing in prop::collection::btree_set(0usize..100, 0..20),
            resume_at in 0usize..40,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let config = TokenPagerConfig { limits: vec![25, 5, 1], recover_after: 2, ..TokenPagerConfig::default() };
                let f = Arc::new(Mutex::new(Fake { failing_calls: failing, ..fake(records) }));
                let mut p = pager(&f, None, config.clone());
                let mut seen = Vec::new();
                let mut saved = Vec::new();
                loop {
                    match p.next().await {
                        Ok(Some(page)) => {
                            seen.extend(page.records.iter().map(|r| r["p"].as_u64().unwrap()));
                            saved.push((seen.len() as u64, page.resume));
                        }
                        Ok(None) => break,
                        // Three scripted failures in a row at the smallest size: a prefix was yielded.
                        Err(_) => break,
                    }
                }
                prop_assert_eq!(&seen, &(0..seen.len() as u64).collect::<Vec<_>>());
                if let Some((emitted, resume)) = saved.get(resume_at % saved.len().max(1)).cloned() {
                    let token = match resume { Resume::At(t) => Some(t), Resume::Complete => { prop_assert_eq!(emitted, records); return Ok(()); } };
                    let clean = Arc::new(Mutex::new(fake(records)));
                    let mut resumed = pager(&clean, token, config);
                    let mut rest = Vec::new();
                    while let Some(page) = resumed.next().await.unwrap() {
                        rest.extend(page.records.iter().map(|r| r["p"].as_u64().unwrap()));
                    }
                    prop_assert_eq!(rest, (emitted..records).collect::<Vec<_>>());
                }
                Ok(())
            })?;
        }
    }
}

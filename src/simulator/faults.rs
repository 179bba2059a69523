//! Scripted fault injection.
//!
//! A plan is an ordered list of rules. Each API request is checked against the rules at arrival;
//! the first rule that fires decides the fault. Rules select requests by arrival number, path
//! fragment and method, can skip their first N matches, fire a limited number of times, and fire
//! with a probability decided by `hash(seed, rule position, request number)`, so a rerun with the
//! same seed and the same request order injects the same faults.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::rng;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The API's own 429 (body and headers come from the simulator).
    TooManyRequests {
        /// Value for `Retry-After`, in seconds.
        #[serde(default = "one")]
        retry_after_seconds: u64,
    },
    /// An error status with the API's error body.
    ServerError {
        /// The status, 500 unless given.
        #[serde(default = "internal_error")]
        status: u16,
    },
    /// No answer for a long time: after `after_ms` respond with `status`; without `after_ms`,
    /// never answer (until the client gives up or the simulator shuts down).
    Timeout {
        /// Delay before the late error response; `None` hangs.
        #[serde(default)]
        after_ms: Option<u64>,
        /// Status of the late response, 504 unless given.
        #[serde(default = "gateway_timeout")]
        status: u16,
    },
    /// Answer normally, but only after an extra delay.
    Slow {
        /// The extra delay.
        delay_ms: u64,
    },
    /// The real response with its body cut in half (consistent `Content-Length`, broken JSON).
    TruncatedBody,
    /// Half of the real body, then the connection is dropped mid-response.
    CutConnection,
    /// Status 200 with a JSON content type and a body that is not JSON.
    InvalidJson,
    /// The real response with its page emptied (the simulator decides what "empty" means).
    EmptyPage,
}

fn one() -> u64 {
    1
}
fn internal_error() -> u16 {
    500
}
fn gateway_timeout() -> u16 {
    504
}

impl Fault {
    /// A short label for logs (`server_error(503)`, `timeout`, ...).
    pub fn label(&self) -> String {
        match self {
            Fault::TooManyRequests { .. } => "fault:too_many_requests".into(),
            Fault::ServerError { status } => format!("fault:server_error({status})"),
            Fault::Timeout { .. } => "fault:timeout".into(),
            Fault::Slow { .. } => "fault:slow".into(),
            Fault::TruncatedBody => "fault:truncated_body".into(),
            Fault::CutConnection => "fault:cut_connection".into(),
            Fault::InvalidJson => "fault:invalid_json".into(),
            Fault::EmptyPage => "fault:empty_page".into(),
        }
    }
}

/// Which requests a rule applies to; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultWhen {
    /// Only the request with this 1-based arrival number.
    #[serde(default)]
    pub request: Option<u64>,
    /// Only requests whose path contains this fragment.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Only requests with this method (case-insensitive).
    #[serde(default)]
    pub method: Option<String>,
    /// Let the first N matching requests through untouched.
    #[serde(default)]
    pub skip: u64,
    /// Fire on a matching request with this probability (seeded, reproducible).
    #[serde(default)]
    pub probability: Option<f64>,
}

/// One rule: when to fire, what to do, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The request selector.
    #[serde(default)]
    pub when: FaultWhen,
    /// The fault.
    pub fault: Fault,
    /// Fire at most this many times (`None`: unlimited).
    #[serde(default)]
    pub times: Option<u64>,
}

impl FaultRule {
    /// Fires `fault` on request number `n` only.
    pub fn on_request(n: u64, fault: Fault) -> Self {
        Self {
            when: FaultWhen {
                request: Some(n),
                ..FaultWhen::default()
            },
            fault,
            times: Some(1),
        }
    }

    /// Fires `fault` on every request whose path contains `fragment` (narrow with the builders).
    pub fn on_path(fragment: impl Into<String>, fault: Fault) -> Self {
        Self {
            when: FaultWhen {
                path_contains: Some(fragment.into()),
                ..FaultWhen::default()
            },
            fault,
            times: None,
        }
    }

    /// Lets the first `n` matching requests through.
    pub fn skipping(mut self, n: u64) -> Self {
        self.when.skip = n;
        self
    }

    /// Fires at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Fires with probability `p` on each eligible request.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.when.probability = Some(p);
        self
    }
}

/// A rule with its counters, as reported by [`FaultPlan::rules`].
#[derive(Debug, Clone, Serialize)]
pub struct FaultRuleState {
    /// The rule.
    pub rule: FaultRule,
    /// Requests that matched the selector.
    pub matched: u64,
    /// Times the rule fired.
    pub fired: u64,
}

#[derive(Debug)]
struct PlanState {
    rules: Vec<FaultRuleState>,
    /// Rules ever added, so a probability draw depends on the rule's identity, not its index
    /// after earlier rules were cleared.
    added: u64,
    ids: Vec<u64>,
}

/// The thread-safe fault plan of one simulator.
#[derive(Debug)]
pub struct FaultPlan {
    seed: u64,
    state: Mutex<PlanState>,
}

impl FaultPlan {
    /// An empty plan whose probability draws derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            state: Mutex::new(PlanState {
                rules: Vec::new(),
                added: 0,
                ids: Vec::new(),
            }),
        }
    }

    /// Appends a rule (checked after the existing ones).
    pub fn add(&self, rule: FaultRule) {
        let mut state = self.lock();
        state.added += 1;
        let id = state.added;
        state.ids.push(id);
        state.rules.push(FaultRuleState {
            rule,
            matched: 0,
            fired: 0,
        });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.ids.clear();
    }

    /// The rules with their counters.
    pub fn rules(&self) -> Vec<FaultRuleState> {
        self.lock().rules.clone()
    }

    /// Decides the fault for request `number` (`method` `path`), updating the counters.
    pub fn pick(&self, number: u64, method: &str, path: &str) -> Option<Fault> {
        let mut state = self.lock();
        let PlanState { rules, ids, .. } = &mut *state;
        for (entry, id) in rules.iter_mut().zip(ids.iter()) {
            let when = &entry.rule.when;
            let selected = when.request.is_none_or(|n| n == number)
                && when
                    .path_contains
                    .as_deref()
                    .is_none_or(|fragment| path.contains(fragment))
                && when
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !selected {
                continue;
            }
            entry.matched += 1;
            if entry.matched <= when.skip {
                continue;
            }
            if entry.rule.times.is_some_and(|limit| entry.fired >= limit) {
                continue;
            }
            if let Some(p) = when.probability {
                if rng::unit(rng::hash(self.seed, &[rng::tag(b"fault"), *id, number])) >= p {
                    continue;
                }
            }
            entry.fired += 1;
            return Some(entry.rule.fault.clone());
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PlanState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_number_rule_fires_once() {
        let plan = FaultPlan::new(1);
        plan.add(FaultRule::on_request(2, Fault::ServerError { status: 503 }));
        assert_eq!(plan.pick(1, "GET", "/a"), None);
        assert_eq!(
            plan.pick(2, "GET", "/a"),
            Some(Fault::ServerError { status: 503 })
        );
        assert_eq!(plan.pick(3, "GET", "/a"), None);
    }

    #[test]
    fn path_rule_skips_and_limits() {
        let plan = FaultPlan::new(1);
        plan.add(
            FaultRule::on_path("/Gift", Fault::EmptyPage)
                .skipping(1)
                .times(2),
        );
        let fired: Vec<bool> = (1..=5)
            .map(|n| plan.pick(n, "POST", "/api/Gift/Query").is_some())
            .collect();
        assert_eq!(fired, vec![false, true, true, false, false]);
        assert_eq!(plan.pick(6, "POST", "/api/Contact/Query"), None);
        assert_eq!(plan.rules()[0].fired, 2);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let run = |seed| {
            let plan = FaultPlan::new(seed);
            plan.add(FaultRule::on_path("/", Fault::InvalidJson).with_probability(0.3));
            (1..=200)
                .map(|n| plan.pick(n, "GET", "/x").is_some())
                .collect::<Vec<_>>()
        };
        let first = run(42);
        assert_eq!(first, run(42));
        assert_ne!(first, run(43));
        let hits = first.iter().filter(|hit| **hit).count();
        assert!((30..90).contains(&hits), "{hits} hits for p=0.3");
    }

    #[test]
    fn rules_parse_from_control_json() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"when":{"path_contains":"/FullGift","skip":1},"fault":{"kind":"timeout"},"times":1}"#,
        )
        .unwrap();
        assert_eq!(
            rule.fault,
            Fault::Timeout {
                after_ms: None,
                status: 504
            }
        );
        assert_eq!(rule.when.skip, 1);
        assert!(serde_json::from_str::<FaultRule>(r#"{"fault":{"kind":"nope"}}"#).is_err());
    }
}

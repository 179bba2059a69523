//! What a person can set on a bundled simulator without writing Rust: its knobs (seed, sizes, poison
//! records, the clock), a whole settings object, a fault plan and a latency. `simulate NAME` reads them
//! from flags, `debug` from the configuration's `simulator` object or `--sim NAME=VALUE`; both end up
//! as one [`SimulatorOptions`], applied by the launcher (see [`super::launch`]).
//!
//! A knob is a named path into the simulator's settings (its `Config` as JSON): the simulator lists
//! its own in [`super::ApiSimulator::knobs`], and [`common_knobs`] adds the ones every simulator has.

use serde_json::{Map, Value};

use super::faults::{Fault, FaultRule, FaultWhen};

/// One setting a person can change by name.
#[derive(Debug, Clone, Copy)]
pub struct Knob {
    /// The name: `--NAME VALUE` on `simulate`, `"NAME": VALUE` in `debug`'s `simulator` object.
    pub name: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    /// A JSON pointer into the settings, e.g. `/gifts/initial`.
    pub path: &'static str,
    /// How the text becomes JSON.
    pub value: KnobValue,
}

/// How a knob's text becomes a settings value.
#[derive(Debug, Clone, Copy)]
pub enum KnobValue {
    /// A non-negative integer.
    Count,
    /// A fraction in `0..=1`.
    Fraction,
    /// `true` or `false`.
    Flag,
    /// Text, kept as given (also dates, in the format the settings use).
    Text,
    /// Milliseconds, stored as a duration.
    Millis,
    /// Each use appends one element to the array at the path; the function turns the text into it.
    Each(fn(&str) -> Result<Value, String>),
}

impl Knob {
    /// A whole-number knob.
    pub const fn count(name: &'static str, path: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            path,
            value: KnobValue::Count,
        }
    }

    /// A text knob (dates in the settings' own format).
    pub const fn text(name: &'static str, path: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            path,
            value: KnobValue::Text,
        }
    }

    /// A `true`/`false` knob.
    pub const fn flag(name: &'static str, path: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            path,
            value: KnobValue::Flag,
        }
    }

    /// A knob given once per element of the list at `path`, each text read by `element`.
    pub const fn each(
        name: &'static str,
        path: &'static str,
        help: &'static str,
        element: fn(&str) -> Result<Value, String>,
    ) -> Self {
        Self {
            name,
            help,
            path,
            value: KnobValue::Each(element),
        }
    }

    /// Whether the knob may be given more than once.
    pub fn repeats(&self) -> bool {
        matches!(self.value, KnobValue::Each(_))
    }

    fn parse(&self, text: &str) -> Result<Value, String> {
        let text = text.trim();
        let bad = |expected: &str| {
            format!(
                "simulator option '{}': '{text}' is not {expected}",
                self.name
            )
        };
        match self.value {
            KnobValue::Count => text
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| bad("a whole number")),
            KnobValue::Fraction => match text.parse::<f64>() {
                Ok(f) if (0.0..=1.0).contains(&f) => Ok(Value::from(f)),
                _ => Err(bad("a fraction between 0 and 1")),
            },
            KnobValue::Flag => text
                .parse::<bool>()
                .map(Value::from)
                .map_err(|_| bad("true or false")),
            KnobValue::Text => Ok(Value::from(text)),
            KnobValue::Millis => text
                .parse::<u64>()
                .map(|ms| serde_json::json!({"secs": ms / 1000, "nanos": (ms % 1000) * 1_000_000}))
                .map_err(|_| bad("a number of milliseconds")),
            KnobValue::Each(f) => {
                f(text).map_err(|e| format!("simulator option '{}': {e}", self.name))
            }
        }
    }
}

/// An element read as a whole number (for [`Knob::each`]).
pub fn whole_number(text: &str) -> Result<Value, String> {
    text.trim()
        .parse::<u64>()
        .map(Value::from)
        .map_err(|_| format!("'{text}' is not a whole number"))
}

/// The knobs of every simulator: the seed and the clock.
pub fn common_knobs() -> Vec<Knob> {
    vec![
        Knob {
            name: "seed",
            help: "seed for every generated value (the same seed serves the same data)",
            path: "/seed",
            value: KnobValue::Count,
        },
        Knob {
            name: "clock",
            help: "the simulated clock: running (ticks with real time) or frozen",
            path: "/server/clock_mode",
            value: KnobValue::Text,
        },
    ]
}

/// The fault kinds a fault rate mixes, by the names the control API uses.
pub const FAULT_KINDS: &[&str] = &[
    "too_many_requests",
    "server_error",
    "service_unavailable",
    "timeout",
    "truncated_body",
    "cut_connection",
    "invalid_json",
    "empty_page",
];

/// How a user's options for one simulator read, before they meet its settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimulatorOptions {
    /// A settings object merged over the defaults, key by key (`--settings FILE`).
    pub settings: Option<Value>,
    /// Knob values, in order given: `(name, text)`.
    pub knobs: Vec<(String, String)>,
    /// Fault every API request with this probability, the kinds mixed evenly.
    pub fault_rate: Option<f64>,
    /// The kinds the rate mixes (names from [`FAULT_KINDS`]; empty: all but `empty_page`).
    pub fault_kinds: Vec<String>,
    /// Rules as the control API takes them (`POST /__sim/faults`), applied before the rate.
    pub fault_rules: Vec<FaultRule>,
    /// Delay every API response by this much.
    pub latency_ms: Option<u64>,
}

impl SimulatorOptions {
    /// Reads the `simulator` object of a `debug` configuration: `settings`, `fault_rate`,
    /// `fault_kinds`, `fault_rules`, `latency_ms`, and knobs by name (a list gives a repeated knob).
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, String> {
        let mut options = Self::default();
        for (key, value) in object {
            match key.as_str() {
                "settings" => options.settings = Some(value.clone()),
                "fault_rate" => options.fault_rate = Some(fraction(key, value)?),
                "fault_kinds" => {
                    for kind in strings(key, value)? {
                        options.fault_kinds.push(kind);
                    }
                }
                "fault_rules" => {
                    options.fault_rules = serde_json::from_value(value.clone()).map_err(|e| {
                        format!("simulator option 'fault_rules' is not a list of fault rules: {e}")
                    })?
                }
                "latency_ms" => {
                    options.latency_ms = Some(value.as_u64().ok_or_else(|| {
                        "simulator option 'latency_ms' must be a whole number".to_owned()
                    })?)
                }
                knob => {
                    for text in strings(knob, value)? {
                        options.knobs.push((knob.to_owned(), text));
                    }
                }
            }
        }
        Ok(options)
    }

    /// Adds one `NAME=VALUE` (from `debug --sim`): the same names as [`Self::from_json`].
    pub fn set(&mut self, pair: &str) -> Result<(), String> {
        let (name, text) = pair
            .split_once('=')
            .ok_or_else(|| format!("simulator option '{pair}' must be NAME=VALUE"))?;
        let mut object = Map::new();
        let value = serde_json::from_str(text).unwrap_or_else(|_| Value::from(text));
        object.insert(name.trim().to_owned(), value);
        let more = Self::from_json(&object)?;
        self.settings = more.settings.or(self.settings.take());
        self.knobs.extend(more.knobs);
        self.fault_rate = more.fault_rate.or(self.fault_rate);
        self.fault_kinds.extend(more.fault_kinds);
        self.fault_rules.extend(more.fault_rules);
        self.latency_ms = more.latency_ms.or(self.latency_ms);
        Ok(())
    }

    /// The settings to start with: `defaults`, then [`Self::settings`] merged over them, then each
    /// knob set at its path. An unknown knob is refused with the list of known ones.
    pub fn settings_over(&self, defaults: Value, knobs: &[Knob]) -> Result<Value, String> {
        let mut settings = defaults;
        if let Some(overrides) = &self.settings {
            if !overrides.is_object() {
                return Err("the simulator's settings must be a JSON object".into());
            }
            merge(&mut settings, overrides);
        }
        let mut appended = std::collections::HashSet::new();
        for (name, text) in &self.knobs {
            let Some(knob) = knobs.iter().find(|k| k.name == name) else {
                let known: Vec<&str> = knobs.iter().map(|k| k.name).collect();
                return Err(format!(
                    "unknown simulator option '{name}'; this simulator knows: {}, settings, fault_rate, fault_kinds, fault_rules, latency_ms",
                    known.join(", ")
                ));
            };
            let value = knob.parse(text)?;
            let slot = settings.pointer_mut(knob.path).ok_or_else(|| {
                format!(
                    "internal: simulator option '{name}' points at {} which the settings lack",
                    knob.path
                )
            })?;
            if knob.repeats() {
                // The first use replaces the default list: `--poison 7` means exactly record 7.
                if appended.insert(knob.name) {
                    *slot = Value::Array(Vec::new());
                }
                match slot {
                    Value::Array(items) => items.push(value),
                    _ => return Err(format!("internal: {} is not a list", knob.path)),
                }
            } else {
                *slot = value;
            }
        }
        Ok(settings)
    }

    /// The fault rules to install: the given rules, then the rate's mix, then the latency (a slow
    /// answer for every request no other rule faulted).
    pub fn fault_plan(&self) -> Result<Vec<FaultRule>, String> {
        let mut rules = self.fault_rules.clone();
        if let Some(rate) = self.fault_rate.filter(|r| *r > 0.0) {
            let kinds: Vec<&str> = if self.fault_kinds.is_empty() {
                FAULT_KINDS
                    .iter()
                    .copied()
                    .filter(|k| *k != "empty_page")
                    .collect()
            } else {
                self.fault_kinds.iter().map(String::as_str).collect()
            };
            // Rules are tried in order, each firing with its own probability: p_i = 1 - (1-rate)^(1/k)
            // makes the chance that some rule fires exactly `rate`.
            let each = 1.0 - (1.0 - rate).powf(1.0 / kinds.len() as f64);
            for kind in kinds {
                rules.push(FaultRule {
                    when: FaultWhen {
                        probability: Some(each),
                        ..FaultWhen::default()
                    },
                    fault: fault_named(kind)?,
                    times: None,
                });
            }
        } else if !self.fault_kinds.is_empty() {
            return Err("simulator option 'fault_kinds' needs a fault_rate".into());
        }
        if let Some(ms) = self.latency_ms.filter(|ms| *ms > 0) {
            rules.push(FaultRule {
                when: FaultWhen::default(),
                fault: Fault::Slow { delay_ms: ms },
                times: None,
            });
        }
        Ok(rules)
    }
}

/// The fault a kind name stands for in a fault rate's mix.
pub fn fault_named(kind: &str) -> Result<Fault, String> {
    Ok(match kind {
        "too_many_requests" => Fault::TooManyRequests {
            retry_after_seconds: 1,
        },
        "server_error" => Fault::ServerError { status: 500 },
        "service_unavailable" => Fault::ServerError { status: 503 },
        // A gateway that gives up after a while: long enough to cost a wait, short enough that a
        // sync at 10 % faults still finishes in minutes.
        "timeout" => Fault::Timeout {
            after_ms: Some(2_000),
            status: 504,
        },
        "truncated_body" => Fault::TruncatedBody,
        "cut_connection" => Fault::CutConnection,
        "invalid_json" => Fault::InvalidJson,
        "empty_page" => Fault::EmptyPage,
        other => {
            return Err(format!(
                "unknown fault kind '{other}'; kinds: {}",
                FAULT_KINDS.join(", ")
            ))
        }
    })
}

fn fraction(key: &str, value: &Value) -> Result<f64, String> {
    match value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
    {
        Some(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "simulator option '{key}' must be a fraction between 0 and 1, found {value}"
        )),
    }
}

/// A knob's values as text: a string or a number as itself, a list as its elements.
fn strings(key: &str, value: &Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "simulator option '{key}' must be a string, a number or a list of them, found {other}"
        )),
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// Merges `over` into `base`, objects key by key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn knobs() -> Vec<Knob> {
        let mut knobs = common_knobs();
        knobs.push(Knob {
            name: "gifts",
            help: "gifts",
            path: "/gifts/initial",
            value: KnobValue::Count,
        });
        knobs.push(Knob {
            name: "poison",
            help: "poison",
            path: "/poison",
            value: KnobValue::Each(|t| {
                t.parse::<u64>()
                    .map(|id| json!({ "id": id }))
                    .map_err(|_| format!("'{t}' is not an id"))
            }),
        });
        knobs
    }

    fn defaults() -> Value {
        json!({"seed": 1, "gifts": {"initial": 10, "added": 2}, "poison": [{"id": 99}], "server": {"clock_mode": "running"}})
    }

    #[test]
    fn settings_then_knobs_land_at_their_paths_and_repeats_replace_the_default_list() {
        let options = SimulatorOptions::from_json(
            json!({"settings": {"gifts": {"added": 5}}, "seed": 7, "gifts": "300", "poison": [3, 4]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let settings = options.settings_over(defaults(), &knobs()).unwrap();
        assert_eq!(
            settings,
            json!({"seed": 7, "gifts": {"initial": 300, "added": 5}, "poison": [{"id": 3}, {"id": 4}], "server": {"clock_mode": "running"}})
        );
    }

    #[test]
    fn unknown_and_malformed_options_are_refused_by_name() {
        let mut options = SimulatorOptions::default();
        options.set("gift=3").unwrap();
        let err = options.settings_over(defaults(), &knobs()).unwrap_err();
        assert!(
            err.contains("'gift'") && err.contains("gifts, poison"),
            "{err}"
        );
        let mut options = SimulatorOptions::default();
        options.set("gifts=many").unwrap();
        let err = options.settings_over(defaults(), &knobs()).unwrap_err();
        assert!(err.contains("'gifts'") && err.contains("'many'"), "{err}");
        assert!(SimulatorOptions::default().set("fault_rate=2").is_err());
        assert!(SimulatorOptions::default().set("no_equals").is_err());
    }

    #[test]
    fn a_fault_rate_mixes_the_kinds_so_that_the_total_is_the_rate() {
        let mut options = SimulatorOptions::default();
        options.set("fault_rate=0.1").unwrap();
        options.set("latency_ms=5").unwrap();
        let rules = options.fault_plan().unwrap();
        assert_eq!(rules.len(), FAULT_KINDS.len() - 1 + 1);
        let pass: f64 = rules
            .iter()
            .filter_map(|r| r.when.probability)
            .map(|p| 1.0 - p)
            .product();
        assert!((1.0 - pass - 0.1).abs() < 1e-9, "{pass}");
        assert!(matches!(
            rules.last().unwrap().fault,
            Fault::Slow { delay_ms: 5 }
        ));
        options.fault_kinds = vec!["bogus".into()];
        assert!(options.fault_plan().unwrap_err().contains("bogus"));
    }
}

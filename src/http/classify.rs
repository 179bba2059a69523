//! Turns a non-success response into a verdict (fail fast, retry, wait, shrink) and reads the API's
//! rate-limit headers.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

/// The default verdict on a non-2xx response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Fail fast; `hint` says what to check, `detail` is `": <api message>"` or empty.
    Permanent { hint: String, detail: String },
    /// Retry with backoff.
    Transient(String),
    /// Retry after the server-requested wait, if one was given.
    RateLimited(String, Option<Duration>),
    /// Shrink the request.
    TooLarge(String),
}

/// Classifies `status` (not 2xx). `shrinkable` requests report gateway timeouts as too large.
pub(crate) fn classify_failure(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    shrinkable: bool,
    now: DateTime<Utc>,
) -> Failure {
    let detail = api_message(body)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let permanent = |hint: &str| Failure::Permanent {
        hint: hint.to_owned(),
        detail: detail.clone(),
    };
    match status {
        429 => {
            let wait = retry_after(headers, now).or_else(|| rate_limit_headers(headers, now).1);
            Failure::RateLimited(format!("rate limited (status 429){detail}"), wait)
        }
        // A 403 that says when to come back is a rate limit, not a refusal: GitHub's secondary limits
        // (`Retry-After`) and its spent primary budget (`X-RateLimit-Remaining: 0`) answer so.
        403 if retry_after(headers, now).is_some()
            || rate_limit_headers(headers, now).0 == Some(0) =>
        {
            let wait = retry_after(headers, now).or_else(|| rate_limit_headers(headers, now).1);
            Failure::RateLimited(format!("rate limited (status 403){detail}"), wait)
        }
        413 => Failure::TooLarge(format!("status 413{detail}")),
        504 if shrinkable => Failure::TooLarge(format!("gateway timeout (status 504){detail}")),
        408 | 500..=599 => Failure::Transient(format!("status {status}{detail}")),
        400 => permanent("check the request parameters and the connector configuration"),
        401 => permanent("check the api key"),
        403 => permanent("check that the credentials are allowed to read this endpoint"),
        404 => permanent(
            "check the base url and account, and that the endpoint exists for this account",
        ),
        _ => permanent("the api rejected the request"),
    }
}

/// `Retry-After` as a wait from `now`: delta seconds or an HTTP date (a date in the past means no wait).
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now: SystemTime = now.into();
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What the API's headers say of its rate budget: the requests left and, as a wait from `now`, when the
/// window refills. APIs speak several dialects, all read here, and the tightest budget among those
/// present wins (HubSpot sends a ten-second and a per-second budget side by side):
/// - `X-RateLimit-Remaining` / `-Reset` (Virtuous, GitHub) and `X-Rate-Limit-Remaining` / `-Reset`
///   (Close's older headers, as tap-closeio reads them);
/// - `RateLimit-Remaining` / `RateLimit-Reset` and the combined `RateLimit: limit=N, remaining=N,
///   reset=N` of the IETF draft (Close today);
/// - `X-HubSpot-RateLimit-Remaining` with `-Interval-Milliseconds` (the window's length: the longest
///   wait until it refills), and `X-HubSpot-RateLimit-Secondly-Remaining` (one second).
///
/// A reset above 10^9 is read as epoch seconds, a smaller one as seconds from now (fractions allowed),
/// since APIs use both conventions. Unparseable values count as absent.
pub(crate) fn rate_limit_headers(
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> (Option<u64>, Option<Duration>) {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let number = |value: &str| {
        value
            .parse::<f64>()
            .ok()
            .filter(|n| *n >= 0.0 && n.is_finite())
    };
    let header = |name: &str| text(name).and_then(number);
    let reset_in = |r: f64| {
        if r > 1e9 {
            let now_secs = now.timestamp_millis() as f64 / 1000.0;
            Duration::from_secs_f64((r - now_secs).clamp(0.0, 1e9))
        } else {
            Duration::from_secs_f64(r)
        }
    };
    let combined = text("ratelimit").map(|value| {
        let field = |key: &str| {
            value.split([',', ';']).find_map(|part| {
                let (k, v) = part.split_once('=')?;
                (k.trim().eq_ignore_ascii_case(key)).then(|| number(v.trim()))?
            })
        };
        (field("remaining"), field("reset"))
    });
    let hubspot_interval =
        header("x-hubspot-ratelimit-interval-milliseconds").map(|ms| ms / 1000.0);
    let dialects = [
        (header("x-ratelimit-remaining"), header("x-ratelimit-reset")),
        (
            header("x-rate-limit-remaining"),
            header("x-rate-limit-reset"),
        ),
        (header("ratelimit-remaining"), header("ratelimit-reset")),
        combined.unwrap_or((None, None)),
        (header("x-hubspot-ratelimit-remaining"), hubspot_interval),
        (header("x-hubspot-ratelimit-secondly-remaining"), Some(1.0)),
    ];
    let tightest = dialects
        .iter()
        .filter_map(|&(remaining, reset)| Some((remaining?, reset)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match tightest {
        Some((remaining, reset)) => (Some(remaining as u64), reset.map(reset_in)),
        // A reset alone still says when the window refills.
        None => (None, header("x-ratelimit-reset").map(reset_in)),
    }
}

/// A short message from an error body: a JSON `message`/`error`/`Message` string, else the text itself,
/// truncated to 200 characters.
fn api_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let from_json = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            ["message", "Message", "error_description", "error", "detail"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned))
                // `{"error": {"message": …}}` (Google, Stripe) and `{"errors": [{"text"|"message"}]}`
                // (VAN, GraphQL).
                .or_else(|| {
                    v.pointer("/error/message")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .or_else(|| {
                    let first = v.get("errors")?.get(0)?;
                    ["text", "message"]
                        .iter()
                        .find_map(|k| first.get(k).and_then(|m| m.as_str()).map(str::to_owned))
                })
        });
    let message = from_json.unwrap_or_else(|| text.to_owned());
    Some(message.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(SystemTime::from(now) + Duration::from_secs(90));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &later)]), now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(SystemTime::from(now) - Duration::from_secs(90));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn rate_limit_reset_accepts_epoch_and_delta() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let epoch = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000030"),
        ]);
        assert_eq!(
            rate_limit_headers(&epoch, now),
            (Some(0), Some(Duration::from_secs(30)))
        );
        let delta = headers(&[("x-ratelimit-reset", "12")]);
        assert_eq!(
            rate_limit_headers(&delta, now),
            (None, Some(Duration::from_secs(12)))
        );
    }

    #[test]
    fn every_rate_limit_dialect_is_read_and_the_tightest_budget_wins() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let read = |pairs: &[(&'static str, &str)]| rate_limit_headers(&headers(pairs), now);
        let secs = Duration::from_secs_f64;
        // Close: the IETF draft's combined header, with a fractional reset.
        assert_eq!(
            read(&[("ratelimit", "limit=20, remaining=0, reset=0.5")]),
            (Some(0), Some(secs(0.5)))
        );
        assert_eq!(
            read(&[("ratelimit", "limit=240;remaining=17;reset=3")]),
            (Some(17), Some(secs(3.0)))
        );
        // The draft's separate headers and Close's older ones.
        assert_eq!(
            read(&[("ratelimit-remaining", "4"), ("ratelimit-reset", "9")]),
            (Some(4), Some(secs(9.0)))
        );
        assert_eq!(
            read(&[("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", "2")]),
            (Some(0), Some(secs(2.0)))
        );
        // HubSpot: the interval's length is the wait; the per-second budget, when tighter, wins.
        let hubspot = [
            ("x-hubspot-ratelimit-max", "100"),
            ("x-hubspot-ratelimit-remaining", "0"),
            ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
        ];
        assert_eq!(read(&hubspot), (Some(0), Some(secs(10.0))));
        let both = [
            ("x-hubspot-ratelimit-remaining", "42"),
            ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
            ("x-hubspot-ratelimit-secondly-remaining", "0"),
        ];
        assert_eq!(read(&both), (Some(0), Some(secs(1.0))));
        // Garbage and absurd values count as absent or are bounded; nothing panics.
        assert_eq!(
            read(&[
                ("ratelimit", "remaining=lots"),
                ("x-ratelimit-remaining", "-3")
            ]),
            (None, None)
        );
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1e300")
            ]),
            (Some(0), Some(secs(1e9)))
        );
        assert_eq!(read(&[]), (None, None));
    }

    #[test]
    fn statuses_map_to_actionable_verdicts() {
        let now = Utc::now();
        let h = HeaderMap::new();
        assert!(matches!(
            classify_failure(503, &h, b"", false, now),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify_failure(504, &h, b"", true, now),
            Failure::TooLarge(_)
        ));
        assert!(matches!(
            classify_failure(413, &h, b"", false, now),
            Failure::TooLarge(_)
        ));
        match classify_failure(403, &h, br#"{"message":"Forbidden scope"}"#, false, now) {
            Failure::Permanent { hint, detail } => {
                assert!(hint.contains("credentials"));
                assert_eq!(detail, ": Forbidden scope");
            }
            other => panic!("unexpected {other:?}"),
        }
        let secondary = headers(&[("retry-after", "60")]);
        assert_eq!(
            classify_failure(
                403,
                &secondary,
                br#"{"message":"You have exceeded a secondary rate limit."}"#,
                false,
                now
            ),
            Failure::RateLimited(
                "rate limited (status 403): You have exceeded a secondary rate limit.".into(),
                Some(Duration::from_secs(60))
            )
        );
        let spent = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "30")]);
        assert!(matches!(
            classify_failure(403, &spent, b"", false, now),
            Failure::RateLimited(_, Some(w)) if w == Duration::from_secs(30)
        ));
    }
}

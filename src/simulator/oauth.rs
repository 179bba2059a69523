//! The OAuth 2.0 refresh-token grant (RFC 6749 §6) as simulators serve it: a token endpoint's
//! bookkeeping, with access tokens that expire on the simulated clock.
//!
//! What is shared is the state machine — decode the form, check the client and the refresh token,
//! issue a deterministic access token valid for a lifetime, recognise it on later calls, count
//! refreshes — not the wire shapes: every provider words its token response and its errors its own
//! way, so a simulator turns [`IssuedToken`] and [`RefreshRejection`] into its provider's JSON.
//!
//! Access tokens are `prefix + hash(seed, n)` for the `n`-th refresh, so a rerun with the same seed
//! and the same calls hands out the same tokens. Expiry is judged against the instant a caller
//! passes in (the simulator's [`SimClock`](super::SimClock)), never the wall clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::rng::{self, tag};

/// Live access tokens kept at most; the oldest are forgotten first (they then read as unknown).
const MAX_LIVE_TOKENS: usize = 10_000;

/// The credentials a token endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// The one `refresh_token` granted to this client.
    pub refresh_token: String,
}

/// A successful refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The new access token.
    pub access_token: String,
    /// Its lifetime in whole seconds (`expires_in`).
    pub expires_in: u64,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Why a refresh was refused, in RFC 6749 §5.2 terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRejection {
    /// The body is not a form or a required parameter is missing (`invalid_request`).
    MissingParameter(&'static str),
    /// `grant_type` is not `refresh_token` (`unsupported_grant_type`); carries the value sent.
    UnsupportedGrantType(String),
    /// No client has this `client_id` (`invalid_client`).
    UnknownClient,
    /// The client exists but the secret is wrong (`invalid_client`).
    WrongClientSecret,
    /// The refresh token is not this client's (`invalid_grant`).
    InvalidGrant,
}

/// What an `Authorization` header amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <token>`.
    Malformed,
    /// A bearer token this endpoint never issued (or forgot).
    Unknown,
    /// A token this endpoint issued whose lifetime is over.
    Expired,
    /// A live token.
    Valid,
}

#[derive(Debug)]
struct TokenState {
    lifetime: Duration,
    live: HashMap<String, DateTime<Utc>>,
    order: VecDeque<String>,
    refreshes: u64,
}

/// A token endpoint's state, shared by a simulator's token route and its API routes.
#[derive(Debug)]
pub struct OAuthTokens {
    seed: u64,
    prefix: String,
    client: OAuthClient,
    state: Mutex<TokenState>,
}

impl OAuthTokens {
    /// An endpoint accepting `client`, handing out tokens `prefix…` valid for `lifetime`.
    pub fn new(
        seed: u64,
        prefix: impl Into<String>,
        client: OAuthClient,
        lifetime: Duration,
    ) -> Self {
        Self {
            seed,
            prefix: prefix.into(),
            client,
            state: Mutex::new(TokenState {
                lifetime,
                live: HashMap::new(),
                order: VecDeque::new(),
                refreshes: 0,
            }),
        }
    }

    /// Handles a form-encoded refresh request (`grant_type=refresh_token&client_id=…&client_secret=…
    /// &refresh_token=…`) arriving at `now`. Parameters are checked in the order providers do:
    /// grant type, client, secret, refresh token.
    pub fn refresh(
        &self,
        form: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, RefreshRejection> {
        let pairs = decode_form(form);
        let get = |name: &'static str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .ok_or(RefreshRejection::MissingParameter(name))
        };
        let grant_type = get("grant_type")?;
        if grant_type != "refresh_token" {
            return Err(RefreshRejection::UnsupportedGrantType(
                grant_type.to_owned(),
            ));
        }
        if get("client_id")? != self.client.client_id {
            return Err(RefreshRejection::UnknownClient);
        }
        if get("client_secret")? != self.client.client_secret {
            return Err(RefreshRejection::WrongClientSecret);
        }
        if get("refresh_token")? != self.client.refresh_token {
            return Err(RefreshRejection::InvalidGrant);
        }
        Ok(self.issue(now))
    }

    /// Issues a token without a request (tests that need one directly).
    pub fn issue(&self, now: DateTime<Utc>) -> IssuedToken {
        let mut state = self.lock();
        state.refreshes += 1;
        let n = state.refreshes;
        let access_token = format!(
            "{}{:016x}{:016x}",
            self.prefix,
            rng::hash(self.seed, &[tag(b"access-token"), n]),
            rng::hash(self.seed, &[tag(b"access-token-2"), n]),
        );
        let expires_at = now + TimeDelta::from_std(state.lifetime).unwrap_or(TimeDelta::MAX);
        if state.order.len() >= MAX_LIVE_TOKENS {
            if let Some(oldest) = state.order.pop_front() {
                state.live.remove(&oldest);
            }
        }
        state.order.push_back(access_token.clone());
        state.live.insert(access_token.clone(), expires_at);
        IssuedToken {
            access_token,
            expires_in: state.lifetime.as_secs(),
            expires_at,
        }
    }

    /// Judges an `Authorization` header value at `now`. The scheme word is case-insensitive.
    pub fn check(&self, authorization: Option<&str>, now: DateTime<Utc>) -> TokenStatus {
        let Some(header) = authorization else {
            return TokenStatus::Missing;
        };
        let token = match header.trim().split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                token.trim()
            }
            _ => return TokenStatus::Malformed,
        };
        match self.lock().live.get(token) {
            None => TokenStatus::Unknown,
            Some(expires_at) if now >= *expires_at => TokenStatus::Expired,
            Some(_) => TokenStatus::Valid,
        }
    }

    /// Successful refreshes so far.
    pub fn refreshes(&self) -> u64 {
        self.lock().refreshes
    }

    /// The lifetime of tokens issued from now on.
    pub fn lifetime(&self) -> Duration {
        self.lock().lifetime
    }

    /// Changes the lifetime of tokens issued from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.lock().lifetime = lifetime;
    }

    /// Makes every token issued so far expire at `now` (a provider-side revocation of sessions).
    pub fn expire_all(&self, now: DateTime<Utc>) {
        for expires_at in self.lock().live.values_mut() {
            *expires_at = (*expires_at).min(now);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into pairs in order (`+` is a space,
/// `%XX` a byte; malformed escapes are kept literally, invalid UTF-8 is replaced).
pub fn decode_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|byte| *byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(raw: &[u8]) -> String {
    let hex = |byte: u8| (byte as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    fn endpoint() -> OAuthTokens {
        let client = OAuthClient {
            client_id: "id.apps".into(),
            client_secret: "s3cret".into(),
            refresh_token: "1//rt".into(),
        };
        OAuthTokens::new(9, "ya29.", client, Duration::from_secs(60))
    }

    #[test]
    fn form_decoding_handles_escapes() {
        let pairs = decode_form(b"a=1&b=x+y%2Fz&c&d=%zz&e=%4");
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y/z".into()),
                ("c".into(), String::new()),
                ("d".into(), "%zz".into()),
                ("e".into(), "%4".into()),
            ]
        );
    }

    #[test]
    fn refresh_checks_in_order_and_tokens_expire_on_the_given_clock() {
        let tokens = endpoint();
        let ok = b"grant_type=refresh_token&client_id=id.apps&client_secret=s3cret&refresh_token=1%2F%2Frt";
        let issued = tokens.refresh(ok, t0()).unwrap();
        assert!(issued.access_token.starts_with("ya29."));
        assert_eq!(issued.expires_in, 60);
        let header = format!("Bearer {}", issued.access_token);
        assert_eq!(tokens.check(Some(&header), t0()), TokenStatus::Valid);
        let later = t0() + TimeDelta::seconds(60);
        assert_eq!(tokens.check(Some(&header), later), TokenStatus::Expired);
        assert_eq!(
            tokens.check(Some("Bearer nope"), t0()),
            TokenStatus::Unknown
        );
        assert_eq!(
            tokens.check(Some("Basic abc"), t0()),
            TokenStatus::Malformed
        );
        assert_eq!(tokens.check(None, t0()), TokenStatus::Missing);
        assert_eq!(tokens.refreshes(), 1);

        let reject = |body: &[u8]| tokens.refresh(body, t0()).unwrap_err();
        assert_eq!(
            reject(b"grant_type=password"),
            RefreshRejection::UnsupportedGrantType("password".into())
        );
        assert_eq!(
            reject(b"grant_type=refresh_token"),
            RefreshRejection::MissingParameter("client_id")
        );
        assert_eq!(
            reject(
                b"grant_type=refresh_token&client_id=x&client_secret=s3cret&refresh_token=1//rt"
            ),
            RefreshRejection::UnknownClient
        );
        assert_eq!(
            reject(
                b"grant_type=refresh_token&client_id=id.apps&client_secret=x&refresh_token=1//rt"
            ),
            RefreshRejection::WrongClientSecret
        );
        assert_eq!(
            reject(
                b"grant_type=refresh_token&client_id=id.apps&client_secret=s3cret&refresh_token=x"
            ),
            RefreshRejection::InvalidGrant
        );
        assert_eq!(tokens.refreshes(), 1, "refused refreshes are not counted");
    }

    #[test]
    fn tokens_are_deterministic_and_can_be_expired_early() {
        let (a, b) = (endpoint(), endpoint());
        let first = a.issue(t0());
        assert_eq!(first, b.issue(t0()));
        assert_ne!(first.access_token, a.issue(t0()).access_token);
        a.expire_all(t0());
        let header = format!("Bearer {}", first.access_token);
        assert_eq!(a.check(Some(&header), t0()), TokenStatus::Expired);
    }
}

//! Authentication schemes: bearer, basic, custom header sets, and OAuth2 refresh-token with a single
//! refresh in flight.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};

use super::clock::SharedClock;
use super::error::{Endpoint, HttpError};
use crate::sdk::Secret;

/// How requests authenticate. `Debug` never shows a secret (they are [`Secret`]s).
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name (not secret).
        username: String,
        /// Password.
        password: Secret,
    },
    /// A set of custom headers, e.g. OnGage's `X_USERNAME` / `X_PASSWORD` / `X_ACCOUNT_CODE`. Names are sent
    /// as given (underscores allowed); every value is treated as secret.
    Headers(Vec<(String, Secret)>),
    /// OAuth2 refresh-token flow; on a 401 the token is refreshed once and the request retried once.
    OAuth2(OAuth2),
    /// An API key as a query parameter (`?hapikey=…`, `?api_key=…`), for APIs that take no other
    /// kind. Errors never carry URLs with their query, so the key stays out of messages.
    Query {
        /// The parameter's name (not secret).
        name: String,
        /// The key.
        value: Secret,
    },
}

impl Auth {
    /// Builds a custom header set from `(name, value)` pairs.
    pub fn headers<N: Into<String>, V: Into<Secret>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Auth::Headers(
            pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

/// A header value marked sensitive so HTTP tooling never logs it.
pub(crate) fn sensitive_value(value: &str, endpoint: &Endpoint) -> Result<HeaderValue, HttpError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| HttpError::InvalidRequest {
        endpoint: endpoint.clone(),
        message: "a credential contains characters not allowed in an http header".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A header name, accepting underscores as some APIs require.
pub(crate) fn header_name(name: &str, endpoint: &Endpoint) -> Result<HeaderName, HttpError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpError::InvalidRequest {
        endpoint: endpoint.clone(),
        message: format!("{name:?} is not a valid http header name"),
    })
}

/// OAuth2 client settings for the refresh-token grant.
#[derive(Debug, Clone)]
pub struct OAuth2Config {
    /// Absolute token endpoint URL.
    pub token_url: String,
    /// Client id (not secret).
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Refresh token; replaced in memory if the server rotates it.
    pub refresh_token: Secret,
    /// Refresh this long before the access token expires.
    pub expiry_margin: Duration,
}

/// What a refused refresh means for the user, from the token endpoint's error body (RFC 6749 §5.2:
/// `{"error": "invalid_grant", "error_description": "..."}`): the hint, and `": <error> (<description>)"`
/// as the detail (empty when the body says nothing).
fn refusal(body: &[u8]) -> (String, String) {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed["error"].as_str().unwrap_or_default();
    let description = parsed["error_description"].as_str().unwrap_or_default();
    let hint = match code {
        "invalid_grant" => {
            "the refresh token was refused: reauthorize the connector to get a new one (it was revoked, expired or issued to another client)"
        }
        "invalid_client" | "unauthorized_client" => {
            "the oauth client was refused: check the client id and client secret"
        }
        _ => "check the oauth client id, client secret and refresh token (reauthorize the connector)",
    };
    let detail = match (code, description) {
        ("", _) => String::new(),
        (code, "") => format!(": {code}"),
        (code, description) => {
            let description: String = description.chars().take(200).collect();
            format!(": {code} ({description})")
        }
    };
    (hint.to_owned(), detail)
}

/// A shared OAuth2 token source. Cloning shares the token; concurrent callers that need a refresh wait for
/// the one refresh in flight instead of starting their own.
#[derive(Clone)]
pub struct OAuth2 {
    inner: Arc<OAuthInner>,
}

struct OAuthInner {
    config: OAuth2Config,
    state: tokio::sync::Mutex<TokenState>,
    refreshes: AtomicU64,
}

struct TokenState {
    access: Option<Secret>,
    expires_at: Option<Instant>,
    refresh_token: Secret,
    generation: u64,
}

impl fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.inner.config.token_url)
            .field("client_id", &self.inner.config.client_id)
            .field("refreshes", &self.refresh_count())
            .finish_non_exhaustive()
    }
}

/// A valid access token and the generation it belongs to (used to invalidate exactly that token).
pub(crate) struct Token {
    pub(crate) value: Secret,
    pub(crate) generation: u64,
}

impl OAuth2 {
    /// A token source that refreshes on first use.
    pub fn new(config: OAuth2Config) -> Self {
        let refresh_token = config.refresh_token.clone();
        Self {
            inner: Arc::new(OAuthInner {
                config,
                state: tokio::sync::Mutex::new(TokenState {
                    access: None,
                    expires_at: None,
                    refresh_token,
                    generation: 0,
                }),
                refreshes: AtomicU64::new(0),
            }),
        }
    }

    /// How many refreshes were performed (for tests and diagnostics).
    pub fn refresh_count(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    /// A valid token, refreshing first if there is none or it is about to expire. The state lock is held
    /// across the refresh, which is what makes the refresh single-flight.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        clock: &SharedClock,
        timeout: Duration,
    ) -> Result<Token, HttpError> {
        let mut state = self.inner.state.lock().await;
        let fresh = match (&state.access, state.expires_at) {
            (Some(_), Some(exp)) => clock.now() + self.inner.config.expiry_margin < exp,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !fresh {
            self.refresh(&mut state, http, clock, timeout).await?;
        }
        match &state.access {
            Some(value) => Ok(Token {
                value: value.clone(),
                generation: state.generation,
            }),
            None => Err(self.refresh_error("the token response had no access token".into(), 0)),
        }
    }

    /// Drops the token of `generation` after a 401, unless another caller already replaced it.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.inner.state.lock().await;
        if state.generation == generation {
            state.access = None;
        }
    }

    async fn refresh(
        &self,
        state: &mut TokenState,
        http: &reqwest::Client,
        clock: &SharedClock,
        timeout: Duration,
    ) -> Result<(), HttpError> {
        let cfg = &self.inner.config;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", state.refresh_token.expose()),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.expose()),
        ];
        self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
        let response = http
            .post(&cfg.token_url)
            .form(&form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.transient(super::error::describe_reqwest_error(e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transient(super::error::describe_reqwest_error(e)))?;
        if status >= 500 || status == 429 {
            return Err(self.transient(format!("returned status {status}")));
        }
        if !(200..300).contains(&status) {
            let (hint, detail) = refusal(&body);
            let mut error = self.refresh_error(hint, status);
            if let HttpError::Permanent { detail: d, .. } = &mut error {
                *d = detail;
            }
            return Err(error);
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<u64>,
            refresh_token: Option<String>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| HttpError::Decode {
                endpoint: self.endpoint(),
                message: e.to_string(),
            })?;
        state.access = Some(Secret::new(parsed.access_token));
        state.expires_at = parsed
            .expires_in
            .map(|s| clock.now() + Duration::from_secs(s));
        if let Some(rotated) = parsed.refresh_token {
            state.refresh_token = Secret::new(rotated);
        }
        state.generation += 1;
        Ok(())
    }

    fn endpoint(&self) -> Endpoint {
        super::error::endpoint_of("POST", &self.inner.config.token_url)
    }

    /// A retryable refresh failure; `last` names the token endpoint, since it surfaces as the cause
    /// of whichever API request needed the token.
    fn transient(&self, what: String) -> HttpError {
        let endpoint = self.endpoint();
        HttpError::Transient {
            last: format!("token endpoint {endpoint}: {what}"),
            endpoint,
            attempts: 1,
        }
    }

    fn refresh_error(&self, hint: String, status: u16) -> HttpError {
        HttpError::Permanent {
            endpoint: self.endpoint(),
            status,
            hint,
            detail: String::new(),
        }
    }
}

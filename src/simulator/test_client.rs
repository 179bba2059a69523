//! A plain-HTTP `reqwest` client for simulator tests.

/// A client for talking to simulators. reqwest is built without a default TLS provider and
/// panics when building a client with none installed, even for plain HTTP, so install `ring`.
pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("reqwest client builds")
}

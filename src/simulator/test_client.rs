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

/// `POST {base}/__sim/advance` with `{"generations": n}`, as an external process drives a
/// simulator; the summary it answers.
pub(crate) async fn advance_over_http(base: &str, generations: u64) -> serde_json::Value {
    client()
        .post(format!("{base}/__sim/advance"))
        .json(&serde_json::json!({ "generations": generations }))
        .send()
        .await
        .expect("the control endpoint answers")
        .json()
        .await
        .expect("the advance summary is JSON")
}

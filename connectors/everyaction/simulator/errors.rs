//! The standard error body of the VAN API, `{"errors":[{code,text,properties,referenceCode,hint,
//! resourceUrl}]}`, and the JSON responses every handler writes: a leaf module the routes, list and job
//! handlers share.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// One error of the standard body `{"errors":[{code,text,properties,referenceCode,hint,
/// resourceUrl}]}` (optional members left out when empty, as in the docs' examples), with the
/// status it is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    error: Box<ErrorObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorObject {
    code: String,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_url: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, text: impl Into<String>) -> Self {
        Self {
            status,
            error: Box::new(ErrorObject {
                code: code.to_owned(),
                text: text.into(),
                properties: None,
                reference_code: None,
                hint: None,
                resource_url: None,
            }),
        }
    }

    /// A 400 `INVALID_PARAMETER`.
    pub(crate) fn invalid(text: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", text)
    }

    /// Names the offending request properties.
    pub(crate) fn with_properties(mut self, properties: impl IntoIterator<Item = String>) -> Self {
        self.error.properties = Some(properties.into_iter().collect());
        self
    }

    pub(crate) fn with_reference(mut self, reference: String) -> Self {
        self.error.reference_code = Some(reference);
        self
    }

    pub(crate) fn not_found(text: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", text)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": [self.error] });
        json_text(self.status, body.to_string())
    }
}

pub(crate) fn json_text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) fn json_value(status: StatusCode, body: &Value) -> Response {
    json_text(status, body.to_string())
}

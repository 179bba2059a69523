//! Bounded response bodies: buffered reads that fail past a byte limit, and streamed downloads that
//! count bytes as they pass.

use std::fmt;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use tokio::sync::OwnedSemaphorePermit;

use super::error::{Endpoint, HttpError};

/// Why a bounded read stopped.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit arrived (or was announced).
    OverLimit(u64),
    /// The transport failed mid-body.
    Transport(reqwest::Error),
}

/// Reads the whole body, failing as soon as it would exceed `limit` bytes; memory never exceeds the limit.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(BodyError::OverLimit(limit));
    }
    let capacity = response.content_length().unwrap_or(8 * 1024).min(limit);
    let mut buf = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::OverLimit(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A successful response whose body is streamed, e.g. an export file. It holds the connector's
/// concurrency slot until dropped, and yields an error once more than the download limit has arrived.
/// The body of a shrinkable request that runs past its deadline yields [`HttpError::TooLarge`], as a
/// timeout before the headers would: the caller asks for less.
pub struct Download {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    body: BoxStream<'static, Result<Bytes, HttpError>>,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Download {
    pub(crate) fn new(
        response: reqwest::Response,
        endpoint: Endpoint,
        limit: u64,
        permit: Option<OwnedSemaphorePermit>,
        shrinkable: bool,
    ) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let state = (response.bytes_stream().boxed(), 0u64, permit, false);
        let body = futures::stream::unfold(state, move |(mut inner, seen, permit, done)| {
            let endpoint = endpoint.clone();
            async move {
                if done {
                    return None;
                }
                match inner.next().await? {
                    Ok(chunk) => {
                        let seen = seen + chunk.len() as u64;
                        if seen > limit {
                            let err = HttpError::TooLarge {
                                endpoint,
                                reason: format!("download exceeds the {limit}-byte limit"),
                            };
                            return Some((Err(err), (inner, seen, permit, true)));
                        }
                        Some((Ok(chunk), (inner, seen, permit, false)))
                    }
                    Err(e) => {
                        let timed_out = e.is_timeout();
                        let why = super::error::describe_reqwest_error(e);
                        let err = if timed_out && shrinkable {
                            HttpError::TooLarge {
                                endpoint,
                                reason: format!("the download timed out after {seen} bytes: {why}"),
                            }
                        } else {
                            HttpError::Transient {
                                endpoint,
                                attempts: 1,
                                last: format!("download interrupted: {why}"),
                            }
                        };
                        Some((Err(err), (inner, seen, permit, true)))
                    }
                }
            }
        })
        .boxed();
        Self {
            status,
            headers,
            body,
        }
    }

    /// Builds a download from any byte stream (for tests and APIs that hand over data another way).
    pub fn from_stream(
        status: u16,
        headers: HeaderMap,
        body: BoxStream<'static, Result<Bytes, HttpError>>,
    ) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    /// The body as a stream of chunks; ends after the first error.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, HttpError>> {
        self.body
    }
}

//! JSON answers ([`Json`] as a response): serialized into a buffer of the worker thread, then
//! copied out once.
//!
//! `axum::Json` serializes into a 128-byte buffer that doubles as it fills: a page of orders
//! (6 KB) was six reallocations and their copies, a visible share of the list benchmarks.
//! Here each worker thread keeps one buffer, grown once to the largest answer it made (and
//! given back when an outsized answer made it too big), and the answer is one exact copy.

use std::cell::RefCell;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::extract::Json;

/// What a buffer starts at.
const INITIAL: usize = 16 * 1024;
/// A buffer grown past this by one answer is not kept.
const KEPT: usize = 1024 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(INITIAL));
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let body = BUFFER.with_borrow_mut(|buf| {
            buf.clear();
            let written =
                serde_json::to_writer(&mut *buf, &self.0).map(|()| Bytes::copy_from_slice(buf));
            if buf.capacity() > KEPT {
                *buf = Vec::with_capacity(INITIAL);
            }
            written
        });
        match body {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the answer could not be encoded",
            )
            .internal(format!("JSON encoding failed: {e}"))
            .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use std::collections::BTreeMap;

    async fn body_of(r: Response) -> (Option<String>, Vec<u8>) {
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        (
            ct,
            to_bytes(r.into_body(), usize::MAX).await.unwrap().to_vec(),
        )
    }

    #[tokio::test]
    async fn answers_are_exact_one_after_another_on_one_thread() {
        let big: Vec<String> = (0..50_000).map(|i| format!("item-{i}")).collect();
        let (ct, bytes) = body_of(Json(&big).into_response()).await;
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(bytes, serde_json::to_vec(&big).unwrap());
        // A small answer after an outsized one holds nothing of it.
        let (_, small) = body_of(Json(serde_json::json!({"a": 1})).into_response()).await;
        assert_eq!(small, br#"{"a":1}"#);
        assert!(BUFFER.with_borrow(|b| b.capacity()) <= KEPT);
    }

    #[tokio::test]
    async fn what_cannot_be_encoded_is_a_500_problem() {
        // A map with non-string keys has no JSON form.
        let map: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let r = Json(map).into_response();
        assert_eq!(r.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let (ct, _) = body_of(r).await;
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
    }
}

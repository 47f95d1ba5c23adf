//! The web console, served by the HTTP listener from the binary (no assets from the
//! internet): one page (`index.html`, plain HTML and JavaScript) reading the JSON API
//! (`api.rs`), and the message browser behind it (`records.rs`). Read-only.

mod api;
mod records;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::broker::Broker;

const INDEX_HTML: &str = include_str!("index.html");

/// The console's routes: `/` and `/v1/...`.
pub fn routes() -> Router<Arc<Broker>> {
    Router::new()
        .route("/", get(index))
        // No icon: answered empty, so browsers log no failed load.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/v1/cluster", get(api::cluster))
        .route("/v1/topics", get(api::topics))
        .route("/v1/topics/{topic}", get(api::topic))
        .route("/v1/topics/{topic}/records", get(api::records))
        .route("/v1/groups", get(api::groups))
        .route("/v1/groups/{group}", get(api::group))
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        INDEX_HTML,
    )
}

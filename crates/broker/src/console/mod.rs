//! The web console, served by the HTTP listener from the binary (no assets from the
//! internet): one page (`index.html`, plain HTML and JavaScript) reading the JSON API
//! (`api.rs`), the message browser behind it (`records.rs`), and with
//! `http.console.admin.enable=true` the admin actions (`admin.rs`): create and delete topics,
//! reset a group's offsets.

mod admin;
mod api;
mod records;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use crate::broker::Broker;

const INDEX_HTML: &str = include_str!("index.html");

/// `http.console.admin.enable` (default false).
pub fn admin_enabled(broker: &Broker) -> bool {
    broker
        .config
        .value("http.console.admin.enable")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The console's routes: `/` and `/v1/...`, with the admin actions when `admin` is set.
pub fn routes(admin: bool) -> Router<Arc<Broker>> {
    let router = Router::new()
        .route("/", get(index))
        // No icon: answered empty, so browsers log no failed load.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/v1/cluster", get(api::cluster))
        .route("/v1/topics", get(api::topics))
        .route("/v1/topics/{topic}", get(api::topic))
        .route("/v1/topics/{topic}/records", get(api::records))
        .route("/v1/groups", get(api::groups))
        .route("/v1/groups/{group}", get(api::group));
    if !admin {
        return router;
    }
    router
        .route("/v1/topics", post(admin::create_topic))
        .route("/v1/topics/{topic}", delete(admin::delete_topic))
        .route(
            "/v1/groups/{group}/reset-offsets",
            post(admin::reset_offsets),
        )
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

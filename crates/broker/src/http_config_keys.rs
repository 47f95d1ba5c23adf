//! The HTTP listener's part of the configuration registry (`config_keys.rs` holds the rest and
//! the types): where `/metrics` and the console are served, and whether the console is.

use crate::config_keys::Valid::Any;
use crate::config_keys::{BOOLEAN, ConfigKey, STRING, key};

pub const HTTP_KEYS: &[ConfigKey] = &[
    key(
        "http.listeners",
        STRING,
        None,
        Any,
        "The HTTP listener serving /metrics and the console: http://HOST:PORT, or empty for none. Unset, http://127.0.0.1:9644 is served when that port is free (skipped with a warning when taken); a listener set here must bind.",
    ),
    key(
        "http.console.enable",
        BOOLEAN,
        None,
        Any,
        "Serve the web console and its JSON API on the HTTP listener. Unset: served unless an authorizer is configured (the console answers without authentication and would show every topic's records).",
    ),
    key(
        "http.console.admin.enable",
        BOOLEAN,
        Some("false"),
        Any,
        "Add the console's admin actions (create and delete topics, reset a group's offsets; POST/DELETE under /v1). They run as User:ANONYMOUS through the broker's own request handlers, without a login: enable only where the HTTP listener is reachable by operators alone.",
    ),
];

//! The broker's one clock: milliseconds since the Unix epoch, made once in `Broker::open` and
//! handed to every part that reads the time (partitions, the group coordinator service, the
//! cluster tasks, the handlers), so a test can drive the broker's rules with its own clock.
//! The partition logs take the same type (`storage::Clock`) for `segment.ms` and retention.

use std::sync::Arc;

pub use storage::Clock;

/// The operating system's wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

//! The broker's wall clock: milliseconds since the Unix epoch, made once in `Broker::open` and
//! handed to every part that reads the time (partitions, the group coordinator service, the
//! cluster tasks, the handlers), so a test can drive the broker's rules with its own clock.
//! The partition logs take the same type (`storage::Clock`) for `segment.ms` and retention.
//! Beside it, [`monotonic_ms`] for the lease and the replication rules (follower lag, ISR
//! proposals), which must not follow the wall clock's jumps, and
//! [`steady_wall_ms`] for the group coordinator, whose timers Kafka runs on a monotonic clock.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub use storage::Clock;

/// The operating system's wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

/// Milliseconds on a monotonic clock, counted from this process's first call, for rules that
/// measure durations where Kafka uses `nanoTime`: the controller-contact lease
/// (`cluster/self_fencing.rs`). A jump of the wall clock must not end the lease early or make
/// it outlive the controller's session. Never persisted or compared across processes.
pub fn monotonic_ms() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Wall-clock milliseconds that never jump: the wall clock read once (at the first call), then
/// advanced by the monotonic clock. For the group coordinator, which keeps member sessions and
/// rebalance timeouts (Kafka times them with a monotonic timer) and also writes timestamps
/// (commit times, group state times, wall-clock values in Kafka): a step of the system clock
/// (NTP, an operator's `date -s`) neither expires every session at once nor stretches them,
/// at the price of timestamps that differ from the wall clock by the steps made since the
/// broker started.
pub fn steady_wall_ms() -> i64 {
    static ANCHOR: OnceLock<(i64, Instant)> = OnceLock::new();
    let (wall, start) = *ANCHOR.get_or_init(|| (system_clock()(), Instant::now()));
    wall.saturating_add(i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX))
}

//! The cleaner's I/O throttle (`log.cleaner.io.max.bytes.per.second`) and abort flag.

use std::time::{Duration, Instant};

/// `log.cleaner.io.max.bytes.per.second` for one cleaning: sleeps when the bytes read and
/// written since the start run ahead of the rate. Also carries the abort flag.
pub(crate) struct Throttle {
    rate: Option<u64>,
    started: Instant,
    bytes: u64,
    abort: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Throttle {
    pub fn new(
        rate: Option<u64>,
        abort: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Self {
        Self {
            rate: rate.filter(|&r| r > 0),
            started: Instant::now(),
            bytes: 0,
            abort,
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort
            .as_ref()
            .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn account(&mut self, bytes: u64) {
        let Some(rate) = self.rate else { return };
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let elapsed = self.started.elapsed();
        // Sleep in short steps so an abort is seen promptly.
        if due > elapsed && !self.aborted() {
            std::thread::sleep((due - elapsed).min(Duration::from_millis(100)));
        }
    }
}

//! `--throughput`: holding `runnel bench produce` to about N records a second, as
//! kafka-producer-perf-test's `ThroughputThrottler` does (-1: as fast as the broker takes them).
//! Pure: it says how long to wait, the caller waits (and keeps reading answers meanwhile).
//!
//! The schedule is absolute (record k may leave at k / N seconds after the start), so a pause
//! (a slow answer, a busy machine) is caught up afterwards and the average holds over the run.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(super) struct ThroughputThrottler {
    /// `None`: unlimited.
    records_per_sec: Option<f64>,
}

impl ThroughputThrottler {
    /// `records_per_sec` <= 0 (Kafka's tools take -1) is unlimited.
    pub(super) fn new(records_per_sec: f64) -> ThroughputThrottler {
        ThroughputThrottler {
            records_per_sec: (records_per_sec > 0.0 && records_per_sec.is_finite())
                .then_some(records_per_sec),
        }
    }

    /// How long to wait, `elapsed` after the start with `records_sent` records sent, before
    /// sending more: zero when the run is at or behind its schedule.
    pub(super) fn delay(&self, elapsed: Duration, records_sent: u64) -> Duration {
        let Some(rate) = self.records_per_sec else {
            return Duration::ZERO;
        };
        // The schedule is capped at a year: a slow rate and a huge count stay representable.
        let due_secs = (records_sent as f64 / rate).min(365.0 * 86_400.0);
        Duration::from_secs_f64(due_secs).saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        for rate in [-1.0, 0.0, f64::NAN, f64::INFINITY] {
            let throttler = ThroughputThrottler::new(rate);
            assert_eq!(throttler.delay(Duration::ZERO, u64::MAX), Duration::ZERO);
        }
    }

    #[test]
    fn a_run_ahead_of_its_schedule_waits_until_it_is_due() {
        let throttler = ThroughputThrottler::new(1000.0);
        // The first records may go at once.
        assert_eq!(throttler.delay(Duration::ZERO, 0), Duration::ZERO);
        // 500 records sent after 250 ms: the 501st is due at 500 ms.
        assert_eq!(
            throttler.delay(Duration::from_millis(250), 500),
            Duration::from_millis(250)
        );
        // Behind schedule (a pause): no wait, so the run catches up.
        assert_eq!(
            throttler.delay(Duration::from_secs(2), 1500),
            Duration::ZERO
        );
    }

    #[test]
    fn a_slow_rate_spaces_single_records() {
        let throttler = ThroughputThrottler::new(0.5);
        assert_eq!(throttler.delay(Duration::ZERO, 1), Duration::from_secs(2));
        assert_eq!(
            throttler.delay(Duration::from_secs(3), 2),
            Duration::from_secs(1)
        );
    }
}

//! Replication throttles (KIP-73), as Kafka's `ReplicationQuotaManager`: the bytes a reassignment
//! moves between brokers, bounded so that it does not starve clients.
//!
//! - Rates are dynamic broker configs in the metadata image: `leader.replication.throttled.rate`
//!   (bytes/s this broker sends to throttled followers) and `follower.replication.throttled.rate`
//!   (bytes/s it fetches for throttled partitions), per broker id, else the cluster-wide value,
//!   else unbounded. `kafka-reassign-partitions --throttle` sets both on every broker concerned
//!   and `--verify` deletes them (with `replica.alter.log.dirs.io.max.bytes.per.second`, which is
//!   accepted and stored; there is one log directory per node, so no intra-broker move uses it).
//! - Which partitions: the topic configs `leader.replication.throttled.replicas` and
//!   `follower.replication.throttled.replicas`, `*` or `partition:broker` pairs; a broker applies
//!   the pairs that name itself.
//! - The leader answers a throttled partition's fetch with no records while its leader rate is
//!   over the bound and the follower is not in the ISR; the follower leaves a throttled partition
//!   out of its fetch while its follower rate is over the bound and it is behind the leader's high
//!   watermark. Bytes of every throttled partition count, in-sync or not, as in Kafka, and only
//!   out-of-sync replicas are held back (so a throttle never pushes a member out of the ISR).
//! - Rates are measured like Kafka's: 11 samples of 1 s (`replication.quota.window.num`,
//!   `replication.quota.window.size.seconds`), on the monotonic clock.

use std::sync::Mutex;

use security::quota::{QuotaWindow, Rate};

pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
pub const ALTER_LOG_DIRS_RATE: &str = "replica.alter.log.dirs.io.max.bytes.per.second";
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// The broker keys that change dynamically (IncrementalAlterConfigs on a broker resource).
pub const DYNAMIC_BROKER_KEYS: &[&str] = &[LEADER_RATE, FOLLOWER_RATE, ALTER_LOG_DIRS_RATE];

const WINDOW: QuotaWindow = QuotaWindow {
    samples: 11,
    window_ms: 1000,
};

/// One direction's measured rate.
#[derive(Default)]
pub struct ReplicationQuota {
    rate: Mutex<Option<Rate>>,
}

impl ReplicationQuota {
    /// Whether the measured rate is over `bound` bytes/s (never without a bound).
    pub fn exceeded(&self, bound: Option<u64>, now_ms: i64) -> bool {
        let Some(bound) = bound else {
            return false;
        };
        let now_ms = u64::try_from(now_ms).unwrap_or(0);
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        rate.as_mut()
            .is_some_and(|rate| rate.measure(now_ms) > bound as f64)
    }

    /// Counts `bytes` of a throttled partition.
    pub fn record(&self, bytes: u64, now_ms: i64) {
        if bytes == 0 {
            return;
        }
        let now_ms = u64::try_from(now_ms).unwrap_or(0);
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        rate.get_or_insert_with(|| Rate::new(WINDOW, now_ms))
            .record(bytes as f64, now_ms);
    }
}

/// The leader's and the follower's quota of one broker.
#[derive(Default)]
pub struct ReplicationQuotas {
    pub leader: ReplicationQuota,
    pub follower: ReplicationQuota,
}

/// A rate setting's bound: `None` when unset or unparsable (unbounded; values are checked when
/// they are set).
pub fn bound(value: Option<&str>) -> Option<u64> {
    value.and_then(|v| v.trim().parse::<u64>().ok())
}

/// Whether a throttled-replicas value lists `partition` for broker `local`.
pub fn lists(value: &str, partition: i32, local: i32) -> bool {
    let value = value.trim();
    if value == "*" {
        return true;
    }
    value
        .split(',')
        .filter_map(|entry| entry.split_once(':'))
        .any(|(p, b)| {
            p.trim().parse::<i32>() == Ok(partition) && b.trim().parse::<i32>() == Ok(local)
        })
}

/// Whether the topic config `key` (`leader.` or `follower.replication.throttled.replicas`) of
/// `partition` throttles it on broker `local`.
pub fn throttles(partition: &crate::partitions::Partition, key: &str, local: i32) -> bool {
    partition
        .config()
        .overrides
        .get(key)
        .is_some_and(|list| lists(list, partition.topic_partition.partition, local))
}

/// Checks a throttled-replicas value: empty, `*`, or `partition:broker` pairs of non-negative
/// integers, comma-separated (Kafka's `ThrottledReplicaListValidator`).
pub fn check_replicas_list(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() || value == "*" {
        return Ok(());
    }
    for entry in value.split(',') {
        let valid = entry.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
        });
        if !valid {
            return Err(format!(
                "{entry:?} is not [partitionId]:[brokerId]; the list must be '*' or such pairs, \
                 comma-separated"
            ));
        }
    }
    Ok(())
}

/// Checks a dynamic broker key's value: a long of at least 0.
pub fn check_rate(value: &str) -> Result<(), String> {
    match value.trim().parse::<i64>() {
        Ok(v) if v >= 0 => Ok(()),
        _ => Err(format!("{value:?} is not a long of at least 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_throttles_the_pairs_that_name_this_broker() {
        assert!(lists("*", 3, 1));
        assert!(lists("0:1,1:2", 1, 2));
        assert!(lists(" 0:1 , 1:2 ", 0, 1));
        assert!(!lists("0:1,1:2", 0, 2));
        assert!(!lists("", 0, 1));
        assert!(!lists("junk", 0, 1));
    }

    #[test]
    fn lists_and_rates_are_checked_as_kafka_does() {
        for ok in ["", "*", "0:1", "0:1,1:2, 2:3"] {
            assert!(check_replicas_list(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "0:x", "a:1", "-1:2", "0:1,"] {
            assert!(check_replicas_list(bad).is_err(), "{bad}");
        }
        assert!(check_rate("0").is_ok() && check_rate("1048576").is_ok());
        assert!(check_rate("-1").is_err() && check_rate("fast").is_err());
    }

    #[test]
    fn a_quota_is_exceeded_only_over_its_bound() {
        let quota = ReplicationQuota::default();
        assert!(!quota.exceeded(Some(100), 1_000), "nothing recorded yet");
        quota.record(5_000, 1_000);
        // 5,000 bytes over the 10 s minimum window: 500 bytes/s.
        assert!(quota.exceeded(Some(100), 1_500));
        assert!(!quota.exceeded(Some(1_000), 1_500));
        assert!(!quota.exceeded(None, 1_500));
    }
}

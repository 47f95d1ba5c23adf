//! Whether this broker is in contact with the controller, and what its leaders do when not.
//!
//! In contact means: registered, a heartbeat answered "not fenced" within
//! `broker.session.timeout.ms`, and the metadata log applied up to the controller's offset in
//! that answer (KIP-631's `IsCaughtUp`, decided on the broker's side). Out of contact, a leader
//! whose ISR has a member lagging past `replica.lag.time.max.ms` answers client requests
//! (produce, fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords) with
//! NOT_LEADER_OR_FOLLOWER, which clients retry after refreshing metadata.
//!
//! Why: a leader cut off from the controller keeps its last image, and with it leaderships the
//! controller may have given to others (whose followers then stop fetching from it). Serving
//! them appends writes that can never commit, answers idempotent producers from a log the new
//! leader has moved past (librdkafka treats the OUT_OF_ORDER_SEQUENCE_NUMBER it gets as fatal:
//! found by the fault harness, an isolated leader healed just as the two other nodes died) and
//! answers consumers' OffsetForLeaderEpoch from stale epochs (a false truncation: they read
//! again). Refusing costs nothing: with a lagging ISR member and no controller to shrink the
//! ISR, the high watermark cannot move anyway. A leader whose followers keep fetching goes on
//! serving while no controller answers, as Kafka's brokers do. Kafka itself has no such rule
//! (its brokers keep their last metadata and serve it); KIP-631 describes brokers fencing
//! themselves when they cannot reach the controller.
//!
//! Caught up counts the image applied to the partitions (`metadata_sync.rs`), not the one the
//! metadata log has produced: between the two, the partitions still hold older roles.
//!
//! At start the broker serves no client request until it has been in contact once
//! ([`ServingState::wait_caught_up_once`]), as Kafka opens its listeners only after catching up:
//! a node back with an empty or stale metadata log would otherwise answer with unknown topics
//! (clients then count 0 partitions) or leaderships it lost while it was down.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use controller::HeartbeatReply;
use tokio::sync::watch;

use super::Cluster;
use crate::broker::Broker;

/// How often the rule is evaluated besides on every new image.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What the broker last heard from the controller, and whether it serves.
pub struct ServingState {
    /// When a heartbeat was last answered "not fenced" (ms since the epoch); -1 never.
    last_contact_ms: AtomicI64,
    /// The controller's metadata offset in that answer.
    required_offset: AtomicU64,
    /// The offset of the last image applied to the partitions (`metadata_sync.rs`): serving
    /// waits for the partitions' roles, not only for the image, to reach `required_offset`.
    applied_offset: AtomicU64,
    /// Turns true the first time the broker serves, and stays so.
    caught_up_once: watch::Sender<bool>,
}

impl Default for ServingState {
    fn default() -> Self {
        Self {
            last_contact_ms: AtomicI64::new(-1),
            required_offset: AtomicU64::new(u64::MAX),
            applied_offset: AtomicU64::new(0),
            caught_up_once: watch::Sender::new(false),
        }
    }
}

impl ServingState {
    /// Takes a heartbeat answer: contact, and the offset to catch up to, unless still fenced.
    pub fn record_heartbeat(&self, reply: &HeartbeatReply, now_ms: i64) {
        if reply.fenced {
            return;
        }
        self.required_offset
            .store(reply.metadata_offset, Ordering::Release);
        self.last_contact_ms.store(now_ms, Ordering::Release);
    }

    /// Records that the partitions now follow the image at `offset`.
    pub fn record_applied(&self, offset: u64) {
        self.applied_offset.store(offset, Ordering::Release);
    }

    /// The offset of the image last applied to the partitions.
    pub fn applied_offset(&self) -> u64 {
        self.applied_offset.load(Ordering::Acquire)
    }

    /// Whether an image at `offset` reaches what the controller last said it holds (never
    /// before the first answered heartbeat).
    pub fn is_caught_up(&self, offset: u64) -> bool {
        offset >= self.required_offset.load(Ordering::Acquire)
    }

    /// The rule: registered, in contact within the session timeout, caught up.
    pub fn serves(
        &self,
        broker_epoch: i64,
        image_offset: u64,
        session_timeout_ms: i64,
        now_ms: i64,
    ) -> bool {
        let contact = self.last_contact_ms.load(Ordering::Acquire);
        broker_epoch >= 0
            && contact >= 0
            && now_ms - contact <= session_timeout_ms
            && image_offset >= self.required_offset.load(Ordering::Acquire)
    }

    /// Waits until the broker has served once, or `shutdown` turns true.
    pub async fn wait_caught_up_once(&self, shutdown: &mut watch::Receiver<bool>) {
        let mut caught_up = self.caught_up_once.subscribe();
        tokio::select! {
            _ = caught_up.wait_for(|c| *c) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
    }
}

/// Applies the rule to the broker's leaderships after every image and every
/// [`CHECK_INTERVAL`], until the shutdown begins.
pub async fn run(broker: Arc<Broker>, cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    broker
        .replicas
        .set_replica_lag_time_max_ms(cluster.config.replica_lag_time_max_ms);
    let mut images = cluster.subscribe();
    loop {
        let serves = cluster.serving.serves(
            cluster.broker_epoch(),
            cluster.serving.applied_offset(),
            cluster.config.broker_session_timeout_ms,
            crate::clock::monotonic_ms(),
        );
        let was_lost = broker.replicas.set_controller_contact_lost(!serves);
        if was_lost == serves {
            if serves {
                tracing::info!("caught up with the metadata and in contact with the controller");
            } else {
                tracing::warn!(
                    "out of contact with the controller or behind its metadata: leaders with \
                     a lagging ISR member stop serving clients"
                );
            }
        }
        if serves {
            cluster.serving.caught_up_once.send_if_modified(|c| {
                let first = !*c;
                *c = true;
                first
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_INTERVAL) => {}
            changed = images.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(fenced: bool, metadata_offset: u64) -> HeartbeatReply {
        HeartbeatReply {
            fenced,
            in_controlled_shutdown: false,
            metadata_offset,
        }
    }

    #[test]
    fn a_broker_serves_only_registered_in_contact_and_caught_up() {
        let state = ServingState::default();
        assert!(
            !state.serves(5, 100, 3_000, 1_000),
            "never heard from the controller"
        );
        state.record_heartbeat(&reply(true, 50), 1_000);
        assert!(!state.serves(5, 100, 3_000, 1_000), "still fenced");
        state.record_heartbeat(&reply(false, 50), 1_000);
        assert!(state.serves(5, 50, 3_000, 1_000));
        assert!(!state.serves(-1, 50, 3_000, 1_000), "not registered");
        assert!(
            !state.serves(5, 49, 3_000, 1_000),
            "behind the controller's metadata"
        );
        assert!(state.serves(5, 50, 3_000, 4_000));
        assert!(
            !state.serves(5, 50, 3_000, 4_001),
            "out of contact past the session"
        );
        state.record_heartbeat(&reply(false, 80), 4_500);
        assert!(
            !state.serves(5, 50, 3_000, 4_500),
            "contact again, metadata behind"
        );
        assert!(state.serves(5, 80, 3_000, 4_500));
    }
}

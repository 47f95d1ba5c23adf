//! The active controller's clocks: broker sessions (fence a broker that missed heartbeats for
//! `broker.session.timeout.ms`) and the preferred-leader check (`auto.leader.rebalance.enable`).
//!
//! Pure and driven by explicit time, like the group coordinator: the caller passes `now_ms`,
//! sleeps until [`BrokerSessions::next_deadline_ms`], and proposes the commands returned. Session
//! times are not replicated: a newly active controller starts every unfenced broker's clock
//! afresh ([`BrokerSessions::new`] then [`BrokerSessions::observe`]), as KRaft's
//! `BrokerHeartbeatManager` does, so a failover never fences a live broker early.

use std::collections::BTreeMap;

use crate::command::{ElectionType, MetadataCommand};
use crate::image::{BrokerId, MetadataImage};

/// Kafka's default `broker.session.timeout.ms`.
pub const BROKER_SESSION_TIMEOUT_MS_DEFAULT: i64 = 9000;

/// When each broker was last heard from.
#[derive(Debug, Clone)]
pub struct BrokerSessions {
    session_timeout_ms: i64,
    last_contact_ms: BTreeMap<BrokerId, i64>,
}

impl BrokerSessions {
    pub fn new(session_timeout_ms: i64) -> Self {
        BrokerSessions {
            session_timeout_ms,
            last_contact_ms: BTreeMap::new(),
        }
    }

    /// A registration or heartbeat from `broker_id` arrived.
    pub fn heartbeat(&mut self, broker_id: BrokerId, now_ms: i64) {
        let last = self.last_contact_ms.entry(broker_id).or_insert(now_ms);
        *last = (*last).max(now_ms);
    }

    /// Starts the clock of every registered broker not seen yet, and forgets brokers that are
    /// no longer registered. Call after applying metadata.
    pub fn observe(&mut self, image: &MetadataImage, now_ms: i64) {
        self.last_contact_ms
            .retain(|id, _| image.brokers.contains_key(id));
        for id in image.brokers.keys() {
            self.last_contact_ms.entry(*id).or_insert(now_ms);
        }
    }

    /// `FenceBroker` for every unfenced broker whose session has expired at `now_ms`.
    pub fn expired(&self, image: &MetadataImage, now_ms: i64) -> Vec<MetadataCommand> {
        image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter(|b| {
                self.last_contact_ms
                    .get(&b.broker_id)
                    .is_some_and(|last| now_ms - last >= self.session_timeout_ms)
            })
            .map(|b| MetadataCommand::FenceBroker {
                broker_id: b.broker_id,
            })
            .collect()
    }

    /// When the next unfenced broker's session expires, if any.
    pub fn next_deadline_ms(&self, image: &MetadataImage) -> Option<i64> {
        image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter_map(|b| self.last_contact_ms.get(&b.broker_id))
            .map(|last| last + self.session_timeout_ms)
            .min()
    }
}

/// A preferred election for every partition whose first replica is an eligible ISR member but
/// not the leader: what `auto.leader.rebalance.enable` proposes each
/// `leader.imbalance.check.interval.seconds`. (The per-broker imbalance percentage threshold is
/// not applied.)
pub fn preferred_elections(image: &MetadataImage) -> Vec<MetadataCommand> {
    let mut commands = Vec::new();
    for topic in image.topics.values() {
        for (index, p) in topic.partitions.iter().enumerate() {
            let preferred = p.replicas[0];
            if p.leader != Some(preferred)
                && p.isr.contains(&preferred)
                && image.is_eligible(preferred)
            {
                commands.push(MetadataCommand::ElectLeader {
                    topic: topic.name.clone(),
                    partition: i32::try_from(index).expect("bounded partition count"),
                    election: ElectionType::Preferred,
                });
            }
        }
    }
    commands
}

//! Fetch from the closest replica (KIP-392): with `replica.selector.class` set to Kafka's
//! `RackAwareReplicaSelector`, a partition leader answers a consumer's fetch (v11+) that names a
//! `rack_id` with a preferred read replica and no records when an in-sync follower in that rack
//! holds the fetch offset; the consumer then fetches from that follower, which serves up to its
//! own high watermark (`handlers/fetch.rs`), until the follower errs or its metadata ages out
//! and the consumer asks the leader again.
//!
//! The choice is Kafka's: candidates are the leader and the followers in the ISR whose log holds
//! the fetch offset (log start <= offset <= log end); among those in the client's rack, the
//! leader if it is one of them, else the one with the longest log; the leader when none is in
//! the rack or the client names no rack. A follower that falls out of the ISR, or behind the
//! consumer, is no longer chosen.

use crate::replica::BrokerId;

/// The one selector implemented, by the class name Kafka's brokers take.
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// A follower the leader may send a consumer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub broker_id: BrokerId,
    pub rack: Option<String>,
    pub log_end_offset: i64,
}

/// The preferred read replica for a client in `client_rack`, `None` for the leader itself.
pub fn select(
    client_rack: &str,
    leader_rack: Option<&str>,
    followers: &[Candidate],
) -> Option<BrokerId> {
    if client_rack.is_empty() || leader_rack == Some(client_rack) {
        return None;
    }
    followers
        .iter()
        .filter(|c| c.rack.as_deref() == Some(client_rack))
        .max_by_key(|c| (c.log_end_offset, std::cmp::Reverse(c.broker_id)))
        .map(|c| c.broker_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(broker_id: BrokerId, rack: &str, log_end_offset: i64) -> Candidate {
        Candidate {
            broker_id,
            rack: Some(rack.into()),
            log_end_offset,
        }
    }

    #[test]
    fn a_consumer_is_sent_to_the_longest_log_in_its_rack_unless_the_leader_is_there() {
        let followers = [
            candidate(2, "b", 90),
            candidate(3, "b", 100),
            candidate(4, "c", 100),
        ];
        assert_eq!(select("b", Some("a"), &followers), Some(3));
        assert_eq!(select("c", Some("a"), &followers), Some(4));
        assert_eq!(
            select("b", Some("b"), &followers),
            None,
            "the leader is in the rack"
        );
        assert_eq!(
            select("z", Some("a"), &followers),
            None,
            "no replica in the rack"
        );
        assert_eq!(select("", Some("a"), &followers), None, "no client rack");
    }
}

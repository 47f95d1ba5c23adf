//! The metadata quorum as DescribeQuorum reports it (`kafka-metadata-quorum describe --status
//! --replication`), read from the active controller's openraft metrics: the leader and its term
//! (Kafka's leader epoch), the high watermark (the committed index), and per voter how far its
//! log is replicated and when it last answered the leader.
//!
//! Offsets are Kafka's: one past the last entry, so a log end offset is the next index to
//! write. Timestamps are the leader's wall clock in milliseconds, derived from openraft's
//! monotonic acknowledgement times. Observers are the controllers that follow the log without
//! voting (a dynamic quorum's learners) and the registered brokers that are not voters
//! (broker-only nodes follow the image, not the log: their log end offset is unknown, -1).

use openraft::RaftMetrics;
use serde::{Deserialize, Serialize};

use super::types::{MetadataRaft, NodeId};
use crate::image::MetadataImage;

/// One replica of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumReplica {
    pub replica_id: NodeId,
    /// Its metadata folder's `directory.id` on a dynamic quorum (KIP-853).
    #[serde(default)]
    pub directory_id: Option<String>,
    /// One past its last replicated entry; -1 if unknown.
    pub log_end_offset: i64,
    /// When it last answered the leader (wall-clock ms); -1 for the leader or if unknown.
    pub last_fetch_timestamp: i64,
    /// When it was last known to hold everything committed (wall-clock ms); -1 if unknown.
    pub last_caught_up_timestamp: i64,
}

/// What DescribeQuorum answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumDescription {
    pub leader_id: NodeId,
    pub leader_epoch: u64,
    /// One past the last committed entry.
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
    /// Each voter's controller listener, `host:port`.
    #[serde(default)]
    pub voter_addresses: std::collections::BTreeMap<NodeId, String>,
    /// Whether the voters can change (a dynamic quorum: kraft.version 1).
    #[serde(default)]
    pub dynamic: bool,
}

type Metrics = RaftMetrics<MetadataRaft>;

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn end_offset(index: Option<u64>) -> i64 {
    index.map_or(0, |i| {
        i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1)
    })
}

/// The description from a leader's metrics; `None` unless they are a leader's.
pub(crate) fn describe(metrics: &Metrics, image: &MetadataImage) -> Option<QuorumDescription> {
    let replication = metrics.replication.as_ref()?;
    let heartbeat = metrics.heartbeat.as_ref();
    let now = wall_ms();
    let since = |instant: &openraft::TokioInstant| {
        let elapsed = openraft::Instant::elapsed(instant);
        now - i64::try_from(elapsed.as_millis()).unwrap_or(0)
    };
    let high_watermark = end_offset(metrics.cluster_committed.map(|c| c.index));
    let leader_end = end_offset(metrics.last_log_index);
    let membership = metrics.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let learners: Vec<NodeId> = membership.learner_ids().collect();
    let directory = |id: NodeId| {
        membership
            .get_node(&id)
            .and_then(|n| n.directory_id.clone())
    };
    let replica = |id: NodeId| {
        if id == metrics.id {
            return QuorumReplica {
                replica_id: id,
                directory_id: directory(id),
                log_end_offset: leader_end,
                last_fetch_timestamp: -1,
                last_caught_up_timestamp: now,
            };
        }
        let matched = replication.get(&id).copied().flatten();
        let acked = heartbeat
            .and_then(|h| h.get(&id))
            .and_then(|t| t.as_ref())
            .map(|t| since(t));
        let log_end_offset = matched.map_or(-1, |m| end_offset(Some(m.index)));
        QuorumReplica {
            replica_id: id,
            directory_id: directory(id),
            log_end_offset,
            last_fetch_timestamp: acked.unwrap_or(-1),
            last_caught_up_timestamp: if log_end_offset >= high_watermark {
                acked.unwrap_or(-1)
            } else {
                -1
            },
        }
    };
    // Observer controllers (learners) follow the log; broker-only nodes follow the image.
    let mut observers: Vec<QuorumReplica> = learners.iter().map(|&l| replica(l)).collect();
    observers.extend(
        image
            .brokers
            .keys()
            .filter_map(|&b| u64::try_from(b).ok())
            .filter(|b| !voters.contains(b) && !learners.contains(b))
            .map(|b| QuorumReplica {
                replica_id: b,
                directory_id: None,
                log_end_offset: -1,
                last_fetch_timestamp: -1,
                last_caught_up_timestamp: -1,
            }),
    );
    Some(QuorumDescription {
        leader_id: metrics.id,
        leader_epoch: metrics.current_term,
        high_watermark,
        voters: voters.iter().map(|&v| replica(v)).collect(),
        observers,
        voter_addresses: voters
            .iter()
            .filter_map(|&v| Some((v, membership.get_node(&v)?.addr.clone())))
            .collect(),
        dynamic: super::voters::is_dynamic(membership),
    })
}

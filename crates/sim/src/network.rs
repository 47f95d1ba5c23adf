//! The simulated network: the messages nodes exchange, and the faults between them. A message
//! may be dropped, delayed (briefly, or long enough to arrive after later ones), duplicated,
//! or cut by a partition (a set of one-way links that deliver nothing while cut).
//!
//! Requests and their answers are matched by id at the receiver, as one TCP connection with
//! one request in flight matches them: an answer to a request the sender gave up on (a
//! timeout, a reconnect, a restart) is ignored, while a request itself may still be processed
//! late or twice (a retry over a new connection while the old one is still buffered).

use std::collections::BTreeSet;
use std::sync::Arc;

use broker::replica::BrokerId;
use broker::replication_rules::{DivergingEpoch, FetchPosition};
use controller::{ControllerError, HeartbeatReply, MetadataCommand, MetadataImage};

use crate::config::Faults;
use crate::disk::Record;
use crate::rng::Rng;

/// A node of the simulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Broker(BrokerId),
    /// The metadata quorum, modelled as one always-available active controller.
    Controller,
    Client,
}

/// Why a fetch or produce was refused (the Kafka error codes the rules return).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotLeaderOrFollower,
    FencedLeaderEpoch,
    UnknownLeaderEpoch,
    UnknownReplica,
    OffsetOutOfRange,
    NotEnoughReplicas,
    RequestTimedOut,
    StaleLeaderEpoch,
}

/// A leader's answer to a follower's fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAnswer {
    Refused(Refusal),
    Diverging {
        diverging: DivergingEpoch,
        high_watermark: i64,
    },
    Records {
        records: Vec<Record>,
        high_watermark: i64,
    },
}

/// A message between nodes.
#[derive(Debug, Clone)]
pub enum Message {
    Register {
        broker: BrokerId,
        request: u64,
    },
    Registered {
        request: u64,
        broker_epoch: i64,
    },
    Heartbeat {
        broker: BrokerId,
        broker_epoch: i64,
        request: u64,
    },
    HeartbeatAnswer {
        request: u64,
        answer: Result<HeartbeatReply, ControllerError>,
        image: Arc<MetadataImage>,
    },
    /// A command a broker proposes: AlterPartition, ReportReplicaLogs.
    Propose(MetadataCommand),
    Image(Arc<MetadataImage>),
    Fetch {
        follower: BrokerId,
        broker_epoch: i64,
        current_leader_epoch: i32,
        position: FetchPosition,
        request: u64,
    },
    FetchAnswer {
        leader: BrokerId,
        request: u64,
        answer: FetchAnswer,
    },
    Produce {
        request: u64,
        value: u64,
    },
    ProduceAnswer {
        request: u64,
        answer: Result<i64, Refusal>,
    },
}

/// The links and their faults.
pub struct Network {
    faults: Faults,
    delay_ms_max: i64,
    delay_long_ms: i64,
    /// One-way links that deliver nothing: (from, to).
    cut: BTreeSet<(Node, Node)>,
}

impl Network {
    pub fn new(faults: Faults, delay_ms_max: i64, delay_long_ms: i64) -> Self {
        Network {
            faults,
            delay_ms_max,
            delay_long_ms,
            cut: BTreeSet::new(),
        }
    }

    /// The delays after which copies of a message from `from` to `to` arrive (none: lost).
    pub fn deliveries(&self, from: Node, to: Node, rng: &mut Rng) -> Vec<i64> {
        if self.cut.contains(&(from, to)) || rng.chance(self.faults.drop_per_mille) {
            return Vec::new();
        }
        let copies = if rng.chance(self.faults.duplicate_per_mille) {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                if rng.chance(self.faults.delay_long_per_mille) {
                    rng.between(1, self.delay_long_ms)
                } else {
                    rng.between(1, self.delay_ms_max)
                }
            })
            .collect()
    }

    /// Cuts every link between the two groups, both ways or only `a` to `b`.
    pub fn partition(&mut self, a: &[Node], b: &[Node], both_ways: bool) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                if both_ways {
                    self.cut.insert((y, x));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }
}

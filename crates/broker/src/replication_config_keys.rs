//! The replicated cluster's part of the configuration registry (`config_keys.rs` holds the rest
//! and the types): elections and the ISR, broker sessions and heartbeats, follower fetching, the
//! metadata quorum's timings, racks and reads from followers (KIP-392).

use crate::config_keys::Valid::{Any, AtLeast, OneOf};
use crate::config_keys::{BOOLEAN, ConfigKey, INT, LONG, STRING, key};

pub const REPLICATION_KEYS: &[ConfigKey] = &[
    key("broker.rack", STRING, None, Any, "The rack of this broker."),
    key(
        "replica.selector.class",
        STRING,
        None,
        OneOf(&["", crate::replica_selector::RACK_AWARE_SELECTOR]),
        "Which replica a consumer reads from (KIP-392): unset, the leader; \
         org.apache.kafka.common.replica.RackAwareReplicaSelector, an in-sync replica in the \
         consumer's client.rack when there is one.",
    ),
    key(
        "unclean.leader.election.enable",
        BOOLEAN,
        Some("false"),
        Any,
        "Elect an out-of-sync replica when no in-sync one is left.",
    ),
    key(
        "replica.lag.time.max.ms",
        LONG,
        Some("30000"),
        AtLeast(1),
        "A follower behind this long leaves the ISR.",
    ),
    key(
        "broker.session.timeout.ms",
        INT,
        Some("9000"),
        AtLeast(1),
        "A broker missing heartbeats this long is fenced.",
    ),
    key(
        "auto.leader.rebalance.enable",
        BOOLEAN,
        Some("true"),
        Any,
        "Move leadership back to preferred replicas.",
    ),
    key(
        "leader.imbalance.check.interval.seconds",
        LONG,
        Some("300"),
        AtLeast(1),
        "How often the active controller moves leadership back to preferred replicas.",
    ),
    key(
        "broker.heartbeat.interval.ms",
        INT,
        Some("2000"),
        AtLeast(1),
        "How often a broker tells the active controller it is alive.",
    ),
    key(
        "inter.broker.listener.name",
        STRING,
        None,
        Any,
        "The listener followers fetch from; defaults to the first non-controller listener.",
    ),
    key(
        "replica.fetch.wait.max.ms",
        INT,
        Some("500"),
        AtLeast(0),
        "Longest a follower's fetch waits at the leader for new data.",
    ),
    key(
        "replica.fetch.max.bytes",
        INT,
        Some("1048576"),
        AtLeast(0),
        "Bytes a follower asks per partition and fetch.",
    ),
    key(
        "controller.quorum.election.timeout.ms",
        INT,
        Some("1000"),
        AtLeast(1),
        "How long a controller waits for the active one before calling an election.",
    ),
    key(
        "metadata.log.dir",
        STRING,
        None,
        Any,
        "Directory of the metadata log; defaults to the first of log.dirs.",
    ),
];

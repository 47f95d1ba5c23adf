//! Runnel's group coordinator: consumer groups on the classic protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup), committed offsets (OffsetCommit, OffsetFetch, OffsetDelete) and the
//! group admin APIs, as a sans-I/O state machine driven by explicit time.
//!
//! It owns group and offset state and the rules of Kafka's classic group coordinator. It does not
//! own sockets, clocks or storage: the broker passes `now_ms`, sleeps until
//! [`GroupCoordinator::next_deadline`], appends the returned [`CoordinatorRecord`]s to
//! `__consumer_offsets` (partition [`partition_for`]) before sending responses, and rebuilds the
//! state on start with [`GroupCoordinator::replay`]. See docs/internals/group-coordinator.md.
//!
//! The transaction coordinator (`txn/`, Kafka's transaction state machine over
//! `__transaction_state`) lives here too: same shape, its own state.
//!
//! Dependencies point one way: protocol ← coordinator ← broker.
//!
//! Files: `coordinator.rs` (the value, tickets, effects, timers' dispatch), `join.rs`, `sync.rs`
//! (SyncGroup, Heartbeat), `leave.rs`, `rebalance.rs` (the state machine's transitions),
//! `group.rs`, `member.rs`, `offsets.rs`, `retention.rs`, `admin.rs`, `records.rs`, `timers.rs`, `config.rs`,
//! `offsets_topic.rs`, `error.rs`; KIP-848 consumer groups: `consumer_heartbeat.rs`,
//! `consumer_group.rs` (state and reconciliation), `assignor.rs`, `consumer_records.rs`,
//! `consumer_admin.rs`, `topics.rs` (the topic metadata the broker passes in); transactional
//! offset commits: `txn_offsets.rs`; share groups (KIP-932): `share_group.rs` (membership) and
//! `share_state.rs` (the share coordinator's persisted share-partition state).

mod admin;
mod assignor;
mod config;
mod consumer_admin;
mod consumer_group;
mod consumer_heartbeat;
mod consumer_records;
mod coordinator;
mod error;
mod group;
mod join;
mod leave;
mod member;
mod offsets;
mod offsets_topic;
mod rebalance;
mod records;
mod retention;
mod share_group;
pub mod share_state;
mod sync;
mod timers;
mod topics;
pub mod txn;
mod txn_offsets;

#[cfg(test)]
mod tests;

pub use admin::CLASSIC_GROUP_TYPE;
pub use assignor::{ASSIGNORS, RANGE_ASSIGNOR, UNIFORM_ASSIGNOR};
pub use config::GroupConfig;
pub use consumer_admin::CONSUMER_GROUP_TYPE;
pub use consumer_group::{
    Assignment, ConsumerGroup, ConsumerGroupState, ConsumerMember, MemberState,
};
pub use coordinator::{ClientInfo, Completion, Effects, GroupCoordinator, Outcome, Reply, Ticket};
pub use error::CoordinatorError;
pub use group::{CONSUMER_PROTOCOL_TYPE, Group, GroupState};
pub use member::{Member, Protocol};
pub use offsets::CommittedOffset;
pub use offsets_topic::{OFFSETS_TOPIC, java_string_hash, kafka_abs, partition_for};
pub use records::{
    CoordinatorRecord, DecodedRecord, GROUP_METADATA_KEY_VERSION, GROUP_METADATA_VALUE_VERSION,
    OFFSET_COMMIT_KEY_VERSION, OFFSET_COMMIT_VALUE_VERSION,
    OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY, decode_record,
};
pub use share_group::{SHARE_GROUP_TYPE, SIMPLE_ASSIGNOR, ShareGroup, ShareMember, simple_assign};
pub use topics::{TopicImage, TopicsImage};
pub use txn_offsets::TxnCommitOutcome;

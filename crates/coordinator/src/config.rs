//! The group coordinator's resolved configuration: Kafka's broker settings for groups and
//! offsets (named as Kafka names them in the docs of each field) plus Runnel's memory bounds.
//!
//! This is the resolved form (no `Option`s); parsing and layering belong to the broker's config.

/// Settings the coordinator needs, with Kafka's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: the smallest session timeout a member may ask for.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the largest session timeout a member may ask for.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members, extended (up to the rebalance timeout) while members keep arriving.
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`: members per group. Kafka defaults to `Integer.MAX_VALUE`; Runnel bounds it.
    pub group_max_size: usize,
    /// How long a new member's parked JoinGroup may wait before the member is dropped (Kafka's
    /// internal `CLASSIC_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS`, 5 minutes).
    pub new_member_join_timeout_ms: i32,
    /// `offsets.retention.minutes`, in milliseconds: how long offsets of an empty group (or of a
    /// topic the group no longer reads) are kept.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets and groups are purged.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`: the longest metadata string an offset commit may carry.
    pub offset_metadata_max_bytes: usize,
    /// Groups this coordinator holds at most (Runnel's bound; Kafka has none). A request that would
    /// create one more is answered `COORDINATOR_NOT_AVAILABLE`, which clients retry.
    pub groups_max: usize,
    /// Committed partitions one group holds at most (Runnel's bound). A commit that would add one
    /// more is answered `INVALID_COMMIT_OFFSET_SIZE`, as Kafka answers a commit too large to append.
    pub group_offsets_max: usize,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.session.timeout.ms`: how long a KIP-848 member lives without heartbeats.
    pub consumer_session_timeout_ms: i32,
    /// `group.share.heartbeat.interval.ms`: how often share group members heartbeat.
    pub share_heartbeat_interval_ms: i32,
    /// `group.share.session.timeout.ms`: how long a share group member lives without heartbeats.
    pub share_session_timeout_ms: i32,
    /// `group.share.max.size`: members per share group.
    pub share_group_max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            group_max_size: 1_000,
            new_member_join_timeout_ms: 300_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            groups_max: 100_000,
            group_offsets_max: 100_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_session_timeout_ms: 45_000,
            share_heartbeat_interval_ms: 5_000,
            share_session_timeout_ms: 45_000,
            share_group_max_size: 200,
        }
    }
}

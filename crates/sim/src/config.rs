//! What one simulated run is made of: the cluster's size and timeouts, the faults and their
//! rates, the durability mode, and the mutation (a deliberately broken rule) if any.

use crate::disk::DiskFaults;

/// A deliberately broken rule, to show the simulator catches it. Each is a runtime switch at
/// the simulator's call site of the real rule; the broker and controller are never built
/// differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The leader's high watermark goes to its own log end as soon as the ISR is large enough,
    /// before the followers have the batch (instead of `LeaderState::next_high_watermark`).
    HighWatermarkBeforeIsr,
    /// The leader never answers `diverging_epoch`: a follower's fetch from a stale epoch is
    /// served and counted (instead of `replication_rules::diverging_epoch`).
    StaleFetchAccepted,
    /// The leader's ISR-join rule is given a high watermark of 0: a follower joins before its
    /// log reaches the high watermark (`LeaderState::isr_change`).
    IsrJoinBeforeHighWatermark,
    /// The controller's election rule takes its unclean branch (a non-ISR replica may lead) on
    /// a topic that never enabled `unclean.leader.election.enable`.
    UncleanElection,
}

impl Mutation {
    pub const ALL: [Mutation; 4] = [
        Mutation::HighWatermarkBeforeIsr,
        Mutation::StaleFetchAccepted,
        Mutation::IsrJoinBeforeHighWatermark,
        Mutation::UncleanElection,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::HighWatermarkBeforeIsr => "hw-before-isr",
            Mutation::StaleFetchAccepted => "stale-fetch-accepted",
            Mutation::IsrJoinBeforeHighWatermark => "isr-join-before-hw",
            Mutation::UncleanElection => "unclean-election",
        }
    }

    pub fn parse(name: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Which faults a run injects, and how often (per mille per fault tick unless said).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    pub drop_per_mille: u32,
    pub duplicate_per_mille: u32,
    /// A message delayed by up to `delay_long_ms` instead of `delay_ms_max` (reordering).
    pub delay_long_per_mille: u32,
    pub crash: bool,
    pub pause: bool,
    pub partition: bool,
    pub disk: DiskFaults,
    /// A waiting produce request is re-checked this late after a wake-up, at most (the task
    /// scheduling delay of `Partition::wait_for_high_watermark`).
    pub wake_delay_ms_max: i64,
}

/// One run's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub brokers: i32,
    pub min_insync_replicas: i32,
    /// Events to run.
    pub steps: u64,
    pub mutation: Option<Mutation>,
    pub faults: Faults,
    pub heartbeat_interval_ms: i64,
    pub session_timeout_ms: i64,
    pub replica_lag_time_max_ms: i64,
    pub isr_check_interval_ms: i64,
    pub tick_ms: i64,
    pub fetch_wait_max_ms: i64,
    /// Records one fetch answer carries at most.
    pub fetch_records_max: usize,
    pub produce_timeout_ms: i64,
    pub produce_in_flight_max: usize,
    pub delay_ms_max: i64,
    pub delay_long_ms: i64,
    /// Trace lines kept for a violation's report.
    pub trace_lines: usize,
}

impl SimConfig {
    /// The default: 3 brokers, min ISR 2, every fault, fsync mode.
    pub fn standard() -> Self {
        SimConfig {
            brokers: 3,
            min_insync_replicas: 2,
            steps: 10_000,
            mutation: None,
            faults: Faults {
                drop_per_mille: 20,
                duplicate_per_mille: 20,
                delay_long_per_mille: 20,
                crash: true,
                pause: true,
                partition: true,
                disk: DiskFaults {
                    fsync_on_append: true,
                    lose_unsynced_per_mille: 1000,
                    corrupt_per_mille: 0,
                    segment_records: 16,
                },
                wake_delay_ms_max: 20,
            },
            heartbeat_interval_ms: 100,
            session_timeout_ms: 600,
            replica_lag_time_max_ms: 500,
            isr_check_interval_ms: 100,
            tick_ms: 20,
            fetch_wait_max_ms: 100,
            fetch_records_max: 4,
            produce_timeout_ms: 1_000,
            produce_in_flight_max: 3,
            delay_ms_max: 10,
            delay_long_ms: 300,
            trace_lines: 60,
        }
    }

    /// Kafka's default durability (no fsync per append, `FlushPolicy::PageCache`): a crash
    /// loses what the page cache had not written back.
    pub fn page_cache(mut self) -> Self {
        self.faults.disk.fsync_on_append = false;
        self
    }

    /// Corrupt records at crashes, in the region recovery re-reads.
    pub fn with_corruption(mut self, per_mille: u32) -> Self {
        self.faults.disk.corrupt_per_mille = per_mille;
        self
    }
}

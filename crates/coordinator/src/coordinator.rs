//! The `GroupCoordinator` value and the shape of every answer it gives: immediate responses,
//! tickets for parked JoinGroup / SyncGroup requests, records to persist, and completions.
//!
//! The coordinator does no I/O and reads no clock: every call takes `now_ms`, and the caller
//! sleeps until `next_deadline()` and then calls `poll(now_ms)`. It is a state machine the broker
//! drives; its rules are Kafka's `GroupMetadataManager` / `OffsetMetadataManager` for classic groups.
//!
//! Ordering contract: state changes apply when a call returns, and every call that changes
//! durable state returns `records`. The caller appends them to `__consumer_offsets` and only then
//! sends the call's response and its `completed` responses. If the append fails, the caller must
//! drop this coordinator and rebuild it with `replay` from the log (as Kafka reverts its
//! in-memory state to the last committed offset), so no client ever saw state that is not durable.

use std::collections::HashMap;

use protocol::generated::{JoinGroupResponse, SyncGroupResponse};

use crate::config::GroupConfig;
use crate::group::Group;
use crate::records::CoordinatorRecord;
use crate::timers::{TimerKey, TimerTask, Timers};

/// Names a parked JoinGroup or SyncGroup request; its response comes later in a [`Completion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// The answer to a request that may have to wait for the rebalance.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<R> {
    /// The response, to send (after appending the outcome's records).
    Ready(R),
    /// The request is parked; its response will come as a [`Completion`] with this ticket.
    Pending(Ticket),
}

impl<R> Reply<R> {
    pub fn ready(self) -> Option<R> {
        match self {
            Reply::Ready(response) => Some(response),
            Reply::Pending(_) => None,
        }
    }
}

/// A parked request's response, encodable at the version the request came with.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    Join {
        ticket: Ticket,
        response: JoinGroupResponse,
    },
    Sync {
        ticket: Ticket,
        response: SyncGroupResponse,
    },
}

impl Completion {
    pub fn ticket(&self) -> Ticket {
        match self {
            Completion::Join { ticket, .. } | Completion::Sync { ticket, .. } => *ticket,
        }
    }
}

/// What a call or a timer did besides answering: records to append first, then parked requests
/// to answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    /// Records for `__consumer_offsets`, in order; each names its group for partitioning.
    pub records: Vec<CoordinatorRecord>,
    /// Parked requests answered, to send after the records are appended.
    pub completed: Vec<Completion>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.completed.is_empty()
    }
}

/// The result of one request: its response (or ticket) and its effects.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<R> {
    pub response: R,
    pub records: Vec<CoordinatorRecord>,
    pub completed: Vec<Completion>,
}

impl<R> Outcome<R> {
    pub(crate) fn new(response: R, effects: Effects) -> Self {
        Outcome {
            response,
            records: effects.records,
            completed: effects.completed,
        }
    }
}

/// Who sent a JoinGroup: the request header's client id and the connection's host.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    pub client_id: &'a str,
    /// As Kafka reports it (`/127.0.0.1`).
    pub client_host: &'a str,
}

/// The group coordinator for classic groups: memberships, rebalances and committed offsets.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    /// Invariant: `groups.len() <= config.groups_max` (replay may exceed it; requests may not
    /// add to it then).
    pub(crate) groups: HashMap<String, Group>,
    pub(crate) timers: Timers,
    next_ticket: u64,
    /// SplitMix64 state for member ids.
    rng_state: u64,
    /// Offsets of transactions not yet decided by a marker (`txn_offsets.rs`).
    pub(crate) pending_txn_offsets: crate::txn_offsets::PendingOffsets,
    /// Share groups (KIP-932), in the same id space as `groups` (an id is in one map or none).
    pub(crate) share_groups: HashMap<String, crate::share_group::ShareGroup>,
}

impl GroupCoordinator {
    /// A coordinator with no groups. `member_id_seed` must differ between runs (the broker
    /// passes fresh randomness), because member ids must not repeat ids loaded from the log.
    pub fn new(config: GroupConfig, member_id_seed: u64, now_ms: i64) -> Self {
        let mut coordinator = GroupCoordinator {
            config,
            groups: HashMap::new(),
            timers: Timers::default(),
            next_ticket: 1,
            rng_state: member_id_seed,
            pending_txn_offsets: Default::default(),
            share_groups: HashMap::new(),
        };
        let interval_ms = coordinator.config.offsets_retention_check_interval_ms;
        coordinator
            .timers
            .schedule(TimerKey::Cleanup, now_ms + interval_ms, TimerTask::Cleanup);
        coordinator
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// When `poll` next has work: the earliest session, join, sync or cleanup deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.next_deadline()
    }

    /// Runs every timer due at `now_ms`: expired sessions, join and sync phase deadlines, the
    /// initial rebalance delay, and the offset retention purge.
    pub fn poll(&mut self, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        // Bounded: each step removes a timer, and a task schedules at most a few, all later than
        // `now_ms` (every timeout is positive) except re-armed ones that the guard below stops.
        let budget = self.timers.len() * 4 + 16;
        for _ in 0..budget {
            let Some((key, task)) = self.timers.pop_expired(now_ms) else {
                break;
            };
            self.run_timer(now_ms, key, task, &mut effects);
        }
        effects
    }

    fn run_timer(&mut self, now_ms: i64, key: TimerKey, task: TimerTask, fx: &mut Effects) {
        match (key, task) {
            (
                TimerKey::Heartbeat {
                    group_id,
                    member_id,
                },
                TimerTask::HeartbeatExpiry,
            ) => self.expire_heartbeat(now_ms, &group_id, &member_id, fx),
            (
                TimerKey::Join { group_id },
                TimerTask::InitialJoin {
                    delay_ms,
                    remaining_ms,
                },
            ) => self.try_complete_initial_rebalance(now_ms, &group_id, delay_ms, remaining_ms, fx),
            (TimerKey::Join { group_id }, TimerTask::CompleteJoin) => {
                if self.groups.contains_key(&group_id) {
                    self.complete_join_phase(now_ms, &group_id, fx)
                }
            }
            (
                TimerKey::PendingSync { group_id },
                TimerTask::PendingSyncExpiry { generation_id },
            ) => self.expire_pending_sync(now_ms, &group_id, generation_id, fx),
            (TimerKey::Cleanup, TimerTask::Cleanup) => {
                self.cleanup_group_metadata(now_ms, fx);
                let next_ms = now_ms + self.config.offsets_retention_check_interval_ms.max(1);
                self.timers
                    .schedule(TimerKey::Cleanup, next_ms, TimerTask::Cleanup);
            }
            (
                TimerKey::ConsumerSession {
                    group_id,
                    member_id,
                },
                TimerTask::ConsumerSessionExpiry,
            ) => self.expire_consumer_session(now_ms, &group_id, &member_id, fx),
            (
                TimerKey::ConsumerRevocation {
                    group_id,
                    member_id,
                },
                TimerTask::ConsumerRevocationExpiry { member_epoch },
            ) => self.expire_consumer_revocation(now_ms, &group_id, &member_id, member_epoch, fx),
            (
                TimerKey::ShareSession {
                    group_id,
                    member_id,
                },
                TimerTask::ShareSessionExpiry,
            ) => self.expire_share_session(now_ms, &group_id, &member_id),
            (key, task) => unreachable!("timer {key:?} never carries task {task:?}"),
        }
    }

    pub(crate) fn new_ticket(&mut self) -> Ticket {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        ticket
    }

    /// Kafka's member id: `prefix-<uuid>`, the prefix being the client id (dynamic members) or
    /// the group instance id (static members).
    pub(crate) fn generate_member_id(&mut self, prefix: &str) -> String {
        let hi = self.next_random();
        let lo = self.next_random();
        // A version 4, variant 1 UUID, as Java's UUID.randomUUID().
        let hi = (hi & !0xf000) | 0x4000;
        let lo = (lo & !(0xc000 << 48)) | (0x8000 << 48);
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    fn next_random(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

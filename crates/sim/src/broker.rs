//! A simulated broker hosting one replica of the partition, driving the broker's real rules:
//! its role, followers' progress, ISR and high watermark (`broker::replica::Role` and
//! `LeaderState`), the fetch decisions (`broker::replication_rules`), the role a metadata image
//! gives it (`broker::cluster::metadata_sync::assignment`) and whether it is in contact with the
//! controller (`broker::cluster::self_fencing::ServingState`).
//!
//! The handlers around those calls mirror the real ones, step for step: registration and
//! heartbeats (`cluster/mod.rs`), applying images (`metadata_sync::apply` ->
//! `Partition::apply_assignment`), the high watermark (`Partition::advance_high_watermark`),
//! ISR proposals (`cluster/mod.rs::isr_changes`); the fetch and produce handlers are in
//! `replication.rs`. The log is the model in `disk.rs`. Mutations switch a real rule's call
//! here and there (`config::Mutation`).

use std::convert::Infallible;
use std::sync::Arc;

use broker::cluster::metadata_sync;
use broker::cluster::self_fencing::ServingState;
use broker::replica::{BrokerId, Role};
use broker::replication_rules::FetchPosition;
use controller::{ControllerError, MetadataCommand, MetadataImage};

use crate::config::Mutation;
use crate::controller::{TOPIC, TOPIC_ID};
use crate::disk::{CrashDamage, DiskFaults, ReplicaLog};
use crate::network::{Message, Node};
use crate::rng::Rng;
use crate::world::{Event, World};

/// `cluster/fetcher.rs::RETRY_PAUSE`.
pub(crate) const RETRY_PAUSE_MS: i64 = 200;

/// A produce request waiting for the high watermark.
#[derive(Debug, Clone)]
pub(crate) struct ParkedProduce {
    pub(crate) request: u64,
    pub(crate) value: u64,
    pub(crate) offset: i64,
    pub(crate) deadline_ms: i64,
}

/// A follower's fetch long-polling for records.
#[derive(Debug, Clone)]
pub(crate) struct ParkedFetch {
    pub(crate) follower: BrokerId,
    pub(crate) current_leader_epoch: i32,
    pub(crate) position: FetchPosition,
    pub(crate) request: u64,
    pub(crate) deadline_ms: i64,
}

/// The fetch a follower has in flight: to whom, for which leadership, since when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlightFetch {
    pub(crate) request: u64,
    pub(crate) leader: BrokerId,
    pub(crate) leader_epoch: i32,
    pub(crate) sent_ms: i64,
}

/// One broker process and its disk.
pub struct BrokerNode {
    pub id: BrokerId,
    pub up: bool,
    /// Process starts; messages and timers of an older one are dropped.
    pub incarnation: u32,
    pub paused_until: i64,
    /// On the disk: survives crashes (with their faults).
    pub log: ReplicaLog,
    pub role: Role,
    /// From the registration; -1 until registered.
    pub(crate) broker_epoch: i64,
    registration: Option<(u64, i64)>,
    heartbeat: Option<(u64, i64)>,
    next_heartbeat_ms: i64,
    next_isr_check_ms: i64,
    /// The metadata image last applied (a combined node replays its own metadata log at
    /// start, so it survives restarts).
    image: Arc<MetadataImage>,
    serving: ServingState,
    /// Served once since start (the Kafka listener reads requests only from then).
    pub caught_up_once: bool,
    pub(crate) contact_lost: bool,
    pub(crate) fetch: Option<InFlightFetch>,
    pub(crate) next_fetch_ms: i64,
    pub(crate) parked_produces: Vec<ParkedProduce>,
    pub(crate) parked_fetches: Vec<ParkedFetch>,
    pub(crate) wake_scheduled: bool,
}

impl BrokerNode {
    pub fn new(id: BrokerId) -> Self {
        BrokerNode {
            id,
            up: false,
            incarnation: 0,
            paused_until: 0,
            log: ReplicaLog::default(),
            role: follower_of_nobody(),
            broker_epoch: -1,
            registration: None,
            heartbeat: None,
            next_heartbeat_ms: 0,
            next_isr_check_ms: 0,
            image: Arc::new(MetadataImage::new()),
            serving: ServingState::default(),
            caught_up_once: false,
            contact_lost: true,
            fetch: None,
            next_fetch_ms: 0,
            parked_produces: Vec::new(),
            parked_fetches: Vec::new(),
            wake_scheduled: false,
        }
    }

    pub fn is_incarnation(&self, incarnation: u32) -> bool {
        self.up && self.incarnation == incarnation
    }

    /// (broker, incarnation, leader epoch): one leadership of one process.
    pub fn leadership_key(&self) -> (BrokerId, u32, i32) {
        (self.id, self.incarnation, self.role.leader_epoch())
    }

    /// Leads in `current` (the controller's leader and leader epoch) and answers requests
    /// (its listener is open).
    pub fn is_current_leader(&self, current: (Option<BrokerId>, i32)) -> bool {
        self.up
            && self.caught_up_once
            && current.0 == Some(self.id)
            && matches!(&self.role, Role::Leader(state) if state.leader_epoch == current.1)
    }

    /// The process dies; the disk's faults apply and recovery runs (at the next start, which
    /// changes nothing the model could observe in between).
    pub fn crash(&mut self, faults: &DiskFaults, rng: &mut Rng) -> CrashDamage {
        let damage = self.log.crash_and_recover(faults, rng);
        let log = std::mem::take(&mut self.log);
        let image = self.image.clone();
        let incarnation = self.incarnation;
        *self = BrokerNode::new(self.id);
        self.log = log;
        self.image = image;
        self.incarnation = incarnation;
        damage
    }
}

/// How a partition opens in a cluster: following nobody until metadata says.
fn follower_of_nobody() -> Role {
    Role::Follower {
        leader: None,
        leader_epoch: -1,
    }
}

impl World {
    pub(crate) fn broker(&mut self, id: BrokerId) -> &mut BrokerNode {
        &mut self.brokers[id as usize]
    }

    /// Starts (or restarts) a broker process: it takes its role from the image it has, then
    /// registers.
    pub(crate) fn start_broker(&mut self, id: BrokerId) {
        let b = self.broker(id);
        b.up = true;
        b.incarnation += 1;
        let incarnation = b.incarnation;
        let image = b.image.clone();
        b.image = Arc::new(MetadataImage::new());
        self.apply_image(id, image);
        let delay = self.rng.between(0, self.config.tick_ms);
        self.scheduler.after(
            delay,
            Event::BrokerTick {
                broker: id,
                incarnation,
            },
        );
    }

    pub(crate) fn request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// Wakes the tasks waiting on the partition; they run after a scheduling delay.
    pub(crate) fn notify(&mut self, id: BrokerId) {
        let b = self.broker(id);
        if b.wake_scheduled {
            return;
        }
        b.wake_scheduled = true;
        let incarnation = b.incarnation;
        let delay = self.rng.between(0, self.config.faults.wake_delay_ms_max);
        self.scheduler.after(
            delay,
            Event::Wake {
                broker: id,
                incarnation,
            },
        );
    }

    pub(crate) fn broker_receive(&mut self, id: BrokerId, from: Node, message: Message) {
        let now = self.now_ms();
        match message {
            Message::Registered {
                request,
                broker_epoch,
            } => {
                let b = self.broker(id);
                if b.registration.map(|(r, _)| r) == Some(request) && b.broker_epoch < 0 {
                    b.registration = None;
                    b.broker_epoch = broker_epoch;
                    b.next_heartbeat_ms = now;
                }
            }
            Message::HeartbeatAnswer {
                request,
                answer,
                image,
            } => {
                let b = self.broker(id);
                if b.heartbeat.map(|(r, _)| r) != Some(request) {
                    return;
                }
                b.heartbeat = None;
                match answer {
                    Ok(reply) => b.serving.record_heartbeat(&reply, now),
                    Err(ControllerError::StaleBrokerEpoch { .. })
                    | Err(ControllerError::UnknownBroker { .. }) => b.broker_epoch = -1,
                    Err(_) => {}
                }
                // The image the broker follows the metadata log with.
                self.apply_image(id, image);
            }
            Message::Image(image) => self.apply_image(id, image),
            Message::Fetch {
                follower,
                broker_epoch,
                current_leader_epoch,
                position,
                request,
            } => self.leader_fetch(
                id,
                follower,
                broker_epoch,
                current_leader_epoch,
                position,
                request,
            ),
            Message::FetchAnswer {
                leader,
                request,
                answer,
            } => self.follower_apply(id, leader, request, answer),
            Message::Produce { request, value } => self.leader_produce(id, from, request, value),
            _ => {}
        }
    }

    /// `metadata_sync::apply` for the one partition, then `self_fencing`'s rule.
    fn apply_image(&mut self, id: BrokerId, image: Arc<MetadataImage>) {
        let now = self.now_ms();
        let b = self.broker(id);
        if image.offset <= b.image.offset {
            return;
        }
        b.image = image.clone();
        if let Some(state) = image.partition(TOPIC, 0)
            && state.replicas.contains(&id)
        {
            let assignment = metadata_sync::assignment(&image, state);
            let log_end = b.log.log_end();
            let change = b
                .role
                .apply_assignment(&assignment, id, || Ok::<_, Infallible>(log_end), now)
                .unwrap_or_else(|never| match never {});
            if change.changed {
                // The fetcher skips answers for a leadership it no longer follows.
                b.fetch = None;
                b.next_fetch_ms = now;
                let role = format!("{:?}", b.role);
                self.note(|| format!("broker {id} takes role {}", short_role(&role)));
            }
            self.advance_high_watermark(id);
            if change.changed {
                self.notify(id);
            }
        }
        self.update_serving(id);
    }

    /// `self_fencing::run`: in contact, caught up; the listener opens the first time.
    fn update_serving(&mut self, id: BrokerId) {
        let now = self.now_ms();
        let timeout = self.config.session_timeout_ms;
        let b = self.broker(id);
        let serves = b
            .serving
            .serves(b.broker_epoch, b.image.offset, timeout, now);
        b.contact_lost = !serves;
        if serves && !b.caught_up_once {
            b.caught_up_once = true;
            self.note(|| format!("broker {id} caught up with the metadata: serving"));
        }
    }

    /// `Partition::advance_high_watermark` (or the mutation's broken rule).
    pub(crate) fn advance_high_watermark(&mut self, id: BrokerId) {
        let min_isr = self.config.min_insync_replicas;
        let mutation = self.config.mutation;
        let b = self.broker(id);
        let Role::Leader(state) = &b.role else {
            return;
        };
        let current = b.log.high_watermark();
        let log_end = b.log.log_end();
        let next = if mutation == Some(Mutation::HighWatermarkBeforeIsr) {
            (state.isr.len() as i32 >= min_isr && log_end > current).then_some(log_end)
        } else {
            state.next_high_watermark(id, log_end, min_isr, current)
        };
        if let Some(next) = next {
            b.log.set_high_watermark(next);
            self.notify(id);
        }
    }

    pub(crate) fn broker_tick(&mut self, id: BrokerId) {
        let now = self.now_ms();
        self.update_serving(id);
        // Registration, then heartbeats (`cluster/mod.rs::registration`).
        let interval = self.config.heartbeat_interval_ms;
        let b = self.broker(id);
        if b.broker_epoch < 0 {
            if b.registration
                .is_none_or(|(_, sent)| now - sent > 5 * interval)
            {
                let request = self.request_id();
                self.broker(id).registration = Some((request, now));
                self.send(
                    Node::Broker(id),
                    Node::Controller,
                    Message::Register {
                        broker: id,
                        request,
                    },
                );
            }
        } else if b
            .heartbeat
            .is_none_or(|(_, sent)| now - sent > 2 * interval)
            && now >= b.next_heartbeat_ms
        {
            let broker_epoch = b.broker_epoch;
            b.next_heartbeat_ms = now + interval;
            let request = self.request_id();
            self.broker(id).heartbeat = Some((request, now));
            self.send(
                Node::Broker(id),
                Node::Controller,
                Message::Heartbeat {
                    broker: id,
                    broker_epoch,
                    request,
                },
            );
        }
        if now >= self.broker(id).next_isr_check_ms {
            self.broker(id).next_isr_check_ms = now + self.config.isr_check_interval_ms;
            self.propose_isr_change(id);
            self.report_replica_log(id);
        }
        self.follower_fetch(id);
        self.expire_parked(id);
    }

    /// `cluster/mod.rs::isr_changes` with `Partition::take_isr_change`.
    fn propose_isr_change(&mut self, id: BrokerId) {
        let now = self.now_ms();
        let lag_max_ms = self.config.replica_lag_time_max_ms;
        let mutation = self.config.mutation;
        let b = self.broker(id);
        let broker_epoch = b.broker_epoch;
        if broker_epoch < 0 {
            return;
        }
        let high_watermark = if mutation == Some(Mutation::IsrJoinBeforeHighWatermark) {
            0
        } else {
            b.log.high_watermark()
        };
        let Role::Leader(state) = &mut b.role else {
            return;
        };
        state.drop_stalled_joiners(lag_max_ms, now);
        let Some(wanted) = state.isr_change(id, high_watermark, lag_max_ms, now) else {
            return;
        };
        state.pending_isr = Some((wanted.clone(), now));
        let command = MetadataCommand::AlterPartition {
            broker_id: id,
            broker_epoch,
            topic_id: TOPIC_ID,
            partition: 0,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            new_isr: wanted.clone(),
        };
        let from = state.isr.clone();
        self.note(|| format!("broker {id} proposes ISR {from:?} -> {wanted:?}"));
        self.send(
            Node::Broker(id),
            Node::Controller,
            Message::Propose(command),
        );
    }
}

impl World {
    /// `cluster/recovery.rs::report_replica_logs`: while the partition waits for log reports, a
    /// replica that has not reported reports its own.
    fn report_replica_log(&mut self, id: BrokerId) {
        let b = self.broker(id);
        let broker_epoch = b.broker_epoch;
        let Some(p) = b.image.partition(TOPIC, 0) else {
            return;
        };
        if broker_epoch < 0
            || !p.replicas.contains(&id)
            || !controller::awaits_log_reports(p)
            || p.replica_logs.iter().any(|l| l.broker_id == id && !l.stale)
        {
            return;
        }
        let report = controller::ReplicaLogReport {
            topic_id: TOPIC_ID,
            partition: 0,
            last_epoch: b.log.latest_epoch().unwrap_or(-1),
            log_end_offset: b.log.log_end(),
        };
        self.note(|| format!("broker {id} reports its log {report:?}"));
        let command = MetadataCommand::ReportReplicaLogs {
            broker_id: id,
            broker_epoch,
            logs: vec![report],
        };
        self.send(
            Node::Broker(id),
            Node::Controller,
            Message::Propose(command),
        );
    }
}

/// A role's debug text without the followers' details.
fn short_role(role: &str) -> &str {
    role.split(", followers").next().unwrap_or(role)
}

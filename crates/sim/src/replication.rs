//! A simulated broker's replication handlers: the leader's side of a follower's fetch
//! (`handlers/replica_fetch.rs`), the follower's fetcher (`cluster/fetcher.rs`,
//! `partitions/io.rs::apply_fetched_one`) and produce with acks=all (`handlers/produce.rs`,
//! `Partition::wait_for_high_watermark`), calling the real rules (`broker::replica`,
//! `broker::replication_rules`) where the broker calls them. The node's state, metadata and
//! timers are in `broker.rs`.

use std::convert::Infallible;

use broker::replica::{BrokerId, Role};
use broker::replication_rules::{
    DivergingEpoch, FetchPosition, diverging_epoch, follower_high_watermark, truncation_offset,
};

use crate::broker::{InFlightFetch, ParkedFetch, ParkedProduce, RETRY_PAUSE_MS};
use crate::config::Mutation;
use crate::network::{FetchAnswer, Message, Node, Refusal};
use crate::world::World;

impl World {
    /// `fetcher::run`: one fetch in flight to the leader followed.
    pub(crate) fn follower_fetch(&mut self, id: BrokerId) {
        let now = self.now_ms();
        let timeout = self.config.fetch_wait_max_ms + 300;
        let b = self.broker(id);
        let Role::Follower {
            leader: Some(leader),
            leader_epoch,
        } = b.role
        else {
            return;
        };
        if let Some(fetch) = b.fetch {
            if now - fetch.sent_ms <= timeout {
                return;
            }
            // The call failed: reconnect after a pause.
            b.fetch = None;
            b.next_fetch_ms = now + RETRY_PAUSE_MS;
        }
        if now < b.next_fetch_ms {
            return;
        }
        let position = FetchPosition::of_log(b.log.log_end(), b.log.latest_epoch());
        let broker_epoch = b.broker_epoch;
        let request = self.request_id();
        self.broker(id).fetch = Some(InFlightFetch {
            request,
            leader,
            leader_epoch,
            sent_ms: now,
        });
        self.send(
            Node::Broker(id),
            Node::Broker(leader),
            Message::Fetch {
                follower: id,
                broker_epoch,
                current_leader_epoch: leader_epoch,
                position,
                request,
            },
        );
    }

    /// `Partition::check_leader_epoch`: the leader epoch, or why not.
    pub(crate) fn check_leader_epoch(&self, id: BrokerId, requested: i32) -> Result<i32, Refusal> {
        let Role::Leader(state) = &self.brokers[id as usize].role else {
            return Err(Refusal::NotLeaderOrFollower);
        };
        let current = state.leader_epoch;
        if requested >= 0 && requested < current {
            Err(Refusal::FencedLeaderEpoch)
        } else if requested > current {
            Err(Refusal::UnknownLeaderEpoch)
        } else {
            Ok(current)
        }
    }

    /// `replica_fetch::diverging` (or the mutation that never answers it).
    pub(crate) fn diverging(
        &self,
        id: BrokerId,
        position: FetchPosition,
    ) -> Option<DivergingEpoch> {
        if self.config.mutation == Some(Mutation::StaleFetchAccepted) {
            return None;
        }
        let log = &self.brokers[id as usize].log;
        diverging_epoch(position, log.log_end(), |epoch| {
            Ok::<_, Infallible>(log.end_offset_for_epoch(epoch))
        })
        .unwrap_or_else(|never| match never {})
    }

    /// `replica_fetch::handle`: progress is recorded once, on arrival; then the answer, now or
    /// when records come.
    pub(crate) fn leader_fetch(
        &mut self,
        id: BrokerId,
        follower: BrokerId,
        broker_epoch: i64,
        current_leader_epoch: i32,
        position: FetchPosition,
        request: u64,
    ) {
        let now = self.now_ms();
        if !self.broker(id).caught_up_once {
            return;
        }
        if let Err(refusal) = self.check_leader_epoch(id, current_leader_epoch) {
            self.answer_fetch(id, follower, request, FetchAnswer::Refused(refusal));
            return;
        }
        if self.diverging(id, position).is_none() {
            let b = self.broker(id);
            let log_end = b.log.log_end();
            let high_watermark = b.log.high_watermark();
            let Role::Leader(state) = &mut b.role else {
                unreachable!("checked above");
            };
            let recorded = state.record_follower_fetch(
                follower,
                broker_epoch,
                position.fetch_offset,
                log_end,
                high_watermark,
                now,
            );
            if recorded.is_err() {
                let answer = FetchAnswer::Refused(Refusal::UnknownReplica);
                self.answer_fetch(id, follower, request, answer);
                return;
            }
            self.advance_high_watermark(id);
        }
        let parked = ParkedFetch {
            follower,
            current_leader_epoch,
            position,
            request,
            deadline_ms: now + self.config.fetch_wait_max_ms,
        };
        if let Some(answer) = self.fetch_read(id, &parked, false) {
            self.answer_fetch(id, follower, request, answer);
        } else {
            self.broker(id).parked_fetches.push(parked);
        }
    }

    /// `replica_fetch::read`: `None` while there is nothing to send before the deadline.
    pub(crate) fn fetch_read(
        &self,
        id: BrokerId,
        fetch: &ParkedFetch,
        at_deadline: bool,
    ) -> Option<FetchAnswer> {
        if let Err(refusal) = self.check_leader_epoch(id, fetch.current_leader_epoch) {
            return Some(FetchAnswer::Refused(refusal));
        }
        let log = &self.brokers[id as usize].log;
        let high_watermark = log.high_watermark();
        if let Some(diverging) = self.diverging(id, fetch.position) {
            // An undefined epoch (-1) is no error to the handler's wait.
            return (diverging.epoch >= 0 || at_deadline).then_some(FetchAnswer::Diverging {
                diverging,
                high_watermark,
            });
        }
        if fetch.position.fetch_offset > log.log_end() {
            return Some(FetchAnswer::Refused(Refusal::OffsetOutOfRange));
        }
        let records = log.read(fetch.position.fetch_offset, self.config.fetch_records_max);
        (!records.is_empty() || at_deadline).then_some(FetchAnswer::Records {
            records,
            high_watermark,
        })
    }

    pub(crate) fn answer_fetch(
        &mut self,
        id: BrokerId,
        follower: BrokerId,
        request: u64,
        answer: FetchAnswer,
    ) {
        let message = Message::FetchAnswer {
            leader: id,
            request,
            answer,
        };
        self.send(Node::Broker(id), Node::Broker(follower), message);
    }

    /// `Partition::apply_fetched_one` behind `fetcher::run`'s checks.
    pub(crate) fn follower_apply(
        &mut self,
        id: BrokerId,
        leader: BrokerId,
        request: u64,
        answer: FetchAnswer,
    ) {
        let now = self.now_ms();
        let fsync = self.config.faults.disk.fsync_on_append;
        let b = self.broker(id);
        let Some(fetch) = b
            .fetch
            .filter(|f| f.request == request && f.leader == leader)
        else {
            return;
        };
        b.fetch = None;
        b.next_fetch_ms = now;
        // Leadership may have moved while the fetch was out.
        let follows = matches!(b.role, Role::Follower { leader: Some(l), leader_epoch }
            if l == fetch.leader && leader_epoch == fetch.leader_epoch);
        if !follows {
            return;
        }
        match answer {
            FetchAnswer::Refused(_) => b.next_fetch_ms = now + RETRY_PAUSE_MS,
            FetchAnswer::Diverging { diverging, .. } if diverging.epoch >= 0 => {
                let (_, local_end) = b.log.end_offset_for_epoch(diverging.epoch);
                let target = truncation_offset(diverging, local_end);
                let before = b.log.log_end();
                b.log.truncate_to(target);
                self.note(|| format!("broker {id} truncates {before} -> {target} ({diverging:?})"));
                self.notify(id);
            }
            FetchAnswer::Diverging { high_watermark, .. } => {
                let hw = follower_high_watermark(high_watermark, b.log.log_end());
                b.log.set_high_watermark(hw);
                self.notify(id);
            }
            FetchAnswer::Records {
                records,
                high_watermark,
            } => {
                if let Err(error) = b.log.append_as_follower(&records, fsync) {
                    b.next_fetch_ms = now + RETRY_PAUSE_MS;
                    self.note(|| format!("broker {id} follower append refused: {error:?}"));
                    return;
                }
                let hw = follower_high_watermark(high_watermark, b.log.log_end());
                b.log.set_high_watermark(hw);
                self.notify(id);
            }
        }
    }

    /// `produce::produce_partition` with acks=all, then the wait for the high watermark.
    pub(crate) fn leader_produce(&mut self, id: BrokerId, from: Node, request: u64, value: u64) {
        let now = self.now_ms();
        let lag_max_ms = self.config.replica_lag_time_max_ms;
        let min_isr = self.config.min_insync_replicas;
        let fsync = self.config.faults.disk.fsync_on_append;
        let deadline_ms = now + self.config.produce_timeout_ms;
        let b = self.broker(id);
        if !b.caught_up_once {
            return;
        }
        // `check_serving_leader`, then min.insync.replicas.
        let checked = match &b.role {
            Role::Leader(state)
                if b.contact_lost && state.isr_member_lagging(id, lag_max_ms, now) =>
            {
                Err(Refusal::NotLeaderOrFollower)
            }
            Role::Leader(state) if (state.isr.len() as i32) < min_isr => {
                Err(Refusal::NotEnoughReplicas)
            }
            Role::Leader(state) => Ok(state.leader_epoch),
            Role::Follower { .. } => Err(Refusal::NotLeaderOrFollower),
        };
        let appended = checked.and_then(|epoch| {
            b.log
                .append_as_leader(epoch, value, fsync)
                .map(|offset| (epoch, offset))
                .map_err(|_| Refusal::StaleLeaderEpoch)
        });
        let (epoch, offset) = match appended {
            Ok(appended) => appended,
            Err(refusal) => {
                let answer = Message::ProduceAnswer {
                    request,
                    answer: Err(refusal),
                };
                self.send(Node::Broker(id), from, answer);
                return;
            }
        };
        let incarnation = b.incarnation;
        b.parked_produces.push(ParkedProduce {
            request,
            value,
            offset,
            deadline_ms,
        });
        if let Err(found) = self
            .checker
            .on_leader_append(id, incarnation, epoch, offset)
        {
            self.violation.get_or_insert(found);
        }
        self.note(|| {
            format!("broker {id} appends value {value} at offset {offset} in epoch {epoch}")
        });
        self.advance_high_watermark(id);
        self.notify(id);
    }

    /// The woken tasks run: produce waits (`wait_for_high_watermark`: the high watermark
    /// first, then leadership) and long-polling fetches with records to send.
    pub(crate) fn broker_wake(&mut self, id: BrokerId) {
        let parked = std::mem::take(&mut self.broker(id).parked_produces);
        for produce in parked {
            let b = self.broker(id);
            let answer = if b.log.high_watermark() > produce.offset {
                Ok(produce.offset)
            } else if !matches!(b.role, Role::Leader(_)) {
                Err(Refusal::NotLeaderOrFollower)
            } else {
                b.parked_produces.push(produce);
                continue;
            };
            self.answer_produce(id, &produce, answer);
        }
        let fetches = std::mem::take(&mut self.broker(id).parked_fetches);
        for fetch in fetches {
            match self.fetch_read(id, &fetch, false) {
                Some(answer) => self.answer_fetch(id, fetch.follower, fetch.request, answer),
                None => self.broker(id).parked_fetches.push(fetch),
            }
        }
    }

    pub(crate) fn answer_produce(
        &mut self,
        id: BrokerId,
        produce: &ParkedProduce,
        answer: Result<i64, Refusal>,
    ) {
        if let Ok(offset) = answer {
            self.note(|| {
                format!(
                    "broker {id} acknowledges value {} at offset {offset}",
                    produce.value
                )
            });
            let current = self.current_leadership();
            if let Err(found) = self
                .checker
                .on_ack(offset, produce.value, &self.brokers, current)
            {
                self.violation.get_or_insert(found);
            }
        }
        let message = Message::ProduceAnswer {
            request: produce.request,
            answer,
        };
        self.send(Node::Broker(id), Node::Client, message);
    }

    /// Deadlines: produce waits time out; long polls answer what they have.
    pub(crate) fn expire_parked(&mut self, id: BrokerId) {
        let now = self.now_ms();
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.broker(id).parked_produces)
                .into_iter()
                .partition(|p| p.deadline_ms <= now);
        self.broker(id).parked_produces = kept;
        for produce in expired {
            self.answer_produce(id, &produce, Err(Refusal::RequestTimedOut));
        }
        let (due, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.broker(id).parked_fetches)
            .into_iter()
            .partition(|f| f.deadline_ms <= now);
        self.broker(id).parked_fetches = kept;
        for fetch in due {
            if let Some(answer) = self.fetch_read(id, &fetch, true) {
                self.answer_fetch(id, fetch.follower, fetch.request, answer);
            }
        }
    }
}

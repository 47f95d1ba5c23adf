//! The invariants, checked after every step of a run:
//! 1. Every acknowledged offset holds the acknowledged record in the log of every live replica
//!    whose high watermark is past it (ISR members included), and the current leader (the one
//!    the controller names, once it has taken that leadership and serves) holds every
//!    acknowledged record: after a failover the new leader has it, so it is never lost from the
//!    cluster. Two acknowledgements of one offset must name the same record. (A deposed leader
//!    that has not heard of its successor lacks the successor's records; that is no loss.)
//! 2. Live replicas agree on the records below the smaller of their high watermarks.
//! 3. At most one leader (one broker process) appends as leader in a leader epoch.
//! 4. A leader's high watermark never moves back within its leader epoch.
//!
//! Comparisons are incremental (a replica's log only changes below its end by truncation, which
//! the log reports), so a check costs little per step.

use std::collections::{BTreeMap, BTreeSet};

use broker::replica::{BrokerId, Role};

use crate::broker::BrokerNode;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
    /// For a lost acknowledged record: its offset and value, to say which replicas still hold it.
    lost: Option<(i64, u64)>,
}

fn violation(invariant: &'static str, detail: String) -> Violation {
    Violation {
        invariant,
        detail,
        lost: None,
    }
}

/// Says whether a lost record was still in some replica's log (up or down): an election could
/// have kept it; none means every copy was lost (page-cache crashes of every holder).
fn with_holders(mut v: Violation, brokers: &[BrokerNode]) -> Violation {
    if let Some((offset, value)) = v.lost {
        let holders: Vec<BrokerId> = brokers
            .iter()
            .filter(|b| b.log.record(offset).is_some_and(|r| r.value == value))
            .map(|b| b.id)
            .collect();
        if holders.is_empty() {
            v.detail.push_str("; no replica holds it any more");
        } else {
            v.detail
                .push_str(&format!("; still held by brokers {holders:?}"));
        }
    }
    v
}

/// What the checker remembers between steps.
#[derive(Debug, Default)]
pub struct Checker {
    /// Acknowledged records by offset.
    acked: BTreeMap<i64, u64>,
    /// The broker process (id, incarnation) that appended as leader in each epoch.
    epoch_writers: BTreeMap<i32, (BrokerId, u32)>,
    /// The high watermark last seen per leadership (broker, incarnation, epoch).
    leader_high_watermarks: BTreeMap<(BrokerId, u32, i32), i64>,
    /// Leaderships already checked to hold every acknowledged record.
    complete_leaders: BTreeSet<(BrokerId, u32, i32)>,
    /// Per pair of brokers: offsets below agree (until a truncation).
    pair_agreed: BTreeMap<(BrokerId, BrokerId), i64>,
    /// Per broker: acknowledged offsets below are in its log (until a truncation).
    acked_present: BTreeMap<BrokerId, i64>,
}

impl Checker {
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }

    /// A leader appended in `epoch` (invariant 3).
    pub fn on_leader_append(
        &mut self,
        broker: BrokerId,
        incarnation: u32,
        epoch: i32,
        offset: i64,
    ) -> Result<(), Violation> {
        let writer = *self
            .epoch_writers
            .entry(epoch)
            .or_insert((broker, incarnation));
        if writer != (broker, incarnation) {
            return Err(violation(
                "3: one leader per epoch",
                format!(
                    "broker {broker} (incarnation {incarnation}) appended offset {offset} as \
                     leader of epoch {epoch}, which broker {} (incarnation {}) wrote in",
                    writer.0, writer.1
                ),
            ));
        }
        Ok(())
    }

    /// A leader acknowledged `offset` for `value` (invariant 1, at once).
    pub fn on_ack(
        &mut self,
        offset: i64,
        value: u64,
        brokers: &[BrokerNode],
        current: (Option<BrokerId>, i32),
    ) -> Result<(), Violation> {
        if let Some(&earlier) = self.acked.get(&offset)
            && earlier != value
        {
            return Err(violation(
                "1: acknowledged records kept",
                format!("offset {offset} acknowledged for value {earlier} and for value {value}"),
            ));
        }
        self.acked.insert(offset, value);
        for b in brokers.iter().filter(|b| b.up) {
            if offset < b.log.high_watermark() || b.is_current_leader(current) {
                self.holds(b, offset, value)
                    .map_err(|v| with_holders(v, brokers))?;
            }
        }
        Ok(())
    }

    fn holds(&self, b: &BrokerNode, offset: i64, value: u64) -> Result<(), Violation> {
        let found = b.log.record(offset);
        if found.map(|r| r.value) != Some(value) {
            let why = if matches!(b.role, Role::Leader(_)) {
                "leading"
            } else {
                "a replica whose high watermark passed it"
            };
            let mut lost = violation(
                "1: acknowledged records kept",
                format!(
                    "offset {offset} was acknowledged with value {value}, but broker {} ({why}, \
                     log end {}, high watermark {}) holds {found:?}",
                    b.id,
                    b.log.log_end(),
                    b.log.high_watermark()
                ),
            );
            lost.lost = Some((offset, value));
            return Err(lost);
        }
        Ok(())
    }

    /// Every invariant over the brokers' current state.
    /// `current` is the leader and leader epoch in the controller's image.
    pub fn check(
        &mut self,
        brokers: &mut [BrokerNode],
        current: (Option<BrokerId>, i32),
    ) -> Result<(), Violation> {
        for b in brokers.iter_mut() {
            if let Some(changed) = b.log.take_lowest_change() {
                for ((x, y), agreed) in self.pair_agreed.iter_mut() {
                    if *x == b.id || *y == b.id {
                        *agreed = (*agreed).min(changed);
                    }
                }
                if let Some(present) = self.acked_present.get_mut(&b.id) {
                    *present = (*present).min(changed);
                }
            }
        }
        let live: Vec<&BrokerNode> = brokers.iter().filter(|b| b.up).collect();
        for b in &live {
            self.check_leader(b, current)
                .and_then(|()| self.check_acked_below_hw(b))
                .map_err(|v| with_holders(v, brokers))?;
        }
        for (i, a) in live.iter().enumerate() {
            for b in &live[i + 1..] {
                self.check_prefix(a, b)?;
            }
        }
        Ok(())
    }

    /// Invariants 4 and 1's "a serving leader holds every acknowledged record".
    fn check_leader(
        &mut self,
        b: &BrokerNode,
        current: (Option<BrokerId>, i32),
    ) -> Result<(), Violation> {
        let Role::Leader(state) = &b.role else {
            return Ok(());
        };
        let key = b.leadership_key();
        let hw = b.log.high_watermark();
        let seen = self.leader_high_watermarks.entry(key).or_insert(hw);
        if hw < *seen {
            return Err(violation(
                "4: a leader's high watermark never moves back",
                format!(
                    "broker {} leading epoch {}: high watermark {} after {}",
                    b.id, state.leader_epoch, hw, seen
                ),
            ));
        }
        *seen = hw;
        if b.is_current_leader(current) && !self.complete_leaders.contains(&key) {
            for (&offset, &value) in &self.acked {
                self.holds(b, offset, value)?;
            }
            self.complete_leaders.insert(key);
        }
        Ok(())
    }

    /// Invariant 1 below a replica's high watermark.
    fn check_acked_below_hw(&mut self, b: &BrokerNode) -> Result<(), Violation> {
        let hw = b.log.high_watermark();
        let from = *self.acked_present.get(&b.id).unwrap_or(&0);
        if hw <= from {
            return Ok(());
        }
        for (&offset, &value) in self.acked.range(from..hw) {
            self.holds(b, offset, value)?;
        }
        self.acked_present.insert(b.id, hw);
        Ok(())
    }

    /// Invariant 2 for one pair.
    fn check_prefix(&mut self, a: &BrokerNode, b: &BrokerNode) -> Result<(), Violation> {
        let upto = a.log.high_watermark().min(b.log.high_watermark());
        let agreed = self.pair_agreed.entry((a.id, b.id)).or_insert(0);
        for offset in *agreed..upto {
            let (x, y) = (a.log.record(offset), b.log.record(offset));
            if x != y {
                return Err(violation(
                    "2: replicas agree below their high watermarks",
                    format!(
                        "offset {offset} below both high watermarks ({}: {}, {}: {}): broker {} \
                         holds {x:?}, broker {} holds {y:?}",
                        a.id,
                        a.log.high_watermark(),
                        b.id,
                        b.log.high_watermark(),
                        a.id,
                        b.id
                    ),
                ));
            }
        }
        *agreed = (*agreed).max(upto);
        Ok(())
    }
}

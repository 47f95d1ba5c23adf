//! One share-partition (KIP-932): the state a share group keeps for one topic partition on
//! that partition's leader. A sans-I/O state machine: callers pass `now_ms` and the batches they
//! read; it never reads the log or a clock itself.
//!
//! The window of in-flight records runs from the share-partition start offset (SPSO, every
//! record below it is done) to the end offset (SPEO, the next record never acquired). Each record
//! in the window is in one state:
//!
//! | state | meaning | leaves it by |
//! |---|---|---|
//! | Available | may be delivered (again) | acquisition by a ShareFetch |
//! | Acquired | delivered to one member, locked until its deadline | ACCEPT, RELEASE, REJECT, lock expiry, the member's session closing |
//! | Acknowledged | accepted, never delivered again | the SPSO moving past it |
//! | Archived | rejected, a gap, a control record, or delivered `delivery_count_limit` times | the SPSO moving past it |
//!
//! Every acquisition raises the record's delivery count; a record released (explicitly, by lock
//! expiry or by its holder leaving) when its count has reached the limit is archived instead of
//! made available. The SPSO moves over leading Acknowledged/Archived records, and over records
//! that retention deleted. The window never holds more than `max_record_locks` records
//! (`group.share.partition.max.record.locks`): a full window acquires only records already in it.
//!
//! Acknowledgements are all-or-nothing per request partition: any record not Acquired by the
//! acknowledging member fails the partition with INVALID_RECORD_STATE and changes nothing.

use std::collections::VecDeque;
use std::sync::Arc;

use protocol::ErrorCode;

/// What a record in the window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    Available,
    Acquired,
    Acknowledged,
    Archived,
}

impl RecordState {
    /// Kafka's persisted state byte (`RecordState.id`): 0 available, 2 acknowledged, 4 archived
    /// (acquired records are persisted as available: a lock does not survive a restart).
    pub fn persisted_id(self) -> i8 {
        match self {
            RecordState::Available | RecordState::Acquired => 0,
            RecordState::Acknowledged => 2,
            RecordState::Archived => 4,
        }
    }

    /// The state a persisted byte stands for (anything unknown is available again).
    pub fn from_persisted(id: i8) -> RecordState {
        match id {
            2 => RecordState::Acknowledged,
            4 => RecordState::Archived,
            _ => RecordState::Available,
        }
    }
}

/// The acknowledgement types of ShareFetch / ShareAcknowledge (KIP-932, KIP-1222).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcknowledgeType {
    /// The offset holds no record (a compacted or control offset): archived.
    Gap,
    Accept,
    Release,
    Reject,
    /// KIP-1222: keep the record acquired and restart its lock.
    Renew,
}

impl AcknowledgeType {
    pub fn from_wire(value: i8) -> Option<AcknowledgeType> {
        Some(match value {
            0 => AcknowledgeType::Gap,
            1 => AcknowledgeType::Accept,
            2 => AcknowledgeType::Release,
            3 => AcknowledgeType::Reject,
            4 => AcknowledgeType::Renew,
            _ => return None,
        })
    }
}

/// One acknowledgement batch of a request: offsets `first..=last`, with either one type for
/// all of them or one type per offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcknowledgementBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub types: Vec<AcknowledgeType>,
}

/// The limits a share group sets on its share-partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharePartitionLimits {
    /// `group.share.record.lock.duration.ms`.
    pub lock_duration_ms: i64,
    /// `group.share.delivery.count.limit`.
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks`: the most records in the window.
    pub max_record_locks: usize,
}

impl Default for SharePartitionLimits {
    fn default() -> Self {
        SharePartitionLimits {
            lock_duration_ms: 30_000,
            delivery_count_limit: 5,
            max_record_locks: 2_000,
        }
    }
}

/// A batch as read from the log: its offsets and whether it is a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchBounds {
    pub base_offset: i64,
    pub last_offset: i64,
    pub is_control: bool,
}

/// Records acquired together: `first..=last`, all delivered `delivery_count` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquiredRange {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: i16,
}

#[derive(Debug, Clone)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
    /// The member holding the record while Acquired.
    owner: Option<Arc<str>>,
    lock_deadline_ms: i64,
}

impl InFlight {
    fn done(&self) -> bool {
        matches!(
            self.state,
            RecordState::Acknowledged | RecordState::Archived
        )
    }
}

/// A share group's state for one topic partition.
#[derive(Debug, Clone)]
pub struct SharePartition {
    start_offset: i64,
    /// `window[i]` is offset `start_offset + i`; its length is at most `max_record_locks`.
    window: VecDeque<InFlight>,
    /// The partition's leader epoch when this state was loaded: a different epoch means this
    /// broker lost leadership since, and the state must be read again from the share
    /// coordinator.
    pub leader_epoch: i32,
}

impl SharePartition {
    /// A share-partition whose first record to deliver is `start_offset`.
    pub fn new(start_offset: i64) -> SharePartition {
        SharePartition {
            start_offset,
            window: VecDeque::new(),
            leader_epoch: -1,
        }
    }

    /// A share-partition restored from persisted state: the start offset and the states and
    /// delivery counts of ranges above it (acquired ones come back available).
    pub fn restore(
        start_offset: i64,
        ranges: &[(i64, i64, RecordState, i16)],
        limits: &SharePartitionLimits,
    ) -> SharePartition {
        let mut partition = SharePartition::new(start_offset);
        for &(first, last, state, delivery_count) in ranges {
            let first = first.max(partition.end_offset());
            for _ in first..=last {
                if partition.window.len() >= limits.max_record_locks {
                    break;
                }
                let state = match state {
                    RecordState::Acquired => RecordState::Available,
                    other => other,
                };
                partition.window.push_back(InFlight {
                    state,
                    delivery_count,
                    owner: None,
                    lock_deadline_ms: 0,
                });
            }
        }
        partition.advance_start();
        partition
    }

    /// The share-partition start offset (SPSO).
    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    /// The share-partition end offset (SPEO): the first offset never acquired.
    pub fn end_offset(&self) -> i64 {
        self.start_offset + self.window.len() as i64
    }

    /// Records in the window (between SPSO and SPEO).
    pub fn in_flight(&self) -> usize {
        self.window.len()
    }

    /// Records in the window already acknowledged or archived (Kafka's delivery-complete
    /// count, for lag).
    pub fn done_in_window(&self) -> usize {
        self.window.iter().filter(|r| r.done()).count()
    }

    /// Records currently acquired by some member.
    pub fn acquired(&self) -> usize {
        self.window
            .iter()
            .filter(|r| r.state == RecordState::Acquired)
            .count()
    }

    /// The state and delivery count of `offset`, if it is in the window.
    pub fn record(&self, offset: i64) -> Option<(RecordState, i16)> {
        self.slot(offset)
            .map(|i| (self.window[i].state, self.window[i].delivery_count))
    }

    /// The window as ranges of equal state and delivery count (for persistence and describe).
    pub fn ranges(&self) -> Vec<(i64, i64, RecordState, i16)> {
        let mut out: Vec<(i64, i64, RecordState, i16)> = Vec::new();
        for (i, record) in self.window.iter().enumerate() {
            let offset = self.start_offset + i as i64;
            let state = match record.state {
                RecordState::Acquired => RecordState::Available,
                other => other,
            };
            match out.last_mut() {
                Some(last) if last.2 == state && last.3 == record.delivery_count => last.1 = offset,
                _ => out.push((offset, offset, state, record.delivery_count)),
            }
        }
        out
    }

    /// Where a fetch should start reading: the first Available record in the window, or the
    /// end offset when none is (`None` when the window is full and nothing is Available).
    pub fn next_fetch_offset(&self, limits: &SharePartitionLimits) -> Option<i64> {
        match self
            .window
            .iter()
            .position(|r| r.state == RecordState::Available)
        {
            Some(i) => Some(self.start_offset + i as i64),
            None if self.window.len() < limits.max_record_locks => Some(self.end_offset()),
            None => None,
        }
    }

    /// Acquires for `member` the records of `batches` (read from the log at
    /// `next_fetch_offset`, below the high watermark) that are Available or new, at most
    /// `max_records` of them; with `whole_batches`, the last batch touched is acquired to its end
    /// (Kafka's batch-optimized mode may exceed `max_records` to keep batches whole). Control
    /// batches and offsets missing between batches are archived, never delivered.
    pub fn acquire(
        &mut self,
        member: &Arc<str>,
        batches: &[BatchBounds],
        max_records: usize,
        whole_batches: bool,
        now_ms: i64,
        limits: &SharePartitionLimits,
    ) -> Vec<AcquiredRange> {
        let mut acquired: Vec<AcquiredRange> = Vec::new();
        let mut count = 0usize;
        let deadline = now_ms.saturating_add(limits.lock_duration_ms);
        'batches: for batch in batches {
            if count >= max_records {
                break;
            }
            if batch.last_offset < self.start_offset {
                continue;
            }
            // Offsets the log no longer has between the window's end and this batch.
            if batch.base_offset > self.end_offset() {
                if self.window.is_empty() {
                    self.start_offset = batch.base_offset;
                } else {
                    while self.end_offset() < batch.base_offset {
                        if self.window.len() >= limits.max_record_locks {
                            break 'batches;
                        }
                        self.window.push_back(InFlight {
                            state: RecordState::Archived,
                            delivery_count: 0,
                            owner: None,
                            lock_deadline_ms: 0,
                        });
                    }
                }
            }
            let first = batch.base_offset.max(self.start_offset);
            for offset in first..=batch.last_offset {
                if count >= max_records && !whole_batches {
                    break 'batches;
                }
                let index = match self.slot(offset) {
                    Some(index) => index,
                    None if offset == self.end_offset()
                        && self.window.len() < limits.max_record_locks =>
                    {
                        self.window.push_back(InFlight {
                            state: RecordState::Available,
                            delivery_count: 0,
                            owner: None,
                            lock_deadline_ms: 0,
                        });
                        self.window.len() - 1
                    }
                    None => break 'batches,
                };
                let record = &mut self.window[index];
                if batch.is_control {
                    if record.state == RecordState::Available {
                        record.state = RecordState::Archived;
                    }
                    continue;
                }
                if record.state != RecordState::Available {
                    continue;
                }
                record.state = RecordState::Acquired;
                record.delivery_count = record.delivery_count.saturating_add(1);
                record.owner = Some(Arc::clone(member));
                record.lock_deadline_ms = deadline;
                count += 1;
                match acquired.last_mut() {
                    Some(last)
                        if last.last_offset + 1 == offset
                            && last.delivery_count == record.delivery_count =>
                    {
                        last.last_offset = offset
                    }
                    _ => acquired.push(AcquiredRange {
                        first_offset: offset,
                        last_offset: offset,
                        delivery_count: record.delivery_count,
                    }),
                }
            }
        }
        self.advance_start();
        acquired
    }

    /// Applies `member`'s acknowledgements; all or nothing. Returns INVALID_REQUEST for a
    /// malformed batch or an offset at or past the end offset (never delivered),
    /// INVALID_RECORD_STATE for an offset below the start or not Acquired by `member` (Kafka's
    /// `SharePartition.acknowledge`).
    pub fn acknowledge(
        &mut self,
        member: &str,
        batches: &[AcknowledgementBatch],
        now_ms: i64,
        limits: &SharePartitionLimits,
    ) -> Result<(), ErrorCode> {
        for batch in batches {
            let len = batch.last_offset - batch.first_offset + 1;
            if len <= 0
                || batch.types.is_empty()
                || (batch.types.len() != 1 && batch.types.len() as i64 != len)
                || batch.last_offset >= self.end_offset()
            {
                return Err(ErrorCode::InvalidRequest);
            }
            for offset in batch.first_offset..=batch.last_offset {
                let held = self.slot(offset).is_some_and(|i| {
                    let record = &self.window[i];
                    record.state == RecordState::Acquired && record.owner.as_deref() == Some(member)
                });
                if !held {
                    return Err(ErrorCode::InvalidRecordState);
                }
            }
        }
        for batch in batches {
            for (k, offset) in (batch.first_offset..=batch.last_offset).enumerate() {
                let kind = batch.types[if batch.types.len() == 1 { 0 } else { k }];
                let index = self.slot(offset).expect("validated above");
                let record = &mut self.window[index];
                match kind {
                    AcknowledgeType::Accept => Self::finish(record, RecordState::Acknowledged),
                    AcknowledgeType::Reject | AcknowledgeType::Gap => {
                        Self::finish(record, RecordState::Archived)
                    }
                    AcknowledgeType::Release => Self::release(record, limits),
                    AcknowledgeType::Renew => {
                        record.lock_deadline_ms = now_ms.saturating_add(limits.lock_duration_ms)
                    }
                }
            }
        }
        self.advance_start();
        Ok(())
    }

    /// Releases every record `member` holds (its share session closed or it left the group).
    /// Returns how many were released.
    pub fn release_member(&mut self, member: &str, limits: &SharePartitionLimits) -> usize {
        let mut released = 0;
        for record in self.window.iter_mut() {
            if record.state == RecordState::Acquired && record.owner.as_deref() == Some(member) {
                Self::release(record, limits);
                released += 1;
            }
        }
        self.advance_start();
        released
    }

    /// Releases every record whose lock expired by `now_ms`; returns how many.
    pub fn expire_locks(&mut self, now_ms: i64, limits: &SharePartitionLimits) -> usize {
        let mut released = 0;
        for record in self.window.iter_mut() {
            if record.state == RecordState::Acquired && record.lock_deadline_ms <= now_ms {
                Self::release(record, limits);
                released += 1;
            }
        }
        self.advance_start();
        released
    }

    /// The earliest lock deadline in the window.
    pub fn next_lock_deadline(&self) -> Option<i64> {
        self.window
            .iter()
            .filter(|r| r.state == RecordState::Acquired)
            .map(|r| r.lock_deadline_ms)
            .min()
    }

    /// Retention deleted the log below `log_start_offset`: those records leave the window.
    pub fn truncate_before(&mut self, log_start_offset: i64) {
        while self.start_offset < log_start_offset {
            if self.window.pop_front().is_none() {
                self.start_offset = log_start_offset;
                return;
            }
            self.start_offset += 1;
        }
    }

    fn slot(&self, offset: i64) -> Option<usize> {
        let index = offset.checked_sub(self.start_offset)?;
        (index >= 0 && (index as usize) < self.window.len()).then_some(index as usize)
    }

    fn finish(record: &mut InFlight, state: RecordState) {
        record.state = state;
        record.owner = None;
    }

    fn release(record: &mut InFlight, limits: &SharePartitionLimits) {
        record.owner = None;
        record.state = if record.delivery_count >= limits.delivery_count_limit {
            RecordState::Archived
        } else {
            RecordState::Available
        };
    }

    fn advance_start(&mut self) {
        while self.window.front().is_some_and(InFlight::done) {
            self.window.pop_front();
            self.start_offset += 1;
        }
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;

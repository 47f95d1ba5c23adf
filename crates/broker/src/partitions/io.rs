//! The partition layer's bridge to storage: every read and write of a hosted partition's
//! `storage::Log` goes through these methods, and they decide where blocking work runs, so no
//! handler, fetcher or coordinator has to.
//!
//! Where work runs:
//! - On the caller's task: reads (a read maps a file range for sendfile and looks offsets up in
//!   indexes the page cache holds) and leader appends that only write to the page cache.
//! - On tokio's blocking pool: a leader append that may wait on the disk (a segment roll with
//!   its index writes, producer snapshot and fsyncs; a new leader epoch's checkpoint;
//!   fsync-before-ack or `flush.messages` policies; see `storage::Log::append_may_block`),
//!   every follower append and truncation (one hop per fetch answer, not per partition),
//!   DeleteRecords (its checkpoint fsyncs).
//! - On the upkeep thread: time-based flushes and retention ([`Partition::flush_if_due`],
//!   [`Partition::delete_retained_segments`]).
//! - On a log cleaner thread: compaction ([`Partition::clean`]).
//!
//! Not here: the leader/follower rules (`mod.rs`, `replica.rs`).

use std::sync::Arc;

use bytes::BytesMut;
use protocol::ErrorCode;
use protocol::codec::Records;
use protocol::generated::fetch_response::PartitionData;
use storage::TimestampOffset;
use storage::{EpochEntry, FetchData, LogAppendInfo, RetentionOutcome};

use super::Partition;
use crate::blocking::on_blocking_pool;
use crate::error::BrokerError;
use crate::replication_rules::{DivergingEpoch, truncation_offset};

/// Bytes kept in reserve when deciding whether a page-cache append could roll the segment:
/// concurrent appends to the same partition may fill it between the check and the append.
const ROLL_HEADROOM_BYTES: u64 = 1 << 20;

impl Partition {
    /// Runs `work` on the blocking pool with this partition.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        work: impl FnOnce(&Partition) -> Result<T, BrokerError> + Send + 'static,
    ) -> Result<T, BrokerError> {
        let partition = Arc::clone(self);
        on_blocking_pool(what, move || work(&partition)).await
    }

    /// Appends a produced (validated) batch as leader ([`Partition::append_as_leader`]): on
    /// this task when the write only reaches the page cache, on the blocking pool when it may
    /// wait on the disk.
    pub async fn append_records_as_leader(
        self: &Arc<Self>,
        mut batch: BytesMut,
    ) -> Result<LogAppendInfo, BrokerError> {
        let epoch = self.leader_epoch();
        if !self
            .log
            .append_may_block(batch.len() as u64, epoch, ROLL_HEADROOM_BYTES)
        {
            return self.append_as_leader(&mut batch);
        }
        self.blocking("appending", move |partition| {
            partition.append_as_leader(&mut batch)
        })
        .await
    }

    /// DeleteRecords: moves the log start to `offset` (-1: the high watermark) on the blocking
    /// pool (the checkpoint write fsyncs). Returns the new log start offset.
    pub async fn delete_records(self: &Arc<Self>, offset: i64) -> Result<i64, BrokerError> {
        self.blocking("deleting records", move |partition| {
            let offset = if offset == -1 {
                partition.log.high_watermark()?
            } else {
                offset
            };
            Ok(partition.log.delete_records(offset)?)
        })
        .await
    }

    /// A follower applies its leader's answers for several partitions in one hop to the
    /// blocking pool: truncation, records, the leader's high watermark. Returns each
    /// partition's outcome in order.
    pub async fn apply_fetched(
        answers: Vec<(Arc<Partition>, PartitionData)>,
    ) -> Vec<Result<(), BrokerError>> {
        let count = answers.len();
        let applied = on_blocking_pool("applying a replica fetch", move || {
            Ok(answers
                .into_iter()
                .map(|(partition, data)| partition.apply_fetched_one(data))
                .collect::<Vec<_>>())
        })
        .await;
        applied.unwrap_or_else(|error| {
            let reason = error.to_string();
            (0..count)
                .map(|_| {
                    Err(BrokerError::BlockingTaskFailed {
                        what: "applying a replica fetch",
                        reason: reason.clone(),
                    })
                })
                .collect()
        })
    }

    /// One partition of a follower's fetch answer (blocking). A log that starts after ours
    /// ends is started over at the leader's log start; a `diverging_epoch` truncates to where
    /// that epoch ends on the leader (never to a high watermark); else the records are appended
    /// with the leader's offsets and epochs, and the leader's high watermark and log start
    /// offset are taken.
    fn apply_fetched_one(&self, data: PartitionData) -> Result<(), BrokerError> {
        match ErrorCode::from_code(data.error_code) {
            Some(ErrorCode::None) => {}
            Some(ErrorCode::OffsetOutOfRange) => {
                let log_end = self.log.log_end_offset()?;
                if data.log_start_offset > log_end {
                    self.log
                        .truncate_fully_and_start_at(data.log_start_offset)?;
                    self.notify_appended();
                    return Ok(());
                }
                return Err(BrokerError::InvalidRequest(format!(
                    "offset out of range at {log_end}"
                )));
            }
            other => {
                return Err(BrokerError::InvalidRequest(format!(
                    "leader answered {other:?}"
                )));
            }
        }
        if data.diverging_epoch.epoch >= 0 {
            let diverging = DivergingEpoch {
                epoch: data.diverging_epoch.epoch,
                end_offset: data.diverging_epoch.end_offset,
            };
            let (_, local_end) = self.log.end_offset_for_epoch(diverging.epoch)?;
            let target = truncation_offset(diverging, local_end);
            tracing::info!(
                partition = ?self.topic_partition,
                epoch = data.diverging_epoch.epoch,
                target,
                "truncating a diverging log suffix"
            );
            self.log.truncate_to(target)?;
            self.notify_appended();
            return Ok(());
        }
        if let Some(Records::Bytes(records)) = &data.records
            && !records.is_empty()
        {
            self.append_as_follower(records)?;
        }
        self.set_follower_high_watermark(data.high_watermark)?;
        self.follow_log_start(data.log_start_offset)?;
        self.notify_appended();
        Ok(())
    }

    /// Appends the leader's batches. An empty log that starts inside the first batch (it
    /// started over at a leader's log start that DeleteRecords put mid-batch) starts over at
    /// that batch's base offset instead, as Kafka's follower does on its
    /// `UnexpectedAppendOffsetException`; the leader's log start is taken again right after.
    fn append_as_follower(&self, records: &[u8]) -> Result<(), BrokerError> {
        let log_end = self.log.log_end_offset()?;
        let first = protocol::records::RecordBatches::new(records)
            .next()
            .and_then(Result::ok)
            .map(|batch| (batch.base_offset(), batch.last_offset()));
        if let Some((base, last)) = first
            && base < log_end
            && last >= log_end
            && self.log.log_start_offset()? == log_end
        {
            tracing::info!(
                partition = ?self.topic_partition,
                log_start = log_end,
                batch_base = base,
                "the leader's first batch starts before this empty log: starting it there"
            );
            self.log.truncate_fully_and_start_at(base)?;
        }
        self.log.append_as_follower(records)?;
        Ok(())
    }

    /// As Kafka's follower does with each fetch answer: moves the log start up to the leader's
    /// (DeleteRecords, retention there), at most to this replica's high watermark, durably (the
    /// checkpoint is written), so that what the leader deleted stays deleted when this replica
    /// leads. Nothing is written while the leader's log start is not ahead of ours.
    fn follow_log_start(&self, leader_log_start: i64) -> Result<(), BrokerError> {
        let target = leader_log_start.min(self.log.high_watermark()?);
        if target > self.log.log_start_offset()? {
            self.log.delete_records(target)?;
        }
        Ok(())
    }

    /// Writes a transaction's COMMIT or ABORT marker as leader (WriteTxnMarkers) on the
    /// blocking pool, then advances the high watermark and wakes fetches. Returns the marker's
    /// append info (its offset is `first_offset`).
    pub async fn append_txn_marker(
        self: &Arc<Self>,
        marker: storage::TransactionMarker,
        now_ms: i64,
    ) -> Result<LogAppendInfo, BrokerError> {
        self.blocking("writing a transaction marker", move |partition| {
            partition.append_txn_marker_blocking(&marker, now_ms)
        })
        .await
    }

    /// [`Partition::append_txn_marker`] on the caller's thread (the group coordinator writes
    /// markers to `__consumer_offsets` under its shard's lock, on the blocking pool).
    pub fn append_txn_marker_blocking(
        &self,
        marker: &storage::TransactionMarker,
        now_ms: i64,
    ) -> Result<LogAppendInfo, BrokerError> {
        let epoch = self.check_leader()?;
        let info = self.log.append_control_as_leader(marker, epoch, now_ms)?;
        self.advance_high_watermark()?;
        self.notify_appended();
        Ok(info)
    }

    /// A read_committed consumer's read from `offset`: below the last stable offset, with the
    /// aborted transactions of the range (`storage::Log::read_committed`).
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: u64,
        min_one_batch: bool,
    ) -> Result<FetchData, BrokerError> {
        Ok(self.log.read_committed(offset, max_bytes, min_one_batch)?)
    }

    /// The last stable offset (ListOffsets LATEST under read_committed).
    pub fn last_stable_offset(&self) -> Result<i64, BrokerError> {
        Ok(self.log.last_stable_offset()?)
    }

    /// Whether `producer_id` at `producer_epoch` has an open transaction on this partition (its
    /// batches need no verification with the coordinator).
    pub fn in_transaction(
        &self,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<bool, BrokerError> {
        Ok(self.log.has_open_transaction(producer_id, producer_epoch)?)
    }

    /// Every producer this partition tracks (DescribeProducers).
    pub fn producer_states(&self) -> Result<Vec<(i64, storage::ProducerState)>, BrokerError> {
        Ok(self.log.producer_states()?)
    }

    /// Reads whole batches from `offset` below `max_offset` (`storage::Log::read`).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<FetchData, BrokerError> {
        Ok(self
            .log
            .read(offset, max_bytes, max_offset, min_one_batch)?)
    }

    pub fn high_watermark(&self) -> Result<i64, BrokerError> {
        Ok(self.log.high_watermark()?)
    }

    pub fn log_start_offset(&self) -> Result<i64, BrokerError> {
        Ok(self.log.log_start_offset()?)
    }

    pub fn log_end_offset(&self) -> Result<i64, BrokerError> {
        Ok(self.log.log_end_offset()?)
    }

    /// The newest leader epoch in the log, if any.
    pub fn latest_epoch(&self) -> Result<Option<i32>, BrokerError> {
        Ok(self.log.latest_epoch()?)
    }

    pub fn leader_epochs(&self) -> Result<Vec<EpochEntry>, BrokerError> {
        Ok(self.log.leader_epochs()?)
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and where it ends.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64), BrokerError> {
        Ok(self.log.end_offset_for_epoch(epoch)?)
    }

    pub fn size_bytes(&self) -> Result<u64, BrokerError> {
        Ok(self.log.size_bytes()?)
    }

    /// ListOffsets by timestamp (the time index).
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, BrokerError> {
        Ok(self.log.offset_for_timestamp(timestamp)?)
    }

    /// ListOffsets -3 (KIP-734).
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, BrokerError> {
        Ok(self.log.max_timestamp_offset()?)
    }

    /// Tests only: the raw log, to make states no client request can (a batch appended on a
    /// single node without raising the high watermark). Production code never calls it
    /// (crates/broker/tests/tidy.rs checks).
    #[doc(hidden)]
    pub fn storage_for_tests(&self) -> &storage::Log {
        &self.log
    }

    /// Blocking: closes the log cleanly (flush, checkpoints, clean-shutdown marker); reads and
    /// writes fail afterwards. The last step of a shutdown.
    pub fn close(&self) -> Result<(), BrokerError> {
        Ok(self.log.close()?)
    }

    /// Blocking, for the upkeep thread: flushes when `flush.ms` has passed.
    pub fn flush_if_due(&self) -> Result<bool, BrokerError> {
        Ok(self.log.flush_if_due()?)
    }

    /// Blocking, for the log cleaner: how dirty a compacted log is (`None`: nothing to clean).
    pub fn cleanable_summary(&self) -> Result<Option<storage::CleanableSummary>, BrokerError> {
        Ok(self.log.cleanable_summary()?)
    }

    /// Blocking, for a log cleaner thread: one cleaning of this partition's log.
    pub fn clean(
        &self,
        options: &storage::CleanerOptions,
    ) -> Result<Option<storage::CleaningOutcome>, BrokerError> {
        Ok(self.log.clean(options)?)
    }

    /// Blocking, for the upkeep thread: deletes segments past retention.
    pub fn delete_retained_segments(&self) -> Result<RetentionOutcome, BrokerError> {
        Ok(self.log.delete_retained_segments()?)
    }
}
